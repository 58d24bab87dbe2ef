"""Atomic, durable landing files: `<data dir>/landing/<org-slug>/readings|refused/<name>.parquet`.

A file is written as `.staging-<name>.tmp` in its final directory, fsynced, renamed into place and the
directory fsynced, so once `write_durably` returns the file survives a crash or a power cut whole, and
a reader (the pipeline takes only `*.parquet` not starting with '.') never sees half a file. Writing
the same name again replaces the file atomically (an idempotent retry taking over a claim).
"""

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

STAGING_PREFIX = ".staging-"
READINGS = "readings"
REFUSED = "refused"


def organization_landing(landing_dir: Path, slug: str) -> Path:
    if not slug or "/" in slug or slug.startswith("."):
        raise ValueError(f"{slug!r} is not an organization slug")
    return landing_dir / slug


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_directory(path: Path) -> None:
    """Create `path` and make each directory entry it needed durable."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        _fsync_directory(created.parent)


def _repeating_columns(table: pa.Table) -> list[str]:
    """The columns worth dictionary-encoding: ids, times and text repeat within a batch; measured
    floats seldom do, and trying them cost 40% of the write (100,000 readings: 60 -> 36 ms of CPU)
    for a larger file (3.5 -> 2.5 MB)."""
    return [field.name for field in table.schema if not pa.types.is_floating(field.type)]


def write_durably(table: pa.Table, directory: Path, name: str) -> Path:
    """Write `table` as `directory/name` (Parquet, zstd) atomically and durably; returns the path."""
    if not name.endswith(".parquet") or name.startswith(".") or "/" in name:
        raise ValueError(f"{name!r} is not a landing file name")
    _ensure_directory(directory)
    target = directory / name
    staging = directory / f"{STAGING_PREFIX}{name}.tmp"
    try:
        with open(staging, "wb") as handle:
            pq.write_table(table, handle, compression="zstd", use_dictionary=_repeating_columns(table))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return target
