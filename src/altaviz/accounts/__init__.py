"""Organizations, users, roles, sessions, API keys, team and audit."""
