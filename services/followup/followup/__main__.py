"""`python -m followup`: run the followup service."""

from followup.app import create_app
from followup.settings import Settings
from hospital_shared.runtime import serve

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings)
