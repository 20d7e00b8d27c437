"""The retrieval service (FastAPI) over saved indexes."""
