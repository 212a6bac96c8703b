"""`python -m complaints`: run the complaints service."""

from complaints.app import create_app
from complaints.settings import Settings
from hospital_shared.runtime import serve

if __name__ == "__main__":
    settings = Settings()
    serve(create_app(settings), settings)
