"""``meterkit usage --engine duckdb``: exactly what the default engine prints.

Every comparison runs both engines on the same file and compares stdout byte for
byte; a file DuckDB refuses is read again by the default engine, so the error (and
the exit status) is the default engine's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from . import test_cli_hostile as hostile
from .test_cli import (
    CUSTOMER_A,
    CUSTOMER_B,
    METER_DOC,
    PRICE_DOC,
    jsonl,
    make_events,
    run,
    use,
    write,
)

duckdb = pytest.importorskip("duckdb")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    meter = tmp_path / "meter.json"
    meter.write_text(json.dumps(METER_DOC))
    price = tmp_path / "price.json"
    price.write_text(json.dumps(PRICE_DOC))
    return {"meter": meter, "price": price, "dir": tmp_path}


def both(
    capsys: pytest.CaptureFixture[str], words: str, **options: object
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """The default engine's and DuckDB's (status, stdout, stderr)."""
    default = run(capsys, words, **options)
    duck = run(capsys, words + " --engine duckdb", **options)
    return default, duck


@pytest.mark.parametrize("seed", [3, 17])
@pytest.mark.parametrize("form", ["table", "json", "csv"])
def test_duckdb_prints_what_the_default_engine_prints(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], seed: int, form: str
) -> None:
    path = write(files["dir"] / "e.jsonl", jsonl(make_events(seed)))
    default, duck = both(
        capsys,
        f"usage --format {form}",
        meter=files["meter"],
        price=files["price"],
        events=path,
    )
    assert default[0] == duck[0] == 0
    assert duck[1] == default[1]
    assert default[1].count("\n") >= 5  # every customer kind is there
    assert duck[2] == f"{path}: read by DuckDB: 5 customers\n"


def test_duckdb_reads_gzip_and_selects_customers(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    path = write(files["dir"] / "e.jsonl.gz", jsonl(make_events(5)), packed=True)
    for who in ["acme", CUSTOMER_A, "nobody", CUSTOMER_B.upper()]:
        default, duck = both(
            capsys, "usage --quiet", meter=files["meter"], events=path, customer=who
        )
        assert (duck[0], duck[1], duck[2]) == (0, default[1], "")


def test_events_with_both_keys_are_routed_by_customer_id(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    both_keys = {"customer_id": CUSTOMER_A, "external_customer_id": "acme"}
    events = [use(both_keys, 5), use({"external_customer_id": "acme"}, 7)]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    default, duck = both(
        capsys, "usage --format json", meter=files["meter"], events=path
    )
    assert duck[1] == default[1]
    assert [json.loads(line)["consumed_units"] for line in duck[1].splitlines()] == [
        5,
        7,
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        json.dumps({**use({"external_customer_id": "x"}, 1), "timestamp": "soon"}),
        json.dumps(
            {
                **use({"external_customer_id": "x"}, 1),
                "timestamp": "2025-03-01T10:00:00",
            }
        ),
        json.dumps(
            {
                **use({"external_customer_id": "x"}, 1),
                "timestamp": "2025-03-01T24:00:00Z",
            }
        ),
        json.dumps(
            {
                **use({"external_customer_id": "x"}, 1),
                "timestamp": "0001-01-01T00:00:00+01:00",
            }
        ),
        json.dumps(
            {
                **use({"external_customer_id": "x"}, 1),
                "timestamp": " 025-03-01T10:00:00Z",
            }
        ),
        json.dumps(use({"external_customer_id": 12345}, 1)),
        json.dumps({**use({"external_customer_id": "x"}, 1), "name": 7}),
        json.dumps(use({"external_customer_id": "x"}, -1)),
        json.dumps(use({"customer_id": "not-a-uuid"}, 1)),
        json.dumps({**use({"external_customer_id": "x"}, 1), "source": 5}),
        json.dumps({**use({"external_customer_id": "x"}, 1), "source": ["user"]}),
        json.dumps(use({"customer_id": True}, 1)),
        json.dumps(
            use({"customer_id": {"id": "992fae2a-2a17-4b7a-8d9e-e287cf90131b"}}, 1)
        ),
    ],
    ids=[
        "invalid-json",
        "bad-timestamp",
        "naive-timestamp",
        "hour-24",
        "before-year-1",
        "padded-year",
        "number-as-external-id",
        "number-as-name",
        "negative-value",
        "bad-customer-id",
        "number-as-source",
        "array-as-source",
        "boolean-as-customer-id",
        "object-as-customer-id",
    ],
)
def test_a_refused_file_gets_the_default_engines_error(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], bad: str
) -> None:
    text = jsonl(make_events(7, 30)) + bad + "\n"
    path = write(files["dir"] / "e.jsonl", text)
    default, duck = both(capsys, "usage", meter=files["meter"], events=path)
    assert default[0] == duck[0] == 1
    assert duck[1] == default[1] == ""
    note, error = duck[2].splitlines()
    assert note.startswith(f"{path}: DuckDB ")
    assert note.endswith("; reading it with the default engine")
    assert error == default[2].strip()
    assert error.startswith(f"{path}:31: ")


def test_parquet_is_read_by_duckdb(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    events = make_events(11, 200)
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    parquet = files["dir"] / "e.parquet"
    connection = duckdb.connect()
    connection.execute(
        f"COPY (SELECT * FROM read_json('{path}', format = 'newline_delimited',"
        " columns = {name: 'VARCHAR', timestamp: 'VARCHAR', customer_id: 'VARCHAR',"
        " external_customer_id: 'VARCHAR', external_id: 'VARCHAR',"
        " source: 'VARCHAR', metadata: 'JSON'}))"
        f" TO '{parquet}' (FORMAT parquet)"
    )
    default = run(capsys, "usage --format json", meter=files["meter"], events=path)
    duck = run(
        capsys,
        "usage --format json --engine duckdb",
        meter=files["meter"],
        events=parquet,
    )
    assert duck[:2] == (0, default[1])


def test_a_refused_parquet_file_is_an_error(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    parquet = files["dir"] / "e.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT 1 AS unrelated) TO '{parquet}' (FORMAT parquet)"
    )
    code, out, err = run(
        capsys, "usage --engine duckdb", meter=files["meter"], events=parquet
    )
    assert (code, out) == (1, "")
    assert err.startswith(f"{parquet}: DuckDB cannot read it: ")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("--skip-invalid", "duckdb cannot skip invalid lines"),
        ("", "duckdb reads a file, not standard input"),
    ],
)
def test_flags_duckdb_cannot_take_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, Path],
    words: str,
    message: str,
) -> None:
    events = "-" if "skip" not in words else str(files["meter"])
    with pytest.raises(SystemExit) as stop:
        run(
            capsys,
            f"usage --engine duckdb {words}",
            meter=files["meter"],
            events=events,
        )
    assert stop.value.code == 2
    assert f"argument --engine: {message}" in capsys.readouterr().err


def test_without_duckdb_the_default_engine_runs(
    capsys: pytest.CaptureFixture[str],
    files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write(files["dir"] / "e.jsonl", jsonl(make_events(2, 50)))
    default = run(capsys, "usage --quiet", meter=files["meter"], events=path)
    monkeypatch.setitem(sys.modules, "duckdb", None)  # `import duckdb` fails
    code, out, err = run(
        capsys, "usage --engine duckdb", meter=files["meter"], events=path
    )
    assert (code, out) == (0, default[1])
    assert err.splitlines()[0] == (
        f"{path}: DuckDB is not installed: pip install 'meterkit[duckdb]'; "
        "reading it with the default engine"
    )


# -- any file -------------------------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=hostile.event_files(), func=st.sampled_from(hostile.FUNCS))
def test_duckdb_prints_what_the_default_engine_prints_for_any_file(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, func: str
) -> None:
    """The hostile files of `test_cli_hostile` (arbitrary bytes, deep nesting, lone
    surrogates, huge numbers, every JSON type in every field): the same exit status,
    the same stdout, and for a refused file the same error line."""
    folder = tmp_path_factory.mktemp("any")
    meter = folder / "meter.json"
    meter.write_text(json.dumps(hostile.meter_doc(func)))
    path = folder / "events.jsonl"
    path.write_bytes(data)
    argv = ["usage", "--meter", str(meter), "--events", str(path), "--format", "json"]
    default = hostile.run_main(argv, "utf-8")
    duck = hostile.run_main([*argv, "--engine", "duckdb"], "utf-8")
    assert (duck.code, duck.out) == (default.code, default.out), duck.err
    if default.code:
        assert duck.err.splitlines()[-1] == default.err.splitlines()[-1]


@settings(max_examples=40, deadline=None)
@example(  # metadata DuckDB reads but Python's json cannot: the default engine's error
    seed=0,
    bad=b'{"metadata": ' + b"[" * 1500 + b"]" * 1500 + b"}\n",
    where=0,
    func="sum",
)
@example(  # DuckDB's message cut inside a character: read by the default engine
    seed=0,
    bad=b'[{"\\u001f\\u001f":-100000,"\\u001f\xc2\x80":null,"0\\u001f\xc2\x80":null}]\n',
    where=0,
    func="sum",
)
@given(
    seed=st.integers(0, 10_000),
    bad=st.none() | hostile.json_line(),
    where=st.integers(0, 40),
    func=st.sampled_from(hostile.FUNCS),
)
def test_duckdb_prints_what_the_default_engine_prints_for_real_logs(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    bad: bytes | None,
    where: int,
    func: str,
) -> None:
    """Logs of every kind of event (`test_cli.make_events`), with one arbitrary JSON
    line put in somewhere, or none."""
    folder = tmp_path_factory.mktemp("logs")
    meter = folder / "meter.json"
    meter.write_text(json.dumps(hostile.meter_doc(func)))
    lines = jsonl(make_events(seed, 40)).encode().splitlines(keepends=True)
    if bad is not None:
        lines.insert(where, bad)
    path = folder / "events.jsonl"
    path.write_bytes(b"".join(lines))
    argv = ["usage", "--meter", str(meter), "--events", str(path), "--format", "csv"]
    default = hostile.run_main(argv, "utf-8")
    duck = hostile.run_main([*argv, "--engine", "duckdb"], "utf-8")
    assert (duck.code, duck.out) == (default.code, default.out), duck.err
    if default.code:
        assert duck.err.splitlines()[-1] == default.err.splitlines()[-1]


@pytest.mark.parametrize("key", ["total_tokens", "other"])
def test_a_repeated_metadata_key_reads_as_the_default_engine_reads_it(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], key: str
) -> None:
    # DuckDB reads the first of repeated keys, Python the last: DuckDB refuses an
    # event repeating a key the meter reads, and the default engine reads the file.
    lines = jsonl(make_events(7, 30)).splitlines()
    at = next(i for i, line in enumerate(lines) if '"total_tokens"' in line)
    lines[at] = lines[at].replace('"metadata": {', f'"metadata": {{"{key}": 99999, ', 1)
    path = write(files["dir"] / "e.jsonl", "\n".join(lines) + "\n")
    default, duck = both(
        capsys, "usage --format json", meter=files["meter"], events=path
    )
    assert default[0] == duck[0] == 0
    assert duck[1] == default[1]
    assert "99999" not in default[1]
    fell_back = "reading it with the default engine" in duck[2]
    assert fell_back is (key == "total_tokens")


def test_events_of_no_customer_are_checked_when_there_are_some(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    # Without events lacking a customer_id, their two queries are skipped; with
    # one, a bad event of no customer still sends the file to the default engine.
    good = [use({"customer_id": CUSTOMER_A}, 5), use({"customer_id": CUSTOMER_B}, 7)]
    path = write(files["dir"] / "ids.jsonl", jsonl(good))
    default, duck = both(
        capsys, "usage --format json", meter=files["meter"], events=path
    )
    assert (duck[0], duck[1]) == (default[0], default[1]) == (0, default[1])
    assert duck[2] == f"{path}: read by DuckDB: 2 customers\n"
    bad = write(files["dir"] / "bad.jsonl", jsonl([*good, use({}, 5, source="admin")]))
    default, duck = both(capsys, "usage", meter=files["meter"], events=bad)
    assert default[0] == duck[0] == 1
    assert duck[2].splitlines()[-1] == default[2].strip()
    assert default[2].startswith(f"{bad}:3: ")


def test_an_id_is_read_by_neither_engine(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    # `usage` never reads an event's `id` (`validate --strict` checks it).
    events = [use({"customer_id": CUSTOMER_A}, 5, id="evt_1")]
    path = write(files["dir"] / "e.jsonl", jsonl(events))
    default, duck = both(
        capsys, "usage --format json", meter=files["meter"], events=path
    )
    assert default[0] == duck[0] == 0
    assert duck[1] == default[1]
    assert json.loads(duck[1])["consumed_units"] == 5
