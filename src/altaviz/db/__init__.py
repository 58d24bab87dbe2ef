"""Operational database: declarative base, column types, engine/session, migrations."""
