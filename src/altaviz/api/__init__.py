"""The JSON API under /api: one thin router per resource, error handlers and HTTP middleware."""
