"""The lake on disk: append-only bronze files and versioned silver/gold/reference tables.

Layout under <data_dir>/lake:
  bronze/readings/<organization>/<content-hash>.parquet  one file per landing file ever ingested
                                              (append-only), in its organization's directory
  <layer>/<table>/v-<version>/[day=<date>/]*.parquet  files written by a run, by day where partitioned
  manifest.json                               which files make up each table now, and per
                                              organization what was processed

Every row of every table carries its `organization` (the slug): the organization is the leading key
of every table, as the compressor is within it, and every transform partitions and joins by it. The
tables' files are shared by the organizations (by day, not by organization): a thousand tenants of
five compressors each cost what one tenant of five thousand does, where a directory per tenant would
write a thousand times the files. A run processes a set of organizations (a pass); what it writes
for them replaces their rows only, and every other organization's rows stay as they were
(`Manifest.organizations` keeps each one's incremental state apart).

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
from collections.abc import Callable, Iterator
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
class OrganizationState:
    """One organization's place in the lake: what of its bronze was processed, and with what."""

    # the bronze files silver has processed, and what they were processed with (parameters, plan,
    # fleet): a change recomputes the organization
    processed_bronze: list[str] = field(default_factory=list)
    processed_with: str | None = None
    # identifies the input of the organization's last silver run (keys its data-quality rows)
    fingerprint: str | None = None
    # The operational database lacks the organization's hourly rows from this time on ("all":
    # everything), until a load.
    db_pending_since: str | None = None
    # ... and its recent readings from this time on (the recomputed zone's start; None: as above)
    db_readings_pending_since: str | None = None
    # the alarm limits each compressor was computed with: compressor -> digest of its overrides
    # ("*": the defaults); a compressor whose digest changes has its gold recomputed
    thresholds: dict[str, str] = field(default_factory=dict)
    # reference table -> digest of the organization's landing fleet file it was loaded from
    fleet: dict[str, str] = field(default_factory=dict)
    # first and last good reading (ISO): the span the hourly expected-reading counts are taken over
    first_reading: str | None = None
    last_reading: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "processed_bronze": self.processed_bronze,
            "processed_with": self.processed_with,
            "fingerprint": self.fingerprint,
            "db_pending_since": self.db_pending_since,
            "db_readings_pending_since": self.db_readings_pending_since,
            "thresholds": self.thresholds,
            "fleet": self.fleet,
            "first_reading": self.first_reading,
            "last_reading": self.last_reading,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OrganizationState":
        return cls(
            processed_bronze=list(data.get("processed_bronze", [])),
            processed_with=data.get("processed_with"),
            fingerprint=data.get("fingerprint"),
            db_pending_since=data.get("db_pending_since"),
            db_readings_pending_since=data.get("db_readings_pending_since"),
            thresholds=dict(data.get("thresholds", {})),
            fleet=dict(data.get("fleet", {})),
            first_reading=data.get("first_reading"),
            last_reading=data.get("last_reading"),
        )


LAYOUT = 2  # 1: one organization, no organization column (before issue 16)


@dataclass
class Manifest:
    # table -> its files, relative to the lake root
    tables: dict[str, list[str]] = field(default_factory=dict)
    organizations: dict[str, OrganizationState] = field(default_factory=dict)
    layout: int = LAYOUT

    def organization(self, slug: str) -> OrganizationState:
        """The organization's state, created empty for one the lake has not seen."""
        return self.organizations.setdefault(slug, OrganizationState())

    def to_json(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "tables": self.tables,
            "organizations": {slug: state.to_json() for slug, state in sorted(self.organizations.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Manifest":
        return cls(
            tables={k: list(v) for k, v in data.get("tables", {}).items()},
            organizations={
                slug: OrganizationState.from_json(state)
                for slug, state in data.get("organizations", {}).items()
            },
            layout=int(data.get("layout", 1)),
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

    def bronze_dir(self, organization: str) -> Path:
        return self.bronze_readings_dir / organization

    def bronze_files(self, organization: str | None = None) -> list[Path]:
        """The bronze readings files of one organization, or of all."""
        if not self.bronze_readings_dir.exists():
            return []
        pattern = "*/*.parquet" if organization is None else f"{organization}/*.parquet"
        return sorted(p for p in self.bronze_readings_dir.glob(pattern) if not p.name.startswith("."))

    def bronze_organizations(self) -> list[str]:
        if not self.bronze_readings_dir.exists():
            return []
        return sorted(p.name for p in self.bronze_readings_dir.iterdir() if p.is_dir())

    def upgrade(self, organization: str, add_column: Callable[[Path, Path], None]) -> bool:
        """Bring a lake of the single-organization layout (before issue 16) to this one: its bronze
        files become `organization`'s (`add_column(old, new)` writes a file with the organization
        column), and its other tables are dropped, so the next run recomputes them from bronze.
        Returns whether there was anything to upgrade."""
        manifest = self.read_manifest()
        legacy = (
            sorted(self.bronze_readings_dir.glob("*.parquet")) if self.bronze_readings_dir.exists() else []
        )
        if manifest.layout >= LAYOUT and not legacy:
            return False
        target = self.bronze_dir(organization)
        target.mkdir(parents=True, exist_ok=True)
        for old in legacy:
            new = target / old.name
            staging = new.with_name(f"{STAGING_PREFIX}{new.name}")
            add_column(old, staging)
            os.replace(staging, new)
            old.unlink()
        self.write_manifest(Manifest())
        self.collect_garbage()
        return True

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
            for leftover in self.bronze_readings_dir.glob(f"*/{STAGING_PREFIX}*"):
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
