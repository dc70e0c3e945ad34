"""The daemon's web side: the HTTP server (FastAPI on uvicorn) and the console for the PR team."""
