"""`python -m metrics`: run the metrics service."""

from hospital_shared.runtime import serve
from metrics.app import create_app
from metrics.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings)
