"""The compressor id rule, the same wherever an id enters (API, import, landing files, ingest).

An id is 1–64 characters of ASCII letters, digits and ``-_.:/``, unique within its organization.
The database columns that hold one are 64 characters wide, so SQLite and PostgreSQL accept exactly
the same ids; checking at the door means no load ever fails half-way on an id the database refuses.
"""

import re

COMPRESSOR_ID_MAX_LENGTH = 64
COMPRESSOR_ID_CHARACTERS = "letters, digits and -_.:/"
# The same pattern in Python (re.fullmatch) and DuckDB (regexp_full_match): a portable character class.
COMPRESSOR_ID_PATTERN = r"[A-Za-z0-9_.:/-]{1,64}"
COMPRESSOR_ID_RULE = f"1–{COMPRESSOR_ID_MAX_LENGTH} characters of {COMPRESSOR_ID_CHARACTERS}"

_ID = re.compile(COMPRESSOR_ID_PATTERN)


def compressor_id_problem(value: object) -> str | None:
    """Why `value` is not a valid compressor id, or None when it is."""
    if not isinstance(value, str):
        return "compressor_id must be text"
    if not value:
        return "compressor_id is empty"
    if len(value) > COMPRESSOR_ID_MAX_LENGTH:
        return f"compressor_id is {len(value)} characters long; the limit is {COMPRESSOR_ID_MAX_LENGTH}"
    if _ID.fullmatch(value) is None:
        return f"compressor_id {value!r} has characters outside {COMPRESSOR_ID_CHARACTERS}"
    return None
