"""What the pages make of early-warning data (issue 19 item 5): the health index in words, the
Predicted panel's lines, the forecast cone's geometry and the shared time axis."""

from datetime import UTC, datetime, timedelta

import pytest

from altaviz.health.schemas import PredictedCompressor, Prediction
from altaviz.web import views

HOUR = datetime(2026, 12, 6, 8, tzinfo=UTC)


def _prediction(level: str, threshold: float, hours: float, low: float, high: float | None) -> Prediction:
    return Prediction(
        metric="vibration_mms",
        label="Vibration",
        unit="mm/s",
        level=level,
        threshold_value=threshold,
        hours=hours,
        hours_low=low,
        hours_high=high,
        projected_at=HOUR + timedelta(hours=hours),
        computed_at=HOUR,
    )


@pytest.mark.parametrize(
    ("index", "status", "text", "colour"),
    [
        (92.4, "judged", "92 — good", "healthy"),
        (80.0, "judged", "80 — good", "healthy"),
        (79.6, "judged", "80 — good", "healthy"),  # the band of the number shown
        (79.4, "judged", "79 — degrading", "warning"),
        (50.0, "judged", "50 — degrading", "warning"),
        (12.0, "judged", "12 — poor", "critical"),
        (None, "warmup", "learning", "unknown"),
        (None, "stopped", "stopped", "unknown"),
        (None, None, "not computed yet", "unknown"),
    ],
)
def test_the_health_index_in_words(index: float | None, status: str | None, text: str, colour: str) -> None:
    words = views.health_words(index, status)
    assert (words["text"], words["class"]) == (text, colour)
    assert words["title"]


def test_predicted_lines_one_per_compressor_and_metric_soonest_first() -> None:
    def item(compressor: str, metric: str, level: str, hours: float) -> PredictedCompressor:
        base = _prediction(level, 8.0, hours, hours - 1, hours + 1).model_dump()
        return PredictedCompressor(
            **{**base, "metric": metric}, compressor_id=compressor, station_id="S", station_name="S"
        )

    items = [
        item("C-2", "vibration_mms", "warning", 3),
        item("C-1", "discharge_temp_f", "critical", 5),
        item("C-2", "vibration_mms", "critical", 9),
    ]
    lines = views.predicted_lines(items)
    assert [(line["compressor_id"], [p.level for p in line["levels"]]) for line in lines] == [
        ("C-2", ["warning", "critical"]),
        ("C-1", ["critical"]),
    ]


def test_the_cone_runs_from_the_newest_value_to_the_threshold_between_fastest_and_slowest() -> None:
    chart = {"metric": "vibration_mms", "points": [["t0", 3.0, 3.5], ["t1", 4.0, 4.4], ["t2", None, None]]}
    warning = _prediction("warning", 6.0, 9.0, 6.0, 14.0)
    critical = _prediction("critical", 8.0, 31.0, 22.0, 45.0)
    projection = views._projection(chart, [warning, critical])
    assert projection is not None
    assert projection["from"] == [HOUR.isoformat(), 4.0]  # the newest value, at the data hour projected from
    assert projection["to"] == [(HOUR + timedelta(hours=31)).isoformat(), 8.0]  # the worst level
    assert [level["level"] for level in projection["levels"]] == ["warning", "critical"]
    cone = {at: (low, high) for at, low, high in projection["cone"]}
    assert cone[HOUR.isoformat()] == (4.0, 4.0)  # no width now
    assert cone[(HOUR + timedelta(hours=22)).isoformat()][1] == 8.0  # the fastest crossing
    assert cone[(HOUR + timedelta(hours=45)).isoformat()] == (8.0, 8.0)  # the slowest: closed
    assert all(low <= high for low, high in cone.values())
    assert projection["until"] == HOUR + timedelta(hours=45)
    assert views._projection({**chart, "metric": "discharge_temp_f"}, [critical]) is None  # another metric


def test_an_open_range_and_a_falling_metric() -> None:
    chart = {"metric": "vibration_mms", "points": [["t0", 20.0]]}
    falling = _prediction("warning", 10.0, 10.0, 5.0, None)  # no upper bound: drawn to twice the hours
    projection = views._projection(chart, [falling])
    assert projection is not None and projection["until"] == HOUR + timedelta(hours=20)
    assert all(10.0 <= low <= high <= 20.0 for _at, low, high in projection["cone"])


def test_every_chart_shares_an_axis_that_never_ends_before_now() -> None:
    end = HOUR + timedelta(minutes=30)
    assert views._axis_end(end, 24, [None, None]) == end
    ahead = {"until": end + timedelta(hours=45)}
    assert views._axis_end(end, 24, [None, ahead]) == end + timedelta(hours=45)
    assert views._axis_end(end, 4, [ahead]) == end + timedelta(hours=8)  # at most twice the range
    stale = {"until": end - timedelta(hours=3)}  # projected from old data: its cone lies in the past
    assert views._axis_end(end, 24, [stale]) == end


@pytest.mark.parametrize(
    ("column", "value", "running", "status"),
    [
        ("gas_flow", 40.0, True, "warning"),  # a running unit with no flow: its low-flow limit
        ("gas_flow", 40.0, False, "stopped"),  # a stopped unit reads its meter's zero: not judged
        ("suction_pressure", 2.0, False, "stopped"),
        ("gas_flow", None, False, "unknown"),
        ("discharge_temp", 265.0, False, "critical"),  # a limit a stop never crosses stays judged
        ("vibration", 0.1, False, "healthy"),
    ],
)
def test_a_stopped_units_gauges_do_not_read_its_stop_as_a_fault(
    column: str, value: float | None, running: bool, status: str
) -> None:
    gauge = next(g for g in views.GAUGES if g.column == column)
    assert gauge.status(value, running=running) == status
