"""Invitation tokens in URLs never reach Uvicorn's access log."""

import logging

from fastapi import FastAPI

from altaviz.accounts.redaction import AccessLogRedaction, redact_url


def test_tokens_are_redacted_from_access_log_lines(app: FastAPI) -> None:
    assert any(isinstance(f, AccessLogRedaction) for f in logging.getLogger("uvicorn.access").filters)
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/invitations/accept?token=s3cr3t-Token_x&lang=en", "1.1", 200),
        None,
    )
    assert AccessLogRedaction().filter(record)
    line = record.getMessage()
    assert "s3cr3t" not in line and "/invitations/accept?token=[redacted]&lang=en" in line
    assert redact_url("/api/fleet?station=STATION-A") == "/api/fleet?station=STATION-A"
