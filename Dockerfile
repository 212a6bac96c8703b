# One image for the five services; docker-compose.yml picks the service with
# `command: ["python", "-m", "<service>"]` (or set SERVICE=<service> with `docker run`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# Third-party dependencies first: this layer is rebuilt only when a pyproject or the lock changes.
# Every workspace member's pyproject.toml is needed here (tests/test_compose.py checks the list).
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/registration/pyproject.toml services/registration/
COPY services/followup/pyproject.toml services/followup/
COPY services/complaints/pyproject.toml services/complaints/
COPY services/notifications/pyproject.toml services/notifications/
COPY services/metrics/pyproject.toml services/metrics/
COPY services/console/pyproject.toml services/console/
COPY tools/devstack/pyproject.toml tools/devstack/
COPY tools/simulator/pyproject.toml tools/simulator/
RUN uv sync --frozen --no-dev --no-install-workspace

# The workspace itself, installed editable: the services find their migrations/ beside the package.
COPY shared shared
COPY services services
COPY tools tools
RUN uv sync --frozen --no-dev

# pg_dump / pg_restore for the backup service (docker-compose.yml; Debian's 15, the server's)
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*

# group 10001 too: Kannel's access log is readable by that group (deploy/kannel/entrypoint.sh)
RUN groupadd --system --gid 10001 hospital \
    && useradd --system --no-create-home --uid 10001 --gid 10001 hospital
USER hospital

ENV SERVICE=""
CMD ["sh", "-c", "exec python -m \"${SERVICE:?set SERVICE or give the command python -m <service>}\""]
