"""The REST API over the synthesis library (FastAPI): see docs/API.md and `create_app`."""
