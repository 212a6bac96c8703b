"""The platform's release: one version for all of it, written here once.

The services are released together (one repository, one image, one event contract), so every
service's OpenAPI `info.version`, its AsyncAPI document and the console answer this one
version; the root `pyproject.toml` repeats it for the tools that read it there, and
CHANGELOG.md's newest entry names it (tests/test_release.py checks all three). The workspace
members' own package versions are not releases: they are never published apart.

How to cut a release: README.md, "Releases".
"""

RELEASE = "0.14.0"
