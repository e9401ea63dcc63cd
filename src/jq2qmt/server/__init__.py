"""HTTP API (FastAPI): app factory in `app.py`, endpoints in `routes/`, auth in `auth.py`."""
