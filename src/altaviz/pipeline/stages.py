"""The transform steps of each layer, in order, and where their outputs go."""

import hashlib
from pathlib import Path

from altaviz.config import Settings
from altaviz.pipeline.engine import TransformEngine
from altaviz.pipeline.lake import Lake, Manifest
from altaviz.pipeline.params import params_row, threshold_rows

# step name -> lake table it becomes (None: a scratch intermediate no one reads after the run)
SILVER_STEPS: tuple[tuple[str, str | None], ...] = (
    ("silver_classified", None),
    ("silver_readings", "silver/readings"),
    ("quarantine", "silver/quarantine"),
    ("quality", "silver/quality"),
)
GOLD_STEPS: tuple[tuple[str, str | None], ...] = (
    ("gold_readings", "gold/readings"),
    ("gold_hourly", "gold/hourly"),
    ("metric_series", None),
    ("violations", "gold/violations"),
    ("alert_events", None),
    ("alerts", "gold/alerts"),
)


class Tables:
    """Resolves a lake table to the files a step should read: this run's staged version, else the current."""

    def __init__(self, lake: Lake, manifest: Manifest) -> None:
        self.lake = lake
        self.manifest = manifest
        self.staged: dict[str, Path] = {}

    def files(self, table: str) -> list[Path]:
        if table in self.staged:
            return sorted(self.staged[table].glob("*.parquet"))
        return self.lake.table_files(table, self.manifest)


def bind_parameters(engine: TransformEngine, settings: Settings) -> None:
    engine.bind_rows("params", [params_row(settings)])
    engine.bind_rows("thresholds", threshold_rows())


def run_steps(
    engine: TransformEngine,
    steps: tuple[tuple[str, str | None], ...],
    tables: Tables,
    lake: Lake,
    version: str,
) -> None:
    for step, table in steps:
        if table is None:
            engine.run(step, engine.scratch(step))
        else:
            tables.staged[table] = lake.stage(table, version)
            engine.run(step, tables.staged[table])


def input_fingerprint(bronze_files: list[Path], tables: Tables) -> str:
    """Identifies the input of a silver run: the bronze files (content-named) and the fleet metadata."""
    h = hashlib.sha256()
    for path in bronze_files:
        h.update(path.name.encode())
    for path in tables.files("reference/compressors"):
        h.update(path.parent.name.encode())
    return h.hexdigest()
