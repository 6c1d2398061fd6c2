"""The ``meterkit`` command line: results equal the library's, errors are located.

Most tests call `main` in-process (capsys); a few run the real ``python -m meterkit``
and ``.venv/bin/meterkit`` in a subprocess. Event files are generated from a seed,
and every number printed is checked against `usage`, `amount_due` or `quantities`
called directly on the same events.
"""

from __future__ import annotations

import csv
import gzip
import importlib.resources
import io
import json
import os
import random
import re
import runpy
import shutil
import signal
import subprocess
import sys
import time
import zoneinfo
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import meterkit
from meterkit import (
    Meter,
    MeteredUnitPrice,
    amount_due,
    from_dict,
    from_json,
    quantities,
    to_dict,
    to_json,
    usage,
)
from meterkit.cli import _io, _output, main

METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"
OTHER_METER_ID = "6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10"
CUSTOMER_A = "992fae2a-2a17-4b7a-8d9e-e287cf90131b"
CUSTOMER_B = "0c8f3e52-4b1d-4a7e-9f26-3d5b8a1c7e90"
EXTERNALS = ("acme", "globex", "zeta-ß")
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parent.parent

METER_DOC: dict[str, Any] = {
    "created_at": "2025-01-01T00:00:00Z",
    "modified_at": None,
    "id": METER_ID,
    "name": "Tokens",
    "filter": {
        "conjunction": "and",
        "clauses": [{"property": "name", "operator": "eq", "value": "llm"}],
    },
    "aggregation": {"func": "sum", "property": "total_tokens"},
}
PRICE_DOC: dict[str, Any] = {
    "unit_amount": "0.37",
    "cap_amount": 5000,
    "meter_id": METER_ID,
}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def use(
    who: dict[str, str], tokens: float, at: datetime = T0, **extra: Any
) -> dict[str, Any]:
    return {
        "name": "llm",
        "timestamp": stamp(at),
        **who,
        "source": "user",
        "metadata": {"total_tokens": tokens},
        **extra,
    }


def credit(
    who: dict[str, str], units: object, rollover: bool = False, **extra: Any
) -> dict[str, Any]:
    return {
        "name": "meter.credited",
        "timestamp": stamp(T0),
        **who,
        "source": "system",
        "metadata": {"meter_id": METER_ID, "units": units, "rollover": rollover},
        **extra,
    }


def make_events(seed: int, count: int = 400) -> list[dict[str, Any]]:
    """A log for five customers: usage (some fractional), events the meter filters
    out, credits (rollover or not, revocations, another meter's), resets, repeated
    external_ids and a few events without a customer. Each event carries one
    customer key, so a customer's events are those `usage` selects by that key."""
    rng = random.Random(seed)
    whos = [{"customer_id": c} for c in (CUSTOMER_A, CUSTOMER_B)] + [
        {"external_customer_id": e} for e in EXTERNALS
    ]
    events: list[dict[str, Any]] = []
    ids: list[str] = []
    for n in range(count):
        at = T0 + timedelta(minutes=97 * n)
        who = rng.choice(whos) if rng.random() > 0.02 else {}
        roll = rng.random()
        extra: dict[str, Any] = {}
        if rng.random() < 0.7:
            repeat = ids and rng.random() < 0.08
            extra["external_id"] = rng.choice(ids) if repeat else f"evt-{seed}-{n}"
            ids.append(extra["external_id"])
        if roll < 0.6:
            tokens: float = rng.randint(0, 500)
            if rng.random() < 0.2:
                tokens = rng.randint(0, 400) / 4  # fractional units
            events.append(use(who, tokens, at, **extra))
        elif roll < 0.7:
            event = use(who, rng.randint(0, 500), at, **extra)
            event["name"] = "other"
            events.append(event)
        elif roll < 0.93:
            event = credit(who, rng.randint(-60, 250), rng.random() < 0.4, **extra)
            if rng.random() < 0.1:
                event["metadata"]["meter_id"] = OTHER_METER_ID
            events.append({**event, "timestamp": stamp(at)})
        else:
            events.append(
                {
                    "name": "meter.reset",
                    "timestamp": stamp(at),
                    **who,
                    "source": "system",
                    "metadata": {"meter_id": METER_ID},
                    **extra,
                }
            )
    return events


def with_customer(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if "customer_id" in e or "external_customer_id" in e]


