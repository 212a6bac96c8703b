"""AsyncAPI documents of the services, from their runtimes: `docs/asyncapi/<service>.json`.

    uv run python -m hospital_shared.asyncapi_export registration followup complaints ...

Each service is imported by name (never at module level: shared does not depend on services);
its `create_app()` builds the `ServiceRuntime` whose FastStream broker knows every subscriber.
The settings' variables are hidden while it does, so the documents do not depend on the shell.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from hospital_shared.config_docs import clean_environment, settings_class


def asyncapi_document(service: str) -> str:
    """The AsyncAPI document of `service`, pretty-printed JSON with sorted keys (FastStream keeps
    subscribers in a WeakSet, so their order changes from one run to the next)."""
    create_app = importlib.import_module(f"{service}.app").create_app
    with clean_environment(settings_class(service)):
        # Built only to read its document, never served: as on a development stack, so that
        # it needs no AUTH_TOKENS (any other ENV is production, which does).
        os.environ["ENV"] = "development"
        try:
            app = create_app()
        finally:
            del os.environ["ENV"]
    spec = app.state.runtime.asyncapi.to_specification().to_json()
    return json.dumps(json.loads(spec), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def export_asyncapi(services: Sequence[str], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for service in services:
        path = folder / f"{service}.json"
        path.write_text(asyncapi_document(service), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write each service's AsyncAPI document")
    parser.add_argument("services", nargs="+", help="service packages, e.g. registration followup")
    parser.add_argument("--output", type=Path, default=Path("docs/asyncapi"))
    args = parser.parse_args(argv)
    for path in export_asyncapi(args.services, args.output):
        print(path)


if __name__ == "__main__":
    main()
