"""`python -m console`: run the staff console."""

from console.app import create_app
from console.settings import Settings
from hospital_shared.runtime import serve

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings)
