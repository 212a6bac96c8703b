# The services every fuzz module tries (started once for the package: conftest.py).
SERVICES = ["registration", "followup", "complaints", "notifications", "metrics"]
