"""The lake on disk: append-only bronze files and versioned silver/gold/reference tables.

Layout under <data_dir>/lake:
  bronze/readings/<content-hash>.parquet   one file per landing file ever ingested (append-only)
  <layer>/<table>/v-<version>/part-*.parquet  versions of every other table
  manifest.json                              which version of each table is current

A run writes new versions beside the current ones and then replaces manifest.json in one atomic
rename, so a crash at any point leaves the previous state readable, and every table of a run
becomes current together. Unreferenced versions are removed afterwards.
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


class LakeError(RuntimeError):
    """The lake is missing something a stage needs, or is held by another run."""


@dataclass
class Manifest:
    tables: dict[str, str] = field(default_factory=dict)
    fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"tables": self.tables, "fingerprint": self.fingerprint}


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
        data = json.loads(path.read_text())
        return Manifest(tables=dict(data.get("tables", {})), fingerprint=data.get("fingerprint"))

    def table_files(self, table: str, manifest: Manifest | None = None) -> list[Path]:
        """The Parquet files of the current version of `table` (e.g. "silver/readings")."""
        manifest = manifest or self.read_manifest()
        version = manifest.tables.get(table)
        if version is None:
            prefix = table.split("/")[0]
            layer = "bronze" if prefix == "reference" else prefix
            raise LakeError(
                f"the lake has no {table} table yet: run the pipeline without --skip-{layer} first"
            )
        files = sorted((self.root / version).glob("*.parquet"))
        if not files:
            raise LakeError(f"the lake's {table} table ({version}) has no data files")
        return files

    def has_table(self, table: str, manifest: Manifest | None = None) -> bool:
        manifest = manifest or self.read_manifest()
        return table in manifest.tables

    def stage(self, table: str, version: str) -> Path:
        """A fresh directory for a new version of `table`; it becomes visible only at commit."""
        path = self.root / table / f"{STAGING_PREFIX}{version}"
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def commit(self, staged: dict[str, Path], fingerprint: str | None) -> Manifest:
        """Make the staged versions current, all together, then drop versions nobody points at."""
        manifest = self.read_manifest()
        for table, staged_path in staged.items():
            final = staged_path.with_name(staged_path.name.removeprefix(STAGING_PREFIX))
            if final.exists():
                # Versions are named by run or by content: an existing one may be current, keep it.
                shutil.rmtree(staged_path)
            else:
                staged_path.rename(final)
            manifest.tables[table] = final.relative_to(self.root).as_posix()
        if fingerprint is not None:
            manifest.fingerprint = fingerprint
        _write_atomic(self.root / MANIFEST, json.dumps(manifest.to_json(), indent=2, sort_keys=True))
        self.collect_garbage(manifest)
        return manifest

    def collect_garbage(self, manifest: Manifest | None = None) -> None:
        """Remove staging leftovers of crashed runs and versions the manifest no longer names."""
        manifest = manifest or self.read_manifest()
        current = {self.root / v for v in manifest.tables.values()}
        for layer in ("silver", "gold", "reference"):
            layer_dir = self.root / layer
            if not layer_dir.exists():
                continue
            for version_dir in layer_dir.glob("*/*"):
                if version_dir.is_dir() and version_dir not in current:
                    shutil.rmtree(version_dir, ignore_errors=True)
        if self.bronze_readings_dir.exists():
            for leftover in self.bronze_readings_dir.glob(f"{STAGING_PREFIX}*"):
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
