"""The floor that docs/performance.md argues from must build what `from_dict` builds.

`benchmarks/bench_read_floor.py` times hand-written readers of one `CustomerMeter`
document against the Polar SDK. Its claim (that a pure-Python reader cannot reach
the SDK's speed and still check the document) is only as good as those readers
being real, so the suite runs them; the timings themselves stay out of the suite.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from meterkit import CustomerMeter, from_dict, to_dict

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the floor readers use 3.11's fromisoformat"
)


@pytest.fixture
def floor(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("bench_read_floor")


@pytest.fixture
def wire(floor: ModuleType) -> dict[str, Any]:
    document: dict[str, Any] = to_dict(
        importlib.import_module("_data").customer_meter()
    )
    return document


def test_both_floor_readers_build_what_from_dict_builds(
    floor: ModuleType, wire: dict[str, Any]
) -> None:
    expected = repr(from_dict(CustomerMeter, wire))
    assert repr(floor.checked(wire)) == expected
    assert repr(floor.unchecked(wire)) == expected


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("id", "not-a-uuid"),
        ("customer_id", "6B0D1D7E-1F0A-4C4E-9A53-2F6F2F1B8F10"),
        ("meter_id", "00000000-0000-4000-8000-000000000000"),
        ("created_at", "2025-01-01 00:00:00Z"),
        ("modified_at", "2025-13-01T00:00:00Z"),
        ("consumed_units", -1.5),
        ("credited_units", 10**29),
        ("balance", 1.0),
    ],
)
def test_the_checked_floor_declines_what_its_checks_refuse(
    floor: ModuleType, wire: dict[str, Any], key: str, bad: object
) -> None:
    # The checked floor is only a fair floor if it really checks: each of these
    # documents makes it decline (the ordinary path reads the upper-case id, but
    # the floor, like the fast reader, leaves anything unusual to it).
    assert floor.checked({**wire, key: bad}) is floor._F
    assert floor.checked({**wire, "meter": {**wire["meter"], "id": "x"}}) is floor._F


def test_the_floor_script_runs(
    floor: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(
        sys, "argv", ["bench_read_floor", "--number", "2", "--repeats", "1"]
    )
    floor.main()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["from_dict", "checked", "unchecked"]
    assert all("ratio" in line for line in lines)


def test_the_sql_benchmark_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A tiny file through the three commands: the script itself checks that the
    # DuckDB engine, the hand-written query and the fold print equal totals.
    pytest.importorskip("duckdb")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = importlib.import_module("bench_sql")
    monkeypatch.setattr(
        sys, "argv", ["bench_sql", "--events", "12000", "--rounds", "1"]
    )
    bench.main()
    out = capsys.readouterr().out
    assert "totals equal in every round" in out
    assert "duckdb engine / hand DuckDB" in out
