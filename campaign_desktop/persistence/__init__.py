"""SQLite persistence: SQLAlchemy models, the engine and Alembic migrations."""
