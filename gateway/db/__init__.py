"""Database schema, engines and migrations."""
