"""The service's database: typed ORM models (``models``) and the session helpers (``session``).

The schema is owned by the Alembic migrations in ``migrations/``; ``upgrade_database(url)``
brings any database to the latest version (``create_all`` is for nothing but tests).
"""
