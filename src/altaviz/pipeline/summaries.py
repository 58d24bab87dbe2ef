"""Summaries kept across runs: a small lake table over many lake files, reused while they are current.

A lake file never changes once written, so a summary of some files stays right for as long as those
files are all still current. Each summary is one Parquet file whose footer names the files it covers
(COVERS, relative to the lake). A run reads the kept summary for the files it covers and only the
other files, and stages a new summary over them all when it had to read any (gold/pair_history,
gold/open_events, gold/violation_totals).
"""

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from altaviz.pipeline.engine import sql_text
from altaviz.pipeline.lake import STAGING_PREFIX

COVERS = "covers"


def kept_summary(root: Path, files: list[Path], settled: list[Path]) -> tuple[set[Path], Path | None]:
    """A summary table kept across runs (its one file, of `files`) and the files its footer says it
    covers (COVERS), when they are all among `settled`; else nothing."""
    if len(files) != 1:
        return set(), None
    try:
        names = json.loads(pq.read_metadata(files[0]).metadata[COVERS.encode()])
        covered = {root / name for name in names}
    except (OSError, ValueError, KeyError, TypeError):
        return set(), None
    if not covered <= set(settled):
        return set(), None
    return covered, files[0]


def summary_parts(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    kept: list[Path],
    files: list[Path],
    summarize: Callable[[list[Path]], str],
    combine: Callable[[list[str]], str],
    stage: Callable[[], Path] | None,
) -> list[str]:
    """SQL parts whose `combine` summarizes `files`: the `kept` summary for the files it covers and
    `summarize` over the others. When any file was not covered and `stage` gives a directory, the
    summary of them all is written there (its footer naming `files`) and read instead."""
    covered, summary = kept_summary(root, kept, files)
    fresh = [f for f in files if f not in covered]
    parts = [f"SELECT * FROM read_parquet({sql_text(str(summary))})"] if summary else []
    if fresh:
        parts.append(summarize(fresh))
        if stage is not None:
            written = stage() / "part-0.parquet"
            names = json.dumps(sorted(committed_name(f, root) for f in files))
            con.execute(
                f"COPY ({combine(parts)}) TO {sql_text(str(written))} "
                f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{COVERS}: {sql_text(names)}}})"
            )
            parts = [f"SELECT * FROM read_parquet({sql_text(str(written))})"]
    return parts


def committed_name(path: Path, root: Path) -> str:
    """A lake file's name relative to the lake once its version is committed (a staged version's
    directory loses its prefix then, Lake.commit)."""
    parts = path.relative_to(root).parts
    return "/".join(p.removeprefix(STAGING_PREFIX) for p in parts)
