"""The lake on disk: append-only bronze files and versioned silver/gold/reference tables.

Layout under <data_dir>/lake:
  bronze/readings/<content-hash>.parquet      one file per landing file ever ingested (append-only)
  <layer>/<table>/v-<version>/[day=<date>/]*.parquet  files written by a run, by day where partitioned
  manifest.json                               which files make up each table now, and what was processed

A table is a list of files, which may come from several runs: an incremental run rewrites only the
files that hold rows from where it recomputes and keeps the others. A run writes its files beside the
current ones and then replaces manifest.json in one atomic rename, so a crash at any point leaves the
previous state readable, and every table of a run becomes current together. Files no table names
any more are removed afterwards.
"""

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
STAGING_PREFIX = ".staging-"
# Each run's working files (DuckDB spill, intermediate steps) under <lake>/.scratch/<run-id>/.
SCRATCH = ".scratch"
LAYERS = ("silver", "gold", "reference")


class LakeError(RuntimeError):
    """The lake is missing something a stage needs, or is held by another run."""


@dataclass
class Manifest:
    # table -> its files, relative to the lake root
    tables: dict[str, list[str]] = field(default_factory=dict)
    # identifies the input of the last silver run (keys the data-quality rows of that batch)
    fingerprint: str | None = None
    # bronze files silver has processed, and what they were processed with (reference data, parameters)
    processed_bronze: list[str] = field(default_factory=list)
    processed_with: str | None = None
    # The operational database lacks hourly rows from this time on ("all": everything), until a load.
    db_pending_since: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": self.tables,
            "fingerprint": self.fingerprint,
            "processed_bronze": self.processed_bronze,
            "processed_with": self.processed_with,
            "db_pending_since": self.db_pending_since,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Manifest":
        return cls(
            tables={k: list(v) for k, v in data.get("tables", {}).items()},
            fingerprint=data.get("fingerprint"),
            processed_bronze=list(data.get("processed_bronze", [])),
            processed_with=data.get("processed_with"),
            db_pending_since=data.get("db_pending_since"),
        )


@dataclass
class StagedTable:
    """A table's next version: files written by this run (under `directory`) plus files kept from before."""

    directory: Path
    kept: list[Path] = field(default_factory=list)

    def files(self) -> list[Path]:
        return sorted(self.kept) + sorted(self.directory.rglob("*.parquet"))


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bronze_readings_dir = root / "bronze" / "readings"

    def bronze_files(self) -> list[Path]:
        if not self.bronze_readings_dir.exists():
            return []
        return sorted(self.bronze_readings_dir.glob("*.parquet"))

    def read_manifest(self) -> Manifest:
        path = self.root / MANIFEST
        if not path.exists():
            return Manifest()
        return Manifest.from_json(json.loads(path.read_text()))

    def write_manifest(self, manifest: Manifest) -> None:
        _write_atomic(self.root / MANIFEST, json.dumps(manifest.to_json(), indent=2, sort_keys=True))

    def table_files(self, table: str, manifest: Manifest | None = None) -> list[Path]:
        """The Parquet files of the current version of `table` (e.g. "silver/readings")."""
        manifest = manifest or self.read_manifest()
        files = manifest.tables.get(table)
        if files is None:
            prefix = table.split("/")[0]
            layer = "bronze" if prefix == "reference" else prefix
            raise LakeError(
                f"the lake has no {table} table yet: run the pipeline without --skip-{layer} first"
            )
        paths = [self.root / f for f in files]
        missing = [p for p in paths if not p.exists()]
        if missing or not paths:
            raise LakeError(
                f"the lake's {table} table is damaged: {len(missing)} of {len(paths)} files are missing"
                if missing
                else f"the lake's {table} table has no data files"
            )
        return paths

    def has_table(self, table: str, manifest: Manifest | None = None) -> bool:
        manifest = manifest or self.read_manifest()
        return table in manifest.tables

    def stage(self, table: str, version: str) -> StagedTable:
        """A fresh directory for a new version of `table`; it becomes visible only at commit."""
        path = self.root / table / f"{STAGING_PREFIX}{version}"
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return StagedTable(path)

    def commit(self, staged: dict[str, StagedTable], manifest: Manifest) -> Manifest:
        """Make the staged versions current, all together, then drop files nobody points at.

        `manifest` carries the run's other fields (fingerprint, processed bronze); its tables are
        updated here.
        """
        for table, staged_table in staged.items():
            final = staged_table.directory.with_name(staged_table.directory.name.removeprefix(STAGING_PREFIX))
            if final.exists():
                # Versions are named by run or by content: an existing one may be current, keep it.
                shutil.rmtree(staged_table.directory)
            else:
                staged_table.directory.rename(final)
            written = sorted(final.rglob("*.parquet"))
            files = sorted(staged_table.kept) + written
            manifest.tables[table] = [p.relative_to(self.root).as_posix() for p in files]
        self.write_manifest(manifest)
        self.collect_garbage(manifest)
        return manifest

    def collect_garbage(self, manifest: Manifest | None = None) -> None:
        """Remove staging leftovers of crashed runs and files the manifest no longer names."""
        manifest = manifest or self.read_manifest()
        current = {os.path.join(self.root, f) for files in manifest.tables.values() for f in files}
        for layer in LAYERS:
            layer_dir = os.path.join(self.root, layer)
            # bottom-up, so a directory emptied here is seen empty when its turn comes
            for directory, _, names in os.walk(layer_dir, topdown=False):
                for name in names:
                    path = os.path.join(directory, name)
                    if path not in current:
                        os.unlink(path)
                if directory != layer_dir and not os.listdir(directory):
                    os.rmdir(directory)
        if self.bronze_readings_dir.exists():
            for leftover in self.bronze_readings_dir.glob(f"{STAGING_PREFIX}*"):
                leftover.unlink(missing_ok=True)

    def clear_scratch(self) -> None:
        """Remove the scratch directories of earlier runs (a killed run leaves its own behind).

        Only the run holding the lake (exclusive) may call this: no other run is using scratch then.
        """
        scratch = self.root / SCRATCH
        if scratch.exists():
            for leftover in scratch.iterdir():
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lake for one run; a second concurrent run fails at once instead of interleaving."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LakeError(f"another pipeline run is using the lake at {self.root}") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{STAGING_PREFIX}{path.name}")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
