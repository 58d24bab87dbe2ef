"""Keep single-use secrets that travel in URLs (invitation tokens) out of the access log."""

import logging
import re

SECRET_QUERY = re.compile(r"((?:^|[?&])(?:token|session_token|key)=)[^&\s]*", re.IGNORECASE)


def redact_url(text: str) -> str:
    return SECRET_QUERY.sub(r"\1[redacted]", text)


class AccessLogRedaction(logging.Filter):
    """For Uvicorn's access logger: its record carries the path with the query string in `args`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_url(record.msg)
        return True


def install_access_log_redaction() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogRedaction) for f in logger.filters):
        logger.addFilter(AccessLogRedaction())
