"""`python -m complaints`: run the complaints service."""

from hospital_shared.runtime import serve

from complaints.app import create_app
from complaints.settings import Settings

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings)
