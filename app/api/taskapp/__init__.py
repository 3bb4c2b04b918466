"""Task List API: a small FastAPI service that keeps tasks in PostgreSQL."""
