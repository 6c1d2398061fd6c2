"""quantities_by() and ``meterkit quantities --group-by``: grouped series.

Bucket starts over the DST change are worked out by hand (Paris leaves summer time
on 2025-10-26 at 03:00 CEST: that day lasts 25 hours), not by the code under test.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit import (
    GroupQuantities,
    InvalidTypeError,
    MeterkitError,
    MeterQuantities,
    MeterQuantity,
    ValidationError,
    from_dict,
    quantities,
    quantities_by,
    to_dict,
    to_json,
)
from meterkit.cli import main

from .test_timeseries import meter, reset, use

UTC = timezone.utc
PARIS = "Europe/Paris"
DAY1 = datetime(2025, 1, 1, tzinfo=UTC)
DAY2 = datetime(2025, 1, 2, tzinfo=UTC)


def by_model(
    events: list[dict[str, Any]], func: str = "sum", **options: Any
) -> list[tuple[object, list[Decimal], Decimal]]:
    """(value, bucket quantities, total) of each group, daily from DAY1 to DAY2."""
    arguments: dict[str, Any] = {
        "group_by": "model",
        "start": DAY1,
        "end": DAY2,
        "interval": "day",
        **options,
    }
    groups = quantities_by(meter(func), events, **arguments)
    return [
        (g.value, [q.quantity for q in g.quantities.quantities], g.quantities.total)
        for g in groups
    ]


def used(at: datetime | str, value: object, model: object = ..., **extra: Any) -> Any:
    event = use(at, value, **extra)
    if model is not ...:
        event["metadata"]["model"] = model
    return event


# -- Example tables ----------------------------------------------------------------


def test_groups_split_by_json_type_and_value_in_order_of_first_event() -> None:
    events = [
        used("2025-01-02T10:00:00Z", 1, "large"),
        used("2025-01-01T10:00:00Z", 2, "small"),
        used("2025-01-01T11:00:00Z", 4, 1),
        used("2025-01-02T11:00:00Z", 8, 1.0),  # the same JSON value as 1
        used("2025-01-02T12:00:00Z", 16, "1"),  # a string: another group
        used("2025-01-02T13:00:00Z", 32, True),  # a bool: never the number 1
        used("2025-01-01T13:00:00Z", 64),  # no model
        used("2025-01-01T14:00:00Z", 128, None),  # null: with the events without
        used("2025-01-02T14:00:00Z", 256, {"b": [1], "a": "x"}),
        used("2025-01-02T15:00:00Z", 512, {"a": "x", "b": [1.0]}),  # the same object
    ]
    assert by_model(events) == [
        ("large", [0, 1], 1),
        ("small", [2, 0], 2),
        (1, [4, 8], 12),  # the value as first seen
        ("1", [0, 16], 16),
        (True, [0, 32], 32),
        (None, [64 + 128, 0], 192),
        ({"b": [1], "a": "x"}, [0, 256 + 512], 768),
    ]


def test_only_counted_events_in_a_bucket_make_a_group() -> None:
    events = [
        used("2024-12-31T23:59:59Z", 1, "before"),  # before the first bucket
        used("2025-01-03T00:00:00Z", 1, "after"),  # after the last
        {**used("2025-01-01T10:00:00Z", 1, "filtered"), "name": "other"},
        used("2025-01-01T10:00:00Z", 1, "kept", external_id="x"),
        used("2025-01-01T11:00:00Z", 5, "duplicate", external_id="x"),
        used("2025-01-01T12:00:00Z", 7, "other customer", customer="globex"),
        used("2025-01-01T13:00:00Z", "not a number", "unmatched"),
        reset("2025-01-01T14:00:00Z"),  # quantities ignore resets
    ]
    assert by_model(events, external_customer_id="acme") == [("kept", [1, 0], 1)]
    assert by_model(events) == [("kept", [1, 0], 1), ("other customer", [7, 0], 7)]


def test_no_counted_event_gives_no_group() -> None:
    assert by_model([]) == []
    assert by_model([used("2025-01-05T00:00:00Z", 1, "late")]) == []


def test_grouped_series_over_a_dst_change() -> None:
    # Paris: 2025-10-26 lasts 25 hours (CEST 02:00 -> 03:00 twice... clocks go back
    # at 03:00 CEST to 02:00 CET). Day buckets start at local midnight: Oct 25 at
    # 22:00 UTC (+02:00), Oct 26 at 22:00 UTC (+02:00), Oct 27 at 23:00 UTC (+01:00).
    events = [
        used("2025-10-25T21:59:59Z", 1, "a"),  # Oct 25, 23:59:59 CEST
        used("2025-10-25T22:00:00Z", 2, "a"),  # Oct 26, 00:00 CEST
        used("2025-10-26T00:30:00Z", 4, "b"),  # 02:30 CEST, first pass
        used("2025-10-26T01:30:00Z", 8, "b"),  # 02:30 CET, second pass
        used("2025-10-26T22:59:59Z", 16, "a"),  # Oct 26, 23:59:59 CET
        used("2025-10-26T23:00:00Z", 32, "b"),  # Oct 27, 00:00 CET
    ]
    groups = quantities_by(
        meter("sum"),
        events,
        group_by="model",
        start=datetime(2025, 10, 25, 12, tzinfo=UTC),
        end=datetime(2025, 10, 27, 12, tzinfo=UTC),
        interval="day",
        timezone=PARIS,
    )
    starts = [
        datetime(2025, 10, 24, 22, tzinfo=UTC),
        datetime(2025, 10, 25, 22, tzinfo=UTC),
        datetime(2025, 10, 26, 23, tzinfo=UTC),
    ]
    expected = [
        GroupQuantities(
            value="a",
            quantities=MeterQuantities(
                quantities=[
                    MeterQuantity(timestamp=at, quantity=q)
                    for at, q in zip(starts, (1, 2 + 16, 0), strict=True)
                ],
                total=19,
            ),
        ),
        GroupQuantities(
            value="b",
            quantities=MeterQuantities(
                quantities=[
                    MeterQuantity(timestamp=at, quantity=q)
                    for at, q in zip(starts, (0, 4 + 8, 32), strict=True)
                ],
                total=44,
            ),
        ),
    ]
    assert groups == tuple(expected)
    assert starts[2] - starts[1] == timedelta(hours=25)


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        ("count", [("a", [2, 1], 3), ("b", [1, 0], 1)]),
        ("sum", [("a", [3, 7], 10), ("b", [5, 0], 5)]),
        ("max", [("a", [2, 7], 7), ("b", [5, 0], 5)]),
        ("min", [("a", [1, 7], 1), ("b", [5, 0], 5)]),
        (
            "avg",
            [
                (
                    "a",
                    [Decimal("1.5"), 7],
                    Decimal("3.333333333333333333333333333333333"),
                ),
                ("b", [5, 0], 5),
            ],
        ),
        ("unique", [("a", [2, 1], 3), ("b", [1, 0], 1)]),
        ("latest", [("a", [2, 7], 7), ("b", [5, 0], 5)]),
    ],
)
def test_every_aggregation_per_group(func: str, expected: list[Any]) -> None:
    events = [
        used("2025-01-01T12:00:00Z", 2, "a"),
        used("2025-01-01T11:00:00Z", 1, "a"),  # earlier in time: not latest
        used("2025-01-01T10:00:00Z", 5, "b"),
        used("2025-01-02T10:00:00Z", 7, "a"),
    ]
    assert by_model(events, func) == expected


def test_group_by_reads_any_property_path() -> None:
    events = [
        {**used("2025-01-01T10:00:00Z", 1), "metadata": {"value": 1, "_llm": {"m": 9}}},
        used("2025-01-01T11:00:00Z", 2),
    ]
    groups = quantities_by(
        meter("sum"),
        events,
        group_by="metadata._llm.m",
        start=DAY1,
        end=DAY1,
        interval="day",
    )
    assert [(g.value, g.quantities.total) for g in groups] == [(9, 1), (None, 2)]
    for path, values in [("name", ["api"]), ("source", ["user"])]:
        groups = quantities_by(
            meter("sum"), events, group_by=path, start=DAY1, end=DAY1, interval="day"
        )
        assert [g.value for g in groups] == values
    groups = quantities_by(
        meter("sum"),
        events,
        group_by="timestamp",
        start=DAY1,
        end=DAY1,
        interval="day",
    )
    assert [g.value for g in groups] == [1735725600, 1735729200]  # epoch seconds


# -- Properties --------------------------------------------------------------------

MODELS = st.sampled_from(["a", "b", 1, 1.0, "1", True, None, ..., {"k": [1]}])


@st.composite
def logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    events = []
    for _ in range(draw(st.integers(0, 30))):
        at = DAY1 + timedelta(hours=draw(st.integers(-30, 80)))
        value = draw(st.integers(0, 50) | st.decimals(0, 50, places=2))
        extra = {}
        if draw(st.booleans()):
            extra["external_id"] = draw(st.sampled_from("xyz"))
        customer = draw(st.sampled_from(["acme", "globex"]))
        events.append(used(at, value, draw(MODELS), customer=customer, **extra))
    return events


@given(
    events=logs(),
    func=st.sampled_from(["count", "sum", "max", "min", "avg", "unique", "latest"]),
    interval=st.sampled_from(["hour", "day", "week"]),
    scope=st.sampled_from([{}, {"external_customer_id": "acme"}]),
)
def test_each_group_is_the_series_of_its_own_events(
    events: list[dict[str, Any]], func: str, interval: str, scope: dict[str, str]
) -> None:
    """The oracle: `quantities` over the events whose value is the group's (dedup
    decided over the whole log first, as quantities_by does)."""
    window = {"start": DAY1, "end": DAY1 + timedelta(days=2), "interval": interval}
    groups = quantities_by(meter(func), events, group_by="model", **window, **scope)
    whole = quantities(meter(func), events, **window, **scope)
    assert len({json.dumps(to_dict(g)["value"], sort_keys=True) for g in groups}) == (
        len(groups)
    )
    # Dedup: only the first event of each external_id (in scope) may count.
    seen: set[str] = set()
    firsts = []
    for event in events:
        if scope and event["external_customer_id"] != scope["external_customer_id"]:
            continue
        if "external_id" in event:
            if event["external_id"] in seen:
                continue
            seen.add(event["external_id"])
        firsts.append(event)
    for group in groups:
        mine = [
            e for e in firsts if same_value(e["metadata"].get("model"), group.value)
        ]
        assert group.quantities == quantities(meter(func), mine, **window, **scope)
        assert group.quantities.total > 0 or func != "count"
    if func in ("count", "sum"):
        assert sum(g.quantities.total for g in groups) == whole.total
        for index, bucket in enumerate(whole.quantities):
            assert bucket.quantity == sum(
                g.quantities.quantities[index].quantity for g in groups
            )


def same_value(value: object, group: object) -> bool:
    """The group test, written out: JSON type and value, null with missing."""
    if value is None or group is None:
        return value is None and group is None
    return json.dumps(value, sort_keys=True) == json.dumps(group, sort_keys=True) or (
        type(value) in (int, float) and type(group) in (int, float) and value == group
    )


# -- Values and shapes --------------------------------------------------------------


def test_group_quantities_round_trips_in_both_styles() -> None:
    (group,) = quantities_by(
        meter("sum"),
        [used("2025-01-01T10:00:00Z", 3, {"m": [1, "x"]})],
        group_by="model",
        start=DAY1,
        end=DAY1,
        interval="day",
    )
    wire = to_dict(group)
    assert wire == {
        "value": {"m": [1, "x"]},
        "quantities": {
            "quantities": [{"timestamp": "2025-01-01T00:00:00Z", "quantity": 3}],
            "total": 3,
        },
    }
    for style in ("wire", "camel"):
        assert from_dict(GroupQuantities, to_dict(group, style=style), style=style) == (
            group
        )
    with pytest.raises(TypeError):
        group.value["m"] = 2  # frozen like Event.metadata


@pytest.mark.parametrize(
    ("value", "error", "path"),
    [
        (float("nan"), ValidationError, "value"),
        ({1: "x"}, InvalidTypeError, "value"),
        ({"a": {1, 2}}, InvalidTypeError, "value.a"),
    ],
)
def test_a_group_value_must_be_json(value: object, error: type, path: str) -> None:
    series = MeterQuantities(quantities=[], total=0)
    with pytest.raises(error) as caught:
        GroupQuantities(value=value, quantities=series)
    assert caught.value.path == path


def test_group_quantities_needs_a_series() -> None:
    with pytest.raises(InvalidTypeError, match="quantities: must be a MeterQuantities"):
        GroupQuantities(value="a", quantities={"quantities": [], "total": 0})


# -- Bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_by", "error"),
    [
        (None, InvalidTypeError),
        (1, InvalidTypeError),
        (["model"], InvalidTypeError),
        ("", ValidationError),
        ("a..b", ValidationError),
        (".model", ValidationError),
        ("model.", ValidationError),
        ("metadata.", ValidationError),
    ],
)
def test_group_by_must_be_a_property_path(group_by: object, error: type) -> None:
    with pytest.raises(error) as caught:
        quantities_by(
            meter(),
            [],
            group_by=group_by,  # type: ignore[arg-type]
            start=DAY1,
            end=DAY2,
            interval="day",
        )
    assert caught.value.path == "group_by"
    assert repr(group_by) in str(caught.value)


def test_a_group_value_that_is_no_json_value_names_the_event() -> None:
    events = [used("2025-01-01T10:00:00Z", 1, "a"), used(DAY1, 1, float("inf"))]
    with pytest.raises(ValidationError) as caught:
        quantities_by(
            meter(), events, group_by="model", start=DAY1, end=DAY2, interval="day"
        )
    assert caught.value.path == "events[1].metadata.model"


def test_arguments_are_checked_like_quantities() -> None:
    for options, path in [
        ({"interval": "fortnight"}, "interval"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"end": datetime(2024, 1, 1, tzinfo=UTC)}, "end"),
        ({"max_buckets": 1}, "max_buckets"),
    ]:
        arguments: dict[str, Any] = {
            "group_by": "model",
            "start": DAY1,
            "end": DAY2,
            "interval": "day",
            **options,
        }
        with pytest.raises(MeterkitError) as caught:
            quantities_by(meter(), [], **arguments)
        assert caught.value.path == path


# -- The command line --------------------------------------------------------------


def cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, events: list[Any], *extra: str
) -> tuple[int, str, str]:
    meter_file = tmp_path / "meter.json"
    meter_file.write_text(to_json(meter("sum")))
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
    argv = ["quantities", "--meter", str(meter_file), "--events", str(events_file)]
    argv += ["--start", "2025-01-01", "--end", "2025-01-02", "--interval", "day"]
    try:
        code = main([*argv, "--quiet", *extra])
    except SystemExit as exit:  # argparse's usage errors
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


EVENTS = [
    used("2025-01-01T10:00:00Z", 2, "small"),
    used("2025-01-02T10:00:00Z", 30, "large"),
    used("2025-01-02T11:00:00Z", 5, "small"),
    used("2025-01-02T12:00:00Z", 1),
    used("2025-01-02T13:00:00Z", 1, "\u00e9\x1b[31m"),
    used("2025-01-02T14:00:00Z", 1, "\ud800"),  # a lone surrogate, escaped
]


def test_cli_group_by_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = cli(capsys, tmp_path, EVENTS, "--group-by", "model")
    assert (code, err) == (0, "")
    assert out == (
        "group                          timestamp  quantity\n"
        '"small"        2025-01-01T00:00:00+00:00         2\n'
        '"small"        2025-01-02T00:00:00+00:00         5\n'
        '"small"                            total         7\n'
        '"large"        2025-01-01T00:00:00+00:00         0\n'
        '"large"        2025-01-02T00:00:00+00:00        30\n'
        '"large"                            total        30\n'
        "null           2025-01-01T00:00:00+00:00         0\n"
        "null           2025-01-02T00:00:00+00:00         1\n"
        "null                               total         1\n"
        '"é\\u001b[31m"  2025-01-01T00:00:00+00:00         0\n'
        '"é\\u001b[31m"  2025-01-02T00:00:00+00:00         1\n'
        '"é\\u001b[31m"                      total         1\n'
        '"\\ud800"       2025-01-01T00:00:00+00:00         0\n'
        '"\\ud800"       2025-01-02T00:00:00+00:00         1\n'
        '"\\ud800"                           total         1\n'
    )


def test_cli_group_by_json_is_one_line_per_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = cli(
        capsys, tmp_path, EVENTS, "--group-by", "model", "--format", "json"
    )
    assert code == 0
    expected = quantities_by(
        meter("sum"), EVENTS, group_by="model", start=DAY1, end=DAY2, interval="day"
    )
    assert out == "".join(to_json(group) + "\n" for group in expected)
    assert len(out.splitlines()) == 5


def test_cli_group_by_bad_path_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = cli(capsys, tmp_path, EVENTS, "--group-by", "a..b")
    assert (code, out) == (2, "")
    assert "argument --group-by: must be a property path" in err
    assert "Traceback" not in err


def test_a_group_value_nested_too_deeply_names_the_event() -> None:
    deep: object = "bottom"
    for _ in range(70):
        deep = {"x": deep}
    events = [used("2025-01-01T10:00:00Z", 1, "a"), used(DAY1, 1, deep)]
    with pytest.raises(ValidationError, match="nests deeper than 64") as caught:
        quantities_by(
            meter(), events, group_by="model", start=DAY1, end=DAY2, interval="day"
        )
    assert caught.value.path is not None
    assert caught.value.path.startswith("events[1].metadata.model.x.x")
