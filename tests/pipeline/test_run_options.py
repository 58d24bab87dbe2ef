"""Stage flags, the lake lock and unreachable databases: each fails with a sentence that says what to do."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from altaviz.pipeline.database import DatabaseUnavailable
from altaviz.pipeline.lake import Lake, LakeError
from altaviz.pipeline.run import PipelineError
from tests.pipeline.helpers import copy_landing, lake_rows, run, settings_for


def test_skip_flags_reuse_what_the_lake_holds(default_landing: Path, tmp_path: Path) -> None:
    data_dir = copy_landing(default_landing, tmp_path)
    settings = settings_for(data_dir)
    first = run(settings, skip_db=True).summary
    hourly = lake_rows(data_dir, "gold/hourly", order="compressor_id, agg_timestamp")
    for flags in (
        {"skip_bronze": True},
        {"skip_bronze": True, "skip_silver": True},
        {"skip_bronze": True, "skip_silver": True, "skip_gold": True},
    ):
        again = run(settings, skip_db=True, **flags).summary
        assert (again.bronze_rows, again.silver_rows, again.hourly_rows) == (
            first.bronze_rows,
            first.silver_rows,
            first.hourly_rows,
        )
        assert again.alerts == first.alerts
    again_hourly = lake_rows(data_dir, "gold/hourly", order="compressor_id, agg_timestamp")
    assert len(again_hourly) == len(hourly)
    for new, old in zip(again_hourly, hourly, strict=True):
        # Parallel aggregation may add floats in another order: equal to the last few bits.
        assert new == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in old.items()}
    assert len(Lake(data_dir / "lake").bronze_files()) == 7  # landing files are stored once


def test_skipping_a_layer_that_does_not_exist_says_which_flag_to_drop(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="run the pipeline without --skip-bronze first"):
        run(settings_for(tmp_path), skip_bronze=True, skip_db=True)


def test_a_second_concurrent_run_is_refused(default_landing: Path, tmp_path: Path) -> None:
    data_dir = copy_landing(default_landing, tmp_path)
    with Lake(data_dir / "lake").exclusive(), pytest.raises(LakeError, match="another pipeline run"):
        run(settings_for(data_dir), skip_db=True)


def test_unreachable_database_is_named_without_its_password(default_landing: Path, tmp_path: Path) -> None:
    data_dir = copy_landing(default_landing, tmp_path)
    url = "postgresql+psycopg://altaviz:hunter2@127.0.0.1:1/altaviz"
    with pytest.raises(DatabaseUnavailable) as raised:
        run(settings_for(data_dir, url))
    assert "127.0.0.1:1/altaviz" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_a_run_loads_only_what_it_uses(default_landing: Path, tmp_path: Path) -> None:
    """`altaviz pipeline run` on SQLite, as a whole process, imports no pandas (pyarrow's conversions of
    Python values load it wherever it is installed), no Alembic (a new database gets the head schema
    from db/sqlite_schema.sql), no psycopg (PostgreSQL only) and no PyJWT (cookies only): together
    about a second of CPU at the seed size; piped, no Rich status spinner (nothing would show), table
    (none printed) or emoji table (codes are not replaced); nor the other command groups' modules
    (alerts, billing, connectors: cli.LAZY_GROUPS). At exit its objects are frozen out of the
    garbage collector, so Python's finalization does not walk them all (0.3 CPU s with the database)."""
    data_dir = copy_landing(default_landing, tmp_path)
    script = (
        "import atexit, gc, sys\n"
        # registered before the CLI's own exit handlers, so it runs after them
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "from altaviz.cli import app\n"
        "try:\n"
        "    app(['pipeline', 'run'], prog_name='altaviz')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'alembic', 'psycopg', 'jwt'}))\n"
        "print(sorted(set(sys.modules) & {'rich.status', 'rich.live', 'rich.table', 'rich._emoji_codes'}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('altaviz.') and m.endswith('.cli')))\n"
    )
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-4:] == ["[]", "[]", "['altaviz.cli']", "frozen at exit: True"]
    assert (data_dir / "altaviz.db").is_file()


# Run as `python -m altaviz ARGS`, with a garbage-collector callback that notes, at each collection,
# whether it came while the CLI's and the run's modules were loading, and at exit whether the collector
# is on.
COLLECTIONS = (
    "import atexit, gc, runpy, sys\n"
    "early = []\n"
    "gc.callbacks.append(lambda phase, info: phase == 'start' and early.append(\n"
    "    'altaviz.cli' in sys.modules and 'altaviz.pipeline.database' not in sys.modules))\n"
    "atexit.register(lambda: print('collections:', len(early), 'before loaded:', sum(early),\n"
    "    'enabled at exit:', gc.isenabled()))\n"
    "sys.argv = ['altaviz', *sys.argv[1:]]\n"
    "runpy.run_module('altaviz', run_name='__main__', alter_sys=True)\n"
)


def _collections(args: list[str], data_dir: Path) -> tuple[int, int, bool]:
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", COLLECTIONS, *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    _, total, _, _, early, _, _, _, enabled = done.stdout.strip().splitlines()[-1].split()
    return int(total), int(early), enabled == "True"


def test_the_collector_waits_for_the_run_s_modules(default_landing: Path, tmp_path: Path) -> None:
    """`altaviz pipeline run` loads its modules (the CLI's, the run's, the database's: about 200,000
    objects) with the garbage collector off, then freezes them out of its collections and turns it on:
    loaded with it on, about 250 young and 2 full collections walked them, with nothing to free."""
    data_dir = copy_landing(default_landing, tmp_path)
    total, early, enabled = _collections(["pipeline", "run"], data_dir)
    assert early == 0
    assert total > 0 and enabled  # the run itself is collected as before
    assert (data_dir / "altaviz.db").is_file()


@pytest.mark.parametrize("args", [["pipeline", "sql", "gold_hourly"], ["check-config"]])
def test_every_other_command_runs_with_the_collector_on(tmp_path: Path, args: list[str]) -> None:
    """Every command but `pipeline run` turns the collector on before its work (a watcher or the web
    service runs for days)."""
    code = (
        "import gc, runpy, sys\n"
        "import altaviz.cli as cli\n"
        "seen = []\n"
        "cli.out.print = lambda *a, **k: seen.append(gc.isenabled())\n"
        "sys.argv = ['altaviz', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('altaviz', run_name='__main__', alter_sys=True)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(seen and all(seen))\n"
    )
    env = {**os.environ, "ALTAVIZ_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    assert done.stdout.strip().splitlines()[-1] == "True", done.stderr