def jsonl(events: list[Any]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    meter = tmp_path / "meter.json"
    meter.write_text(json.dumps(METER_DOC))
    price = tmp_path / "price.json"
    price.write_text(json.dumps(PRICE_DOC))
    return {"meter": meter, "price": price, "dir": tmp_path}


def write(path: Path, text: str, *, packed: bool = False) -> Path:
    if packed:
        with gzip.open(path, "wt", encoding="utf-8") as file:
            file.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def run(
    capsys: pytest.CaptureFixture[str], words: str, **options: object
) -> tuple[int, str, str]:
    """`main` on ``words`` (split at spaces) and ``--option value`` for each
    keyword (``external_customer`` is ``--external-customer``); the exit code,
    stdout and stderr."""
    argv = words.split()
    for name, value in options.items():
        values = value if isinstance(value, list) else [value]
        argv += [f"--{name.replace('_', '-')}", *map(str, values)]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def customer_keys(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    keys = set()
    for e in events:
        if e.get("customer_id"):
            keys.add(("customer_id", e["customer_id"].lower()))
        elif e.get("external_customer_id"):
            keys.add(("external_customer_id", e["external_customer_id"]))
    return sorted(keys, key=lambda k: (k[0] != "customer_id", k[1]))


def expected_records(
    events: list[dict[str, Any]], price: MeteredUnitPrice | None = None
) -> list[dict[str, Any]]:
    """What the CLI must print, computed with the library on all the events."""
    meter = from_dict(Meter, METER_DOC)
    records = []
    for kind, value in customer_keys(events):
        result = usage(meter, events, **{kind: value})
        record: dict[str, Any] = {kind: value, **to_dict(result)}
        if price is not None:
            record["amount"] = amount_due(
                price, result.consumed_units, result.credited_units
            )
        records.append(record)
    return records


def records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


# -- usage: the numbers are the library's ---------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_usage_equals_library_for_every_customer(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], seed: int
) -> None:
    events = make_events(seed)
    path = write(files["dir"] / "events.jsonl", jsonl(events))
    code, out, _ = run(
        capsys,
        "usage --format json",
        meter=files["meter"],
        events=path,
        price=files["price"],
    )
    assert code == 0
    price = from_dict(MeteredUnitPrice, PRICE_DOC)
    assert records(out) == expected_records(events, price)
    assert len(records(out)) == 5


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_generated_logs_hold_every_case(seed: int) -> None:
    events = make_events(seed)
    metadata = [e["metadata"] for e in events]
    ids = [e["external_id"] for e in events if "external_id" in e]
    assert len(set(ids)) < len(ids)
    assert any(e["name"] == "meter.reset" for e in events)
    assert any(e["name"] == "other" for e in events)
    assert any(not customer_keys([e]) for e in events)
    assert any(m.get("units", 0) < 0 for m in metadata)
    assert any(m.get("rollover") for m in metadata)
    assert any(m.get("meter_id") == OTHER_METER_ID for m in metadata)
    assert any(isinstance(m.get("total_tokens"), float) for m in metadata)


def test_usage_of_sample_data_equals_library(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = importlib.resources.files("meterkit").joinpath("data")
    meter = from_json(Meter, data.joinpath("llm-meter.json").read_bytes())
    price = from_json(MeteredUnitPrice, data.joinpath("llm-price.json").read_bytes())
    raw = gzip.decompress(data.joinpath("llm-events.jsonl.gz").read_bytes())
    events = [json.loads(line) for line in raw.splitlines()]
    code, out, err = run(capsys, "demo --format json")
    assert (code, err) == (0, "")
    expected = []
    for kind, value in customer_keys(events):
        result = usage(meter, events, **{kind: value})
        cents = amount_due(price, result.consumed_units, result.credited_units)
        expected.append({kind: value, **to_dict(result), "amount": cents})
    assert records(out) == expected


def test_units_are_written_like_to_dict(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    who = {"external_customer_id": "acme"}
    events = [use(who, 1.25), use(who, 2), credit(who, 10)]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    code, out, _ = run(capsys, "usage --format json", meter=files["meter"], events=path)
    assert code == 0
    assert out == (
        '{"external_customer_id":"acme","consumed_units":3.25,"credited_units":10,'
        '"balance":6.75,"rollover_units":0}\n'
    )


def test_customer_ids_group_case_insensitively(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = [
        use({"customer_id": CUSTOMER_A}, 5),
        use({"customer_id": CUSTOMER_A.upper()}, 7),
        credit({"customer_id": CUSTOMER_A.upper()}, 20),
    ]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    code, out, _ = run(capsys, "usage --format json", meter=files["meter"], events=path)
    assert code == 0
    assert records(out) == [
        {
            "customer_id": CUSTOMER_A,
            "consumed_units": 12,
            "credited_units": 20,
            "balance": 8,
            "rollover_units": 0,
        }
    ]


def test_an_event_with_both_ids_belongs_to_its_customer_id(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    both = {"customer_id": CUSTOMER_A, "external_customer_id": "acme"}
    events = [use(both, 5), use({"external_customer_id": "acme"}, 7)]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    code, out, _ = run(capsys, "usage --format json", meter=files["meter"], events=path)
    assert code == 0
    assert [(next(iter(r.items())), r["consumed_units"]) for r in records(out)] == [
        (("customer_id", CUSTOMER_A), 5),
        (("external_customer_id", "acme"), 7),
    ]


def test_customers_sorted_customer_ids_first(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = [
        use({"external_customer_id": "b"}, 1),
        use({"customer_id": CUSTOMER_A}, 1),
        use({"external_customer_id": "a"}, 1),
        use({"customer_id": CUSTOMER_B}, 1),
    ]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    _, out, _ = run(capsys, "usage --format json", meter=files["meter"], events=path)
    keys = [next(iter(r.values())) for r in records(out)]
    assert keys == [CUSTOMER_B, CUSTOMER_A, "a", "b"]


def test_customer_filter(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = make_events(7)
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    missing = "11111111-2222-3333-4444-555555555555"
    # --customer takes several ids, and can be repeated.
    code, out, _ = run(
        capsys,
        f"usage --format json --customer {CUSTOMER_A.upper()} globex --customer nobody",
        customer=missing,
        meter=files["meter"],
        events=path,
    )
    assert code == 0
    every = {next(iter(r.values())): r for r in expected_records(events)}
    zero = {"consumed_units": 0, "credited_units": 0, "balance": 0, "rollover_units": 0}
    assert records(out) == [
        {"customer_id": missing, **zero},
        every[CUSTOMER_A],
        every["globex"],
        {"external_customer_id": "nobody", **zero},
    ]


def test_table_and_csv_show_the_json_numbers(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = make_events(5)
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    paths = {"meter": files["meter"], "events": path, "price": files["price"]}
    _, as_json, _ = run(capsys, "usage --format json", **paths)
    _, as_csv, _ = run(capsys, "usage --format csv", **paths)
    _, as_table, _ = run(capsys, "usage --format table", **paths)
    wanted = records(as_json)
    fields = ["consumed_units", "credited_units", "balance", "rollover_units", "amount"]

    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert list(rows[0]) == ["customer_id", "external_customer_id", *fields]
    assert len(rows) == len(wanted)
    for row, record in zip(rows, wanted, strict=True):
        assert row["customer_id"] == record.get("customer_id", "")
        assert row["external_customer_id"] == record.get("external_customer_id", "")
        assert [json.loads(row[f]) for f in fields] == [record[f] for f in fields]

    header, *lines = as_table.splitlines()
    assert header.split() == ["customer", *fields]
    assert len(lines) == len(wanted)
    for line, record in zip(lines, wanted, strict=True):
        cells = line.split()
        assert cells[0] == next(iter(record.values()))
        assert [json.loads(c) for c in cells[1:]] == [record[f] for f in fields]
    # Aligned: every number column ends where its header ends.
    for name in fields:
        end = header.index(name) + len(name)
        assert all(
            line[end - 1] != " " and line[end : end + 1] in ("", " ") for line in lines
        )


def test_table_without_price_has_no_amount(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    path = write(files["dir"] / "e.jsonl", jsonl([use({"customer_id": CUSTOMER_A}, 3)]))
    code, out, _ = run(capsys, "usage", meter=files["meter"], events=path)
    assert code == 0
    assert out.splitlines()[0].split() == [
        "customer",
        "consumed_units",
        "credited_units",
        "balance",
        "rollover_units",
    ]


def test_events_without_customer_are_reported(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = [use({}, 3), use({"external_customer_id": "a"}, 4), use({}, 5)]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    code, out, err = run(
        capsys, "usage --format json", meter=files["meter"], events=path
    )
    assert code == 0
    assert len(records(out)) == 1
    assert err.endswith(", 2 without a customer\n")
    assert ": 3 lines read: 3 events, 0 invalid, 0 blank;" in err


# -- inputs: gzip, stdin --------------------------------------------------------------


@pytest.mark.parametrize("name", ["events.jsonl.gz", "events.data"])
def test_gzip_input_by_content(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], name: str
) -> None:
    events = make_events(11)
    path = write(files["dir"] / name, jsonl(events), packed=True)
    code, out, _ = run(capsys, "usage --format json", meter=files["meter"], events=path)
    assert code == 0
    assert records(out) == expected_records(events)


@pytest.mark.parametrize("packed", [False, True])
def test_stdin(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, Path],
    packed: bool,
) -> None:
    events = make_events(12)
    data = jsonl(events).encode()
    if packed:
        data = gzip.compress(data)
    stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = run(capsys, "usage --events - --format json", meter=files["meter"])
    assert code == 0
    assert records(out) == expected_records(events)


# -- errors ---------------------------------------------------------------------------

GOOD = use({"external_customer_id": "acme"}, 1)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        pytest.param('{"name": "llm",', "invalid JSON: ", id="truncated-json"),
        pytest.param("NaN", "invalid JSON: NaN is not valid JSON", id="nan"),
        pytest.param("[1, 2]", "$: must be", id="not-an-object"),
        pytest.param(
            json.dumps({**GOOD, "timestamp": "2025-03-01 10:00:00"}),
            "$.timestamp: must carry a timezone",
            id="naive-timestamp",
        ),
        pytest.param(
            json.dumps({k: v for k, v in GOOD.items() if k != "name"}),
            "$.name: required key is missing",
            id="missing-name",
        ),
        pytest.param(
            json.dumps({**GOOD, "source": "robot"}), "$.source: ", id="bad-source"
        ),
        pytest.param(
            json.dumps({**GOOD, "external_customer_id": None, "customer_id": "x"}),
            "$.customer_id: must be a UUID",
            id="bad-customer-id",
        ),
        pytest.param(
            json.dumps(credit({"external_customer_id": "acme"}, "5")),
            "$.metadata.units: must be an int",
            id="credit-units",
        ),
        pytest.param(
            json.dumps(use({"external_customer_id": "acme"}, -3)),
            "$.metadata.total_tokens: must be >= 0",
            id="negative-tokens",
        ),
        # Issue 13: a float would read these as infinity and zero, silently.
        pytest.param(
            json.dumps(GOOD).replace('"total_tokens": 1', '"total_tokens": 1e400'),
            "number 1e400 is out of range: it would be read as inf",
            id="overflowing-number",
        ),
        pytest.param(
            json.dumps(GOOD).replace('"total_tokens": 1', '"total_tokens": 1e-400'),
            "number 1e-400 is out of range: it would be read as 0.0",
            id="underflowing-number",
        ),
        pytest.param(
            json.dumps({**GOOD, "timestamp": "2025-02-29T00:00:00Z"}),
            "$.timestamp: is not a valid timestamp",
            id="february-29-of-a-common-year",
        ),
    ],
)
def test_bad_line_stops_with_its_location(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, Path],
    bad_line: str,
    message: str,
) -> None:
    # Two good lines, a blank one (skipped but counted), then the bad line: line 4.
    text = json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n\n" + bad_line + "\n"
    path = write(files["dir"] / "events.jsonl", text + json.dumps(GOOD) + "\n")
    code, out, err = run(capsys, "usage", meter=files["meter"], events=path)
    assert code == 1
    assert out == ""
    assert err.startswith(f"{path}:4: {message}")
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("which", "content", "message"),
    [
        pytest.param("meter", None, "cannot read: No such file", id="missing-meter"),
        pytest.param("meter", "{", "$: is not valid JSON", id="meter-not-json"),
        pytest.param(
            "meter",
            json.dumps({**METER_DOC, "aggregation": {"func": "median"}}),
            "$.aggregation.func: must be one of",
            id="meter-bad-field",
        ),
        pytest.param(
            "price",
            json.dumps({**PRICE_DOC, "unit_amount": 0.5}),
            "$.unit_amount: must not be a float",
            id="price-float",
        ),
        pytest.param(
            "price",
            json.dumps({**PRICE_DOC, "meter_id": OTHER_METER_ID}),
            "$.meter_id: the price is for meter",
            id="price-other-meter",
        ),
        pytest.param("events", None, "cannot read: No such file", id="missing-events"),
    ],
)
def test_bad_file_is_one_line_error(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, Path],
    which: str,
    content: str | None,
    message: str,
) -> None:
    paths = {
        "meter": files["meter"],
        "price": files["price"],
        "events": write(files["dir"] / "e.jsonl", json.dumps(GOOD) + "\n"),
    }
    paths[which] = files["dir"] / f"other-{which}.json"
    if content is not None:
        paths[which].write_text(content)
    code, out, err = run(
        capsys,
        "usage",
        meter=paths["meter"],
        events=paths["events"],
        price=paths["price"],
    )
    assert (code, out) == (1, "")
    assert err.startswith(f"{paths[which]}: {message}")
    assert err.count("\n") == 1


def test_directory_and_corrupt_gzip(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    code, _, err = run(capsys, "usage", meter=files["meter"], events=files["dir"])
    assert code == 1
    assert err == f"{files['dir']}: cannot read: Is a directory\n"
    packed = gzip.compress(jsonl(make_events(3)).encode())
    cut = files["dir"] / "cut.jsonl.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    for words, options in (("usage", {"meter": files["meter"]}), ("validate", {})):
        code, out, err = run(capsys, words, events=cut, **options)
        # validate too: exit 1 and no report for a file it cannot read
        assert (code, out) == (1, "")
        assert err.startswith(f"{cut}:")
        assert "cannot read" in err


def test_bad_flags_exit_2(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    for argv in (
        ["usage", "--meter", str(files["meter"])],
        ["usage", "--meter", "m", "--events", "e", "--format", "xml"],
        ["nonsense"],
        [],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert "usage: meterkit" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        # Ints sum exactly; the total is refused when the usage is read, with the
        # same error as other numbers (which trap as they are added).
        pytest.param(
            [9 * 10**28, 9 * 10**28], "meterkit: error: sum does not fit", id="ints"
        ),
        # Other numbers sum in meterkit's decimal context, which traps at once.
        pytest.param([9e28, 9e28], "e.jsonl:2: sum does not fit", id="floats"),
    ],
)
@pytest.mark.parametrize("skip", ["", " --skip-invalid"])
def test_total_out_of_range_stops_the_run(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, Path],
    tokens: list[float],
    message: str,
    skip: str,
) -> None:
    # Not one line's fault, so even --skip-invalid stops.
    events = [use({"external_customer_id": "acme"}, n) for n in tokens]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    code, out, err = run(capsys, "usage" + skip, meter=files["meter"], events=path)
    assert (code, out) == (1, "")
    assert err.replace(str(files["dir"]) + "/", "").startswith(message)
    assert err.count("\n") == 1


def test_unwritable_output_and_interrupt(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, Path],
) -> None:
    code, out, err = run(capsys, "demo", export=files["meter"] / "sample")
    assert (code, out) == (1, "")
    assert err == f"meterkit: error: {files['meter'] / 'sample'}: Not a directory\n"

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["demo"]) == 141
    assert capsys.readouterr().err == ""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(meterkit.cli._usage, "fold_usage", interrupted)
    assert main(["demo"]) == 130
    assert capsys.readouterr().err == "meterkit: interrupted\n"


def test_usage_customer_must_not_be_empty(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["usage", "--meter", "m", "--events", "e", "--customer", "a", ""])
    assert exit_info.value.code == 2
    assert "argument --customer: a customer id must not be empty" in (
        capsys.readouterr().err
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"meterkit {meterkit.__version__}\n"


# -- --skip-invalid -------------------------------------------------------------------


def test_skip_invalid_equals_library_without_the_bad_lines(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = make_events(21)
    lines = [json.dumps(e) for e in events]
    bad_at = [3, 50, 51, 120, 200, 333, 390]  # 0-based positions in `lines`
    bad = ["{oops", "[]", json.dumps({**events[0], "timestamp": "noon"}), "NaN"]
    for n, position in enumerate(bad_at):
        lines.insert(position, bad[n % len(bad)])
    path = write(files["dir"] / "e.jsonl", "\n".join(lines) + "\n")
    code, out, err = run(
        capsys, "usage --format json --skip-invalid", meter=files["meter"], events=path
    )
    assert code == 0
    assert records(out) == expected_records(events)
    *report, summary = err.splitlines()
    assert summary.startswith(f"{path}: 407 lines read: 400 events, 7 invalid, 0 blank")
    assert report[0] == (
        f"{path}: skipped 7 invalid lines (line 4, 51, 52, 121, 201, ...):"
    )
    assert report[1].startswith(f"  {path}:4: invalid JSON")
    assert report[2].startswith(f"  {path}:51: $: must be")
    assert report[3].startswith(f"  {path}:52: $.timestamp: ")
    assert report[4] == f"  {path}:121: invalid JSON: NaN is not valid JSON"
    assert len(report) == 6


def test_skipped_line_does_not_claim_its_external_id(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    who = {"external_customer_id": "acme"}
    events = [
        credit(who, 100),
        credit(who, "lots", external_id="grant-1"),  # bad: skipped
        credit(who, 40, external_id="grant-1"),  # the first good one with this id
        use(who, 30),
    ]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    code, out, err = run(
        capsys, "usage --format json --skip-invalid", meter=files["meter"], events=path
    )
    assert code == 0
    assert records(out) == expected_records(events[:1] + events[2:])
    assert records(out)[0]["credited_units"] == 140
    assert f"{path}:2: $.metadata.units" in err


def test_customer_with_only_bad_lines_is_not_listed(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = [
        use({"external_customer_id": "a"}, 1),
        credit({"external_customer_id": "b"}, 1.5),
    ]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    code, out, err = run(
        capsys, "usage --format json --skip-invalid", meter=files["meter"], events=path
    )
    assert code == 0
    assert [r["external_customer_id"] for r in records(out)] == ["a"]
    assert "skipped 1 invalid line (line 2):" in err


# -- validate -------------------------------------------------------------------------


def test_validate_good_file(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = make_events(8, count=50)
    path = write(files["dir"] / "e.jsonl", jsonl(events) + "\n")
    code, out, err = run(capsys, "validate", events=path, meter=files["meter"])
    assert (code, err) == (0, "")
    assert out == f"{path}: 50 valid events on 51 lines\n"


def test_validate_reports_every_bad_line(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    lines = [
        json.dumps(GOOD),
        "{",
        json.dumps({**GOOD, "external_id": ""}),
        json.dumps(GOOD),
        json.dumps(credit({"customer_id": CUSTOMER_A}, True)),
        json.dumps({**GOOD, "timestamp": "2025-02-30T00:00:00Z"}),
    ]
    path = write(files["dir"] / "e.jsonl", "\n".join(lines) + "\n")
    code, out, _ = run(capsys, "validate", events=path)
    assert code == 1
    assert out.splitlines() == [
        f"{path}:2: invalid JSON: Expecting property name enclosed in double quotes"
        " at column 2",
        f'{path}:3: $.external_id: must not be empty (use null for no id) (got "")',
        f"{path}:6: $.timestamp: is not a valid timestamp: day is out of range for "
        'month (got "2025-02-30T00:00:00Z")',
        f"{path}: 3 invalid lines of 6 (3 valid events)",
    ]
    # With the meter, the credit units are checked too.
    code, out, _ = run(capsys, "validate", events=path, meter=files["meter"])
    assert code == 1
    assert f"{path}:5: $.metadata.units: must be an int" in out
    assert out.splitlines()[-1] == f"{path}: 4 invalid lines of 6 (2 valid events)"


def test_validate_strict_also_refuses_what_only_an_event_refuses(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    # `usage` never reads an event's `id` or the metadata its meter does not
    # read, so plain `validate` passes them as `usage` does; `--strict` refuses
    # what `from_dict(Event, ...)` refuses (a bad `id`, metadata nested past 64
    # levels), on its line, and the fold's own errors still come in line order.
    deep: object = 1
    for _ in range(64):
        deep = [deep]
    lines = [
        json.dumps(GOOD),
        json.dumps({**GOOD, "id": "evt_1"}),
        json.dumps({**GOOD, "id": "992FAE2A-2A17-4B7A-8D9E-E287CF90131B"}),
        json.dumps({**GOOD, "metadata": {**GOOD["metadata"], "trace": deep}}),
        json.dumps({**GOOD, "metadata": None}),
        json.dumps({**GOOD, "timestamp": "2025-02-30T00:00:00Z"}),
    ]
    path = write(files["dir"] / "e.jsonl", "\n".join(lines) + "\n")
    code, out, _ = run(capsys, "validate", events=path, meter=files["meter"])
    assert code == 1
    assert out.splitlines()[-1] == f"{path}: 1 invalid line of 6 (5 valid events)"
    code, _, err = run(
        capsys, "usage --skip-invalid", events=path, meter=files["meter"]
    )
    assert code == 0
    assert "skipped 1 invalid line (line 6)" in err
    code, out, _ = run(capsys, "validate --strict", events=path, meter=files["meter"])
    assert code == 1
    found = out.splitlines()
    assert found[0] == (
        f"{path}:2: $.id: must be a UUID such as "
        "'992fae2a-2a17-4b7a-8d9e-e287cf90131b' (got \"evt_1\")"
    )
    assert found[1].startswith(f"{path}:4: $.metadata.trace[0]")
    assert found[1].endswith(': nests deeper than 64 levels (got "...")')
    assert found[2].startswith(f"{path}:6: $.timestamp: ")
    assert found[3] == f"{path}: 3 invalid lines of 6 (3 valid events)"


# -- demo -----------------------------------------------------------------------------


def test_demo_shows_every_sample_customer(capsys: pytest.CaptureFixture[str]) -> None:
    raw = importlib.resources.files("meterkit") / "data" / "llm-events.jsonl.gz"
    events = [
        json.loads(line) for line in gzip.decompress(raw.read_bytes()).splitlines()
    ]
    code, out, err = run(capsys, "demo")
    assert (code, err) == (0, "")
    keys = customer_keys(events)
    assert len(keys) == 5
    table_lines = out.splitlines()
    header = next(
        i for i, line in enumerate(table_lines) if line.startswith("customer ")
    )
    shown = [line.split()[0] for line in table_lines[header + 1 :]]
    assert shown == [value for _, value in keys]


def test_sample_data_is_what_the_generator_makes(tmp_path: Path) -> None:
    script = runpy.run_path(str(ROOT / "examples" / "make_sample_data.py"))
    script["write"](tmp_path)
    bundled = importlib.resources.files("meterkit").joinpath("data")
    for name in ("llm-meter.json", "llm-price.json"):
        assert (tmp_path / name).read_bytes() == bundled.joinpath(name).read_bytes()
    made = gzip.decompress((tmp_path / "llm-events.jsonl.gz").read_bytes())
    assert made == gzip.decompress(bundled.joinpath("llm-events.jsonl.gz").read_bytes())
    events = [json.loads(line) for line in made.splitlines()]
    assert 2000 < len(events) < 5000
    names = {e["name"] for e in events}
    assert {"meter.credited", "meter.reset", "llm.completion"} <= names
    ids = [e["external_id"] for e in events]
    assert len(set(ids)) < len(ids)  # retried deliveries


def test_demo_from_a_vendored_copy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The package copied under another one, with no `meterkit` importable: the
    # sample data is found next to the copy.
    vendor = tmp_path / "billing" / "_vendor"
    vendor.mkdir(parents=True)
    (tmp_path / "billing" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    package = Path(meterkit.__file__).parent
    shutil.copytree(
        package, vendor / "meterkit", ignore=shutil.ignore_patterns("*.pyc")
    )
    script = (
        "import sys\n"
        "sys.modules['meterkit'] = None\n"
        "from billing._vendor.meterkit.cli import main\n"
        "sys.exit(main(['demo', '--format', 'json']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, summary_only(done.stderr)) == (0, "")
    assert done.stdout == run(capsys, "demo --format json")[1]


def test_demo_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "demo", export=tmp_path / "sample")
    assert code == 0
    written = [Path(line) for line in out.splitlines()]
    assert [p.name for p in written] == [
        "llm-meter.json",
        "llm-price.json",
        "llm-events.jsonl.gz",
    ]
    bundled = importlib.resources.files("meterkit").joinpath("data")
    for path in written:
        assert path.read_bytes() == bundled.joinpath(path.name).read_bytes()
    # The exported files drive the usage command to the demo's numbers.
    _, demo, _ = run(capsys, "demo --format csv")
    meter, price, events = written
    _, same, _ = run(
        capsys, "usage --format csv", meter=meter, price=price, events=events
    )
    assert same == demo


# -- progress -------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def fast_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each look at the clock is a second later: a progress line is always due."""
    ticks = iter(range(10**9))
    monkeypatch.setattr(_io, "clock", lambda: float(next(ticks)))


@pytest.mark.usefixtures("fast_clock")
@pytest.mark.parametrize(
    ("terminal", "quiet", "shown"),
    [(True, False, True), (True, True, False), (False, False, False)],
)
def test_progress_only_on_a_terminal_and_not_quiet(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, Path],
    terminal: bool,
    quiet: bool,
    shown: bool,
) -> None:
    path = write(files["dir"] / "e.jsonl", jsonl(with_customer(make_events(4, 300))))
    stderr: io.StringIO = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    words = "usage --format json" + (" --quiet" if quiet else "")
    code, out, _ = run(capsys, words, meter=files["meter"], events=path)
    assert code == 0
    assert len(records(out)) == 5  # stdout is clean
    text = stderr.getvalue()
    # Progress is updated once per block of lines read.
    assert bool(re.search(r"\r[0-9,]+ events read", text)) is shown
    # The progress line is erased before the run's summary (unless --quiet).
    progress, _, last = text.rpartition("\r\x1b[K")
    assert bool(progress) is shown
    assert (last == "") is quiet
    if not quiet:
        assert ": 296 lines read: 296 events, 0 invalid, 0 blank;" in last


@pytest.mark.usefixtures("fast_clock")
def test_progress_is_erased_before_an_error(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, Path],
) -> None:
    events = with_customer(make_events(4, 300))
    path = write(files["dir"] / "e.jsonl", jsonl(events) + "{\n")
    stderr = Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    code, _, _ = run(capsys, "usage", meter=files["meter"], events=path)
    assert code == 1
    progress, error = stderr.getvalue().rsplit("\r\x1b[K", 1)
    assert "events read" in progress
    assert error.startswith(f"{path}:{len(events) + 1}: invalid JSON")


# -- quantities -----------------------------------------------------------------------


def test_quantities_json_equals_library(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = make_events(31)
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    meter = from_dict(Meter, METER_DOC)
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    words = "quantities --start 2025-03-01 --end 2025-03-20T12:00:00Z --interval day"
    words += " --timezone Europe/Paris --format json"
    scopes: list[tuple[str, dict[str, Any]]] = [
        ("", {}),
        (" --customer acme", {"external_customer_id": "acme"}),
        (f" --customer {CUSTOMER_B}", {"customer_id": CUSTOMER_B}),
        (" --external-customer globex", {"external_customer_id": "globex"}),
    ]
    for flags, scope in scopes:
        code, out, _ = run(capsys, words + flags, meter=files["meter"], events=path)
        assert code == 0
        expected = quantities(
            meter,
            events,
            start=datetime(2025, 3, 1, tzinfo=paris),
            end=datetime(2025, 3, 20, 12, tzinfo=timezone.utc),
            interval="day",
            timezone="Europe/Paris",
            **scope,
        )
        assert out == to_json(expected) + "\n"
        assert expected.total > 0


def test_quantities_table(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    who = {"external_customer_id": "acme"}
    events = [
        use(who, 10, datetime(2025, 3, 1, 22, 30, tzinfo=timezone.utc)),  # Mar 1 Paris
        use(who, 5, datetime(2025, 3, 1, 23, 30, tzinfo=timezone.utc)),  # Mar 2 Paris
        use(who, 2.5, datetime(2025, 3, 3, 12, tzinfo=timezone.utc)),
    ]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    words = "quantities --start 2025-03-01 --end 2025-03-03 --interval day"
    words += " --timezone Europe/Paris"
    code, out, _ = run(capsys, words, meter=files["meter"], events=path)
    assert code == 0
    assert out == (
        "timestamp                  quantity\n"
        "2025-03-01T00:00:00+01:00        10\n"
        "2025-03-02T00:00:00+01:00         5\n"
        "2025-03-03T00:00:00+01:00       2.5\n"
        "total                          17.5\n"
    )


def test_quantities_bad_event_is_located(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    bad = {**GOOD, "metadata": {"total_tokens": -1}}
    text = "\n" + json.dumps(GOOD) + "\n\n\n" + json.dumps(bad) + "\n"
    path = write(files["dir"] / "e.jsonl", text)
    words = "quantities --start 2025-03-01 --end 2025-03-02 --interval day"
    code, out, err = run(capsys, words, meter=files["meter"], events=path)
    assert (code, out) == (1, "")
    assert err.startswith(f"{path}:5: $.metadata.total_tokens: must be >= 0")
    words += " --skip-invalid --format json"
    code, out, err = run(capsys, words, meter=files["meter"], events=path)
    assert code == 0
    assert json.loads(out)["total"] == 1
    assert "skipped 1 invalid line (line 5):" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--start", "soon"], "argument --start: 'soon' is neither a date"),
        (["--timezone", "Mars/Olympus"], "argument --timezone: unknown time zone"),
        (["--end", "2025-02-01"], "argument --end: must not be before start"),
        (["--max-buckets", "3"], "argument --max-buckets: is exceeded"),
        (["--interval", "fortnight"], "argument --interval: invalid choice"),
        (["--external-customer", ""], "argument --external-customer: a customer id"),
        (["--customer", ""], "argument --customer: a customer id must not be empty"),
    ],
)
def test_quantities_bad_arguments_exit_2(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, Path],
    flags: list[str],
    message: str,
) -> None:
    path = write(files["dir"] / "e.jsonl", json.dumps(GOOD) + "\n")
    given = {"--start": "2025-03-01", "--end": "2025-03-10", "--interval": "day"}
    given.update(zip(flags[::2], flags[1::2], strict=True))
    argv = ["quantities", "--meter", str(files["meter"]), "--events", str(path)]
    argv += [item for pair in given.items() for item in pair]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# -- real processes -------------------------------------------------------------------


def scripts() -> list[Any]:
    console = Path(sys.executable).with_name("meterkit")
    return [
        pytest.param([sys.executable, "-m", "meterkit"], id="python-m"),
        pytest.param(
            [str(console)],
            id="console-script",
            marks=pytest.mark.skipif(not console.exists(), reason=f"no {console}"),
        ),
    ]


def summary_only(stderr: str) -> str:
    """``stderr`` without the run's summary line (`_usage.summary`)."""
    return "".join(
        line for line in stderr.splitlines(True) if " lines read: " not in line
    )


@pytest.mark.parametrize("command", scripts())
def test_subprocess_usage_gz_stdin_and_errors(
    command: list[str], files: dict[str, Path]
) -> None:
    events = with_customer(make_events(41))
    packed = write(files["dir"] / "e.jsonl.gz", jsonl(events), packed=True)
    base = [*command, "usage", "--meter", str(files["meter"]), "--format", "json"]
    price = from_dict(MeteredUnitPrice, PRICE_DOC)
    expected = expected_records(events, price)

    done = subprocess.run(
        [*base, "--events", str(packed), "--price", str(files["price"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, summary_only(done.stderr)) == (0, "")
    assert records(done.stdout) == expected

    done = subprocess.run(
        [*base, "--events", "-", "--price", str(files["price"])],
        input=jsonl(events),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, summary_only(done.stderr)) == (0, "")
    assert records(done.stdout) == expected

    done = subprocess.run(
        [*base, "--events", "-"],
        input=jsonl(events[:5]) + '{"name": \n',
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("<stdin>:6: invalid JSON")
    assert "Traceback" not in done.stderr

    done = subprocess.run([*base], capture_output=True, text=True, check=False)
    assert done.returncode == 2


@pytest.mark.parametrize("command", scripts())
def test_subprocess_demo(command: list[str]) -> None:
    done = subprocess.run(
        [*command, "demo"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, summary_only(done.stderr)) == (0, "")
    for customer in ("acme-corp", "globex", "initech", "umbrella"):
        assert customer in done.stdout


def test_subprocess_closed_pipe_is_quiet(files: dict[str, Path]) -> None:
    # Enough customers that the output outgrows a pipe's buffer.
    events = [use({"external_customer_id": f"c{n:05d}"}, n) for n in range(6000)]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    command = [sys.executable, "-m", "meterkit", "usage", "--format", "json"]
    command += ["--meter", str(files["meter"]), "--events", str(path)]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline().startswith(b'{"external_customer_id":"c00000"')
        process.stdout.close()
        err = process.stderr.read()
        process.wait(timeout=60)
    assert process.returncode == 141
    assert b"Traceback" not in err
    assert err.count(b"\n") <= 1  # at most the run's summary


# -- docs/cli.md ----------------------------------------------------------------------


def console_examples(text: str) -> list[tuple[str, str]]:
    """The ``$ command`` lines of the ```console blocks, each with its output."""
    examples: list[tuple[str, str]] = []
    for block in re.findall(r"^```console\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        for chunk in re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((command, output))
    return examples


@pytest.mark.skipif(
    sys.platform == "win32" or shutil.which("gunzip") is None,
    reason="the examples are POSIX shell commands",
)
def test_cli_docs_examples_are_current(tmp_path: Path) -> None:
    # `meterkit` on the PATH is this interpreter's package, whatever is installed.
    shim = tmp_path / "bin" / "meterkit"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m meterkit "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
    work = tmp_path / "work"
    work.mkdir()
    examples = console_examples((ROOT / "docs" / "cli.md").read_text())
    assert len(examples) > 15
    for command, expected in examples:
        done = subprocess.run(
            command,
            shell=True,
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        assert (command, done.stdout) == (command, expected)


# -- output: escaping, encodings, closed pipes, Ctrl-C, help --------------------------

# Ids as they are in the data, and as a table shows them.
HOSTILE_IDS = {
    "\ud800": "\\ud800",
    "line\nbreak": "line\\nbreak",
    "tab\there": "tab\\there",
    "cr\rhere": "cr\\rhere",
    "\x1b[2J\x1b[31mred": "\\x1b[2J\\x1b[31mred",
    "\x9b31m": "\\x9b31m",
    "\u202eevil": "\\u202eevil",
    "zeta-ß": "zeta-ß",
    "日本": "日本",
    'quo"te,comma': 'quo"te,comma',
}


def hostile_events() -> list[dict[str, Any]]:
    return [use({"external_customer_id": name}, 5) for name in HOSTILE_IDS]


def terminal_safe(text: str) -> bool:
    return all(char.isprintable() or char == "\n" for char in text)


def test_table_shows_control_characters_and_surrogates_escaped(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    path = write(files["dir"] / "e.jsonl", jsonl(hostile_events()))
    code, out, err = run(capsys, "usage", meter=files["meter"], events=path)
    assert code == 0, err
    assert terminal_safe(out)
    lines = out.splitlines()
    assert len(lines) == 1 + len(HOSTILE_IDS)
    assert {line.split("  ")[0].rstrip() for line in lines[1:]} == set(
        HOSTILE_IDS.values()
    )
    # Aligned by what a terminal shows: 日本 takes four columns.
    assert len({_output.width(line) for line in lines}) == 1


def test_csv_and_json_write_values_exactly(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    path = write(files["dir"] / "e.jsonl", jsonl(hostile_events()))
    code, out, err = run(
        capsys, "usage --format json", meter=files["meter"], events=path
    )
    assert code == 0, err
    assert out.isascii()
    assert {r["external_customer_id"] for r in records(out)} == set(HOSTILE_IDS)
    code, out, err = run(
        capsys, "usage --format csv", meter=files["meter"], events=path
    )
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert len(rows) == 1 + len(HOSTILE_IDS)
    assert {len(row) for row in rows} == {6}
    # Exact, but for the lone surrogate, which no encoding holds: its escape.
    expected = {name if name != "\ud800" else "\\ud800" for name in HOSTILE_IDS}
    assert {row[1] for row in rows[1:]} == expected


def test_explain_and_quantities_tables_are_terminal_safe(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = hostile_events()
    events.append(use({"external_customer_id": "acme"}, 1, name="\x1b[2J"))
    events.append(use({"external_customer_id": "acme"}, 2, name="\x1b]0;x\x07"))
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    for customer in [*HOSTILE_IDS, "acme"]:
        argv = ["explain", "--meter", str(files["meter"]), "--events", str(path)]
        code = main([*argv, "--external-customer", customer])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert terminal_safe(out)
        assert len(out.splitlines()) == 1 + len(events)
    period = "--start 2025-03-01 --end 2025-03-02 --interval day"
    code, out, err = run(
        capsys, f"quantities {period}", meter=files["meter"], events=path
    )
    assert (code, terminal_safe(out)) == (0, True), err


def test_output_is_built_whole_before_it_is_written(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, Path],
) -> None:
    # An error while the output is built (here, on its fourth number) leaves stdout
    # empty: no CSV header, no half table.
    events = [use({"external_customer_id": f"c{n}"}, n) for n in range(5)]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    calls = []

    def failing(value: object) -> str:
        calls.append(value)
        if len(calls) == 4:
            raise meterkit.ValidationError("cannot be written", path="units")
        return json.dumps(value)

    monkeypatch.setattr(meterkit.cli._usage, "number_text", failing)
    for form in ("csv", "table"):
        calls.clear()
        code, out, err = run(
            capsys, f"usage --format {form}", meter=files["meter"], events=path
        )
        assert (code, out) == (1, "")
        assert err.endswith("meterkit: error: units: cannot be written\n")


def test_output_helpers() -> None:
    assert _output.shown("plain ß 日本") == "plain ß 日本"
    assert _output.shown("\x00\x7f\x85\u2028\U000e0001") == (
        "\\x00\\x7f\\x85\\u2028\\U000e0001"
    )
    assert _output.shown("日本 ß", "latin-1") == "\\u65e5\\u672c ß"
    assert _output.shown("ß", "ascii") == "\\xdf"
    assert (_output.width("日本"), _output.width("e\u0301"), _output.width("ab")) == (
        4,
        1,
        2,
    )
    values = ["a\rb", "c\nd", 'e"f', "g,h", " i ", "\x1b", ""]
    text = _output.csv_text([values])
    assert text == '"a\rb","c\nd","e""f","g,h", i ,\x1b,\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [values]
    table = _output.table(["id", "n"], [["日本", "1"], ["abc", "10"]])
    assert table == "id     n\n日本   1\nabc   10\n"
    table = _output.table(["n", "id"], [["1", "a"], ["10", "bb"]], right=(0,))
    assert table == " n  id\n 1  a\n10  bb\n"


def run_with(
    encoding: str, argv: list[str], data: bytes
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "meterkit", *argv],
        input=data,
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": encoding},
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_non_utf8_stdout(encoding: str, files: dict[str, Path]) -> None:
    data = jsonl(hostile_events()).encode()
    meter = ["--meter", str(files["meter"]), "--events", "-"]
    for form in ("table", "csv", "json"):
        done = run_with(encoding, ["usage", *meter, "--format", form], data)
        assert done.returncode == 0, done.stderr
        assert b"Traceback" not in done.stderr
        out = done.stdout.decode(encoding)
        assert "\\u65e5\\u672c" in out  # 日本 in neither encoding
        if form != "json":
            assert ("zeta-ß" in out) is (encoding == "latin-1")
            assert ("zeta-\\xdf" in out) is (encoding == "ascii")
    done = run_with(encoding, ["explain", *meter, "--external-customer", "日本"], data)
    assert done.returncode == 0, done.stderr
    done.stdout.decode(encoding)
    # validate's report quotes the bad value: stdout is its output.
    bad = (
        b'{"name": "llm", "timestamp": "\xe6\x97\xa5\xe6\x9c\xac", "source": "user"}\n'
    )
    done = run_with(encoding, ["validate", "--events", "-"], bad)
    assert (done.returncode, b"Traceback" in done.stderr) == (1, False), done.stderr
    assert done.stdout.decode(encoding).startswith("<stdin>:1: $.timestamp")


def big_outputs(files: dict[str, Path]) -> dict[str, list[str]]:
    """Commands whose output is well beyond a pipe's buffer (64 KiB)."""
    customers = [use({"external_customer_id": f"c{n:05d}"}, n) for n in range(6000)]
    many = write(files["dir"] / "many.jsonl", jsonl(customers))
    one = [use({"external_customer_id": "acme"}, n) for n in range(4000)]
    long = write(files["dir"] / "long.jsonl", jsonl(one))
    bad = write(files["dir"] / "bad.jsonl", '{"name": 1}\n' * 4000)
    base = ["--meter", str(files["meter"])]
    year = ["--start", "2025-01-01", "--end", "2025-12-31T23:00:00", "--interval"]
    return {
        "usage-table": ["usage", *base, "--events", str(many)],
        "usage-json": ["usage", *base, "--events", str(many), "--format", "json"],
        "usage-csv": ["usage", *base, "--events", str(many), "--format", "csv"],
        "quantities-table": ["quantities", *base, "--events", str(long), *year, "hour"],
        "quantities-json": [
            *("quantities", *base, "--events", str(long), *year, "hour"),
            *("--format", "json"),
        ],
        "explain-table": [
            "explain",
            *base,
            "--events",
            str(long),
            "--customer",
            "acme",
        ],
        "explain-json": [
            *("explain", *base, "--events", str(long), "--customer", "acme"),
            *("--format", "json"),
        ],
        "validate": ["validate", "--events", str(bad)],
    }


BIG = [
    "usage-table",
    "usage-json",
    "usage-csv",
    "quantities-table",
    "quantities-json",
    "explain-table",
    "explain-json",
    "validate",
]


def buffering(unbuffered: bool) -> dict[str, str]:
    """The environment of a process whose stdout is buffered or not (``-u``): a
    buffered writer and a raw file take a write the pipe cuts short differently."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return {**env, "PYTHONUNBUFFERED": "1"} if unbuffered else env


def closing_reader(
    argv: list[str], unbuffered: bool, *, read: int
) -> tuple[int, bytes]:
    """Run ``meterkit ARGV`` with a reader that takes ``read`` bytes of stdout,
    then closes it; the exit status and stderr."""
    with subprocess.Popen(
        [sys.executable, "-m", "meterkit", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=buffering(unbuffered),
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert len(process.stdout.read(read)) == read
        process.stdout.close()
        err = process.stderr.read()
        process.wait(timeout=60)
    return process.returncode, err


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("name", BIG)
def test_closed_pipe_exits_141_for_every_command(
    files: dict[str, Path], name: str, unbuffered: bool
) -> None:
    # `meterkit ... | head -c 100`: the reader goes away after the first bytes.
    code, err = closing_reader(big_outputs(files)[name], unbuffered, read=100)
    assert code == 141, err
    assert b"Traceback" not in err
    assert b"Exception" not in err
    assert b"rror" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--events", "EVENTS"],
        ["usage", "--meter", "METER", "--events", "EVENTS"],
        ["demo"],
        ["demo", "--export", "DIR"],
        ["--help"],
        ["usage", "--help"],
    ],
    ids=" ".join,
)
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_closed_pipe_at_the_last_flush_exits_141(
    files: dict[str, Path], argv: list[str], unbuffered: bool
) -> None:
    # The reader is gone before anything is written: a small output, buffered
    # until the end, meets the closed pipe only when it is flushed.
    events = write(files["dir"] / "e.jsonl", jsonl(make_events(5, 20)))
    names = {"EVENTS": events, "METER": files["meter"], "DIR": files["dir"] / "x"}
    argv = [str(names.get(word, word)) for word in argv]
    code, err = closing_reader(argv, unbuffered, read=0)
    assert code == 141, err
    assert b"Traceback" not in err
    assert b"Exception ignored" not in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_unwritable_stdout_is_a_one_line_error(files: dict[str, Path]) -> None:
    events = write(files["dir"] / "e.jsonl", jsonl(make_events(5, 20)))
    usage = ["usage", "--meter", str(files["meter"]), "--events", str(events)]
    for argv, message in (
        (usage, b"<stdout>: cannot write: No space left on device\n"),
        (
            [*usage, "--format", "csv"],
            b"<stdout>: cannot write: No space left on device\n",
        ),
        # validate prints its report as it goes: the error is met in a print.
        (
            ["validate", "--events", str(events)],
            b"meterkit: error: No space left on device\n",
        ),
    ):
        with open("/dev/full", "wb") as full:
            done = subprocess.run(
                [sys.executable, "-m", "meterkit", *argv, "--quiet"],
                stdout=full,
                stderr=subprocess.PIPE,
                check=False,
                timeout=60,
            )
        assert (done.returncode, done.stderr) == (1, message)


# Started like the console script, but saying "ready" once `main` runs (its first
# step, building the parser): Ctrl-C from then on is `main`'s to handle.
READY = """\
import sys
import meterkit.cli as cli
build = cli._parser
def ready():
    sys.stderr.write("ready\\n")
    sys.stderr.flush()
    return build()
cli._parser = ready
sys.exit(cli.main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.1, 0.5])
@pytest.mark.parametrize("command", ["usage", "validate", "explain"])
def test_ctrl_c_exits_130_without_traceback(
    files: dict[str, Path], command: str, delay: float
) -> None:
    argv = {
        "usage": ["usage", "--meter", str(files["meter"])],
        "validate": ["validate"],
        "explain": ["explain", "--meter", str(files["meter"]), "--customer", "acme"],
    }[command]
    with subprocess.Popen(
        [sys.executable, "-c", READY, *argv, "--events", "-"],
        stdin=subprocess.PIPE,  # a stdin that never ends
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdin is not None
        assert process.stderr is not None
        process.stdin.write(jsonl(make_events(6, 50)).encode())
        process.stdin.flush()
        assert process.stderr.readline() == b"ready\n"
        time.sleep(delay)  # parsing flags, importing the command, or reading
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err == b"meterkit: interrupted\n"
    assert out == b""


def test_ctrl_c_while_starting_is_quiet(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> object:
        raise KeyboardInterrupt

    # While the command's module is imported, and while the flags are parsed.
    monkeypatch.setattr(meterkit.cli.importlib, "import_module", interrupted)
    assert main(["demo"]) == 130
    assert capsys.readouterr() == ("", "meterkit: interrupted\n")
    monkeypatch.undo()
    monkeypatch.setattr(meterkit.cli, "_parser", interrupted)
    assert main(["demo"]) == 130
    assert capsys.readouterr() == ("", "meterkit: interrupted\n")


def subparsers() -> dict[str, Any]:
    parser = meterkit.cli._parser()
    (commands,) = [
        action
        for action in parser._actions
        if isinstance(action, meterkit.cli.argparse._SubParsersAction)
    ]
    return dict(commands.choices)


def test_help_shows_every_option_with_its_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = subparsers()
    assert set(commands) == {"usage", "quantities", "explain", "validate", "demo"}
    for name, sub in commands.items():
        formatter = sub._get_formatter()
        required_groups = [
            group for group in sub._mutually_exclusive_groups if group.required
        ]
        for action in sub._actions:
            text = formatter._expand_help(action)
            assert text, (name, action.option_strings)  # every option has help
            optional = not (
                action.required
                or isinstance(action, meterkit.cli.argparse._HelpAction)
                or action.const is not None  # a flag: off unless given
                or any(action in g._group_actions for g in required_groups)
            )
            if optional:
                assert "(default: " in text, (name, action.option_strings, text)
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        shown = capsys.readouterr().out
        assert shown.startswith(f"usage: meterkit {name} ")
        assert "meterkit demo --export DIR" in shown
        assert "docs/" not in shown
        assert ".md" not in shown
        if "--format" in shown:
            assert "(default: table)" in shown


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "--skip-invalid"], "the following arguments are required"),
        (
            ["validate", "--events", "e.jsonl", "--skip-invalid"],
            "unrecognized arguments: --skip-invalid",
        ),
        (
            ["usage", "--meter", "m", "--events", "e", "--bogus", "x"],
            "unrecognized arguments: --bogus x",
        ),
        (["explain", "--meter", "m", "--events", "e"], "one of the arguments"),
        (
            ["usage", "--meter", "m", "--events", "e", "--max-line-bytes", "0"],
            "argument --max-line-bytes: must be at least 1",
        ),
    ],
)
def test_a_subcommand_error_shows_the_subcommand_usage(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: meterkit {argv[0]} ")
    assert f"meterkit {argv[0]}: error: {message}" in err


@pytest.mark.parametrize("command", ["usage", "quantities", "explain", "validate"])
def test_max_line_bytes_applies_to_every_command(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], command: str
) -> None:
    event = json.dumps(use({"external_customer_id": "acme"}, 5))
    path = write(files["dir"] / "e.jsonl", f"{event}\n{event}\n")
    argv = {
        "usage": ["usage", "--meter", str(files["meter"])],
        "quantities": [
            *("quantities", "--meter", str(files["meter"]), "--start", "2025-03-01"),
            *("--end", "2025-03-02", "--interval", "day"),
        ],
        "explain": ["explain", "--meter", str(files["meter"]), "--customer", "acme"],
        "validate": ["validate"],
    }[command]
    argv += ["--events", str(path), "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    limit = len(event) // 2
    assert main([*argv, "--max-line-bytes", str(limit)]) == 1
    out, err = capsys.readouterr()
    report = out if command == "validate" else err
    assert f"{path}:1: line longer than {limit:,} bytes" in report
