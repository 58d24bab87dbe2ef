"""Metrics (Prometheus), structured logs (JSON with request ids) and optional tracing (OpenTelemetry)."""
