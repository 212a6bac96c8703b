"""`python -m registration`: run the registration service."""

from hospital_shared.runtime import serve
from registration.app import create_app
from registration.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings)
