"""`python -m notifications`: run the notifications service."""

from hospital_shared.runtime import serve
from notifications.app import create_app
from notifications.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings)
