"""A run killed mid-way leaves lake/.scratch/<run-id>/ behind; the next run removes it (issue 18 item 13)."""

from pathlib import Path

from tests.pipeline.helpers import copy_landing, run, settings_for


def test_a_killed_runs_scratch_is_cleared_by_the_next_run(default_landing: Path, tmp_path: Path) -> None:
    data_dir = copy_landing(default_landing, tmp_path)
    killed = data_dir / "lake" / ".scratch" / "0123456789abcdef0123456789abcdef"
    (killed / "duckdb" / "spill").mkdir(parents=True)
    (killed / "duckdb" / "spill" / "duckdb_temp_block-1.block").write_bytes(b"\0" * 1024)
    run(settings_for(data_dir), skip_db=True)
    assert not killed.exists()
    assert list((data_dir / "lake" / ".scratch").iterdir()) == []
