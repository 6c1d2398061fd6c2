"""The command line on hostile input: no traceback, no half result, no lost line.

Hypothesis writes events files of arbitrary bytes and arbitrary JSON lines (deep
nesting, lone surrogates, huge numbers, every JSON type in every field of an event)
and runs every command on them, in-process through `main` (stdout a byte stream in
UTF-8, Latin-1 or ASCII), with and without ``--skip-invalid``. Every run must:

- exit 0 or 1 (the flags are good, so never 2), and raise nothing but exit;
- print no traceback, and nothing on stdout when it fails (``validate`` excepted:
  its report is its result);
- write output its stdout's encoding holds, and table cells without control
  characters;
- account for every line: the events read, the invalid lines and the blank lines
  add up to the lines of the file (the summary on stderr, ``validate``'s report on
  stdout).

A few real processes run the same kind of files through ``python -m meterkit``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from meterkit.cli import main

from .test_cli import METER_DOC

METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"
CUSTOMER = "992fae2a-2a17-4b7a-8d9e-e287cf90131b"


def meter_doc(func: str) -> dict[str, Any]:
    """`test_cli.METER_DOC` with the aggregation ``func`` (of ``total_tokens``)."""
    aggregation: dict[str, Any] = {"func": func}
    if func != "count":
        aggregation["property"] = "total_tokens"
    return {**METER_DOC, "aggregation": aggregation}


FUNCS = ("sum", "max", "unique", "count")

# -- lines ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is: numbers no Python value dumps to, deep nesting."""

    text: str


DEEP = [
    Raw("[" * 950 + "]" * 950),  # about the recursion limit, where it is
    Raw("[" * 1000 + "]" * 1000),
    Raw("[" * 1900 + "]" * 1900),
    Raw("[" * 5000 + "]" * 5000),
    Raw('{"a":' * 1000 + "1" + "}" * 1000),
    Raw('{"a":' * 3000 + "1" + "}" * 3000),
    Raw("[" * 4000),  # never closed
    Raw('{"a":[' * 1500 + "]}" * 1500),
]
HUGE = [
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    Raw("9" * 5000),
    Raw("1" + "0" * 4400),
    Raw("-" + "9" * 30),
    Raw("123456789012345678901234567890.5"),
    Raw("18446744073709551616"),
    Raw("NaN"),
    Raw("-Infinity"),
]
NASTY = [
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\ud83d\ude00",  # a pair written as two escapes: one character once read
    "line\nbreak",
    "tab\there",
    "cr\rhere",
    "\x1b[2J\x1b[31mred",
    "\x1b]0;title\x07",
    "\x9b31m",  # C1 CSI
    "\x00nul",
    "\x7f",
    "\u202eevil",  # right-to-left override
    "\u2028",
    "zeta-ß",
    "日本語",
    "e\u0301",
    "",
    " ",
    "\\",
    '"',
    ",",
    "acme",
    CUSTOMER,
    CUSTOMER.upper(),
    "llm",
    "meter.credited",
    "2025-03-01T00:00:00Z",
]

texts = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=6),
    st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zl"]), max_size=3),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: Raw(str(d))),
    st.sampled_from(HUGE),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3)
    ),
    max_leaves=6,
) | st.sampled_from(DEEP)


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: mostly a plausible one, often anything at all."""
    return st.one_of(good, good, values)


timestamps = st.sampled_from(
    [
        "2025-03-01T00:00:00Z",
        "2025-03-01T12:30:00+01:00",
        "2025-03-02T23:59:59.999999Z",
        "2025-02-29T00:00:00Z",
        "2025-03-01",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",
    ]
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "total_tokens": field(numbers),
        "meter_id": field(st.just(METER_ID)),
        "units": field(st.integers(-5, 50)),
        "rollover": field(st.booleans()),
        "nested": values,
    },
)
events = st.fixed_dictionaries(
    {},
    optional={
        "name": field(st.sampled_from(["llm", "meter.credited", "meter.reset", "x"])),
        "timestamp": field(timestamps),
        "customer_id": field(st.sampled_from([CUSTOMER, CUSTOMER.upper()])),
        "external_customer_id": field(texts),
        "external_id": field(st.sampled_from(["e1", "e2", "e3"])),
        "source": field(st.sampled_from(["user", "system"])),
        "metadata": field(metadata),
    },
)


def dump(value: Any, ascii_only: bool) -> str:
    """JSON text of ``value``, `Raw` parts written as they are."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (
            f"{json.dumps(key, ensure_ascii=ascii_only)}:{dump(item, ascii_only)}"
            for key, item in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(item, ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


@st.composite
def json_line(draw: st.DrawFn) -> bytes:
    value = draw(st.one_of(events, events, values))
    ascii_only = draw(st.booleans())
    # Without ensure_ascii, a lone surrogate becomes bytes that are not UTF-8.
    text = dump(value, ascii_only).encode("utf-8", "surrogatepass")
    return text + draw(st.sampled_from([b"\n", b"\n", b"\r\n"]))


lines = st.one_of(
    json_line(),
    json_line(),
    json_line(),
    st.binary(max_size=40),  # may hold line breaks: several lines, or none
    st.sampled_from([b"\n", b"  \n", b"\t\r\n", b"\x0b\n", b"{\n", b"\xff\xfe\n"]),
)


@st.composite
def event_files(draw: st.DrawFn) -> bytes:
    """A JSON Lines file of hostile lines. Not one that starts with the gzip magic
    bytes: that is read as a (here corrupt) gzip stream, whose lines are not the
    raw bytes' lines, so they cannot be accounted for against them; corrupt gzip has
    its own test (`test_cli.test_directory_and_corrupt_gzip`)."""
    data = b"".join(draw(st.lists(lines, max_size=12)))
    if draw(st.booleans()) and data and not data.endswith(b"\n"):
        data += b"\n"
    return b" " + data if data.startswith(b"\x1f\x8b") else data


def count_lines(data: bytes) -> tuple[int, int]:
    """The lines of ``data`` as a reader splits them, and how many are blank."""
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()  # the file ends with a line break (or is empty)
    return len(pieces), sum(1 for piece in pieces if not piece.strip())


# -- commands -------------------------------------------------------------------------


def commands(meter: Path, events_file: Path) -> list[list[str]]:
    base = ["--meter", str(meter), "--events", str(events_file)]
    period = ["--start", "2025-03-01", "--end", "2025-03-03", "--interval", "day"]
    runs: list[list[str]] = []
    for skip in ([], ["--skip-invalid"]):
        for form in ("table", "json", "csv"):
            runs.append(["usage", *base, "--format", form, *skip])
        for form in ("table", "json"):
            runs.append(["quantities", *base, *period, "--format", form, *skip])
    runs.append(["usage", *base, "--customer", "acme", CUSTOMER, "--skip-invalid"])
    runs.append(["quantities", *base, *period, "--customer", CUSTOMER])
    runs.append(["explain", *base, "--customer", CUSTOMER])
    runs.append(["explain", *base, "--customer", "acme", "--format", "json"])
    runs.append(["validate", "--events", str(events_file)])
    runs.append(["validate", "--events", str(events_file), "--meter", str(meter)])
    return runs


@dataclass
class Result:
    argv: list[str]
    code: int
    out: bytes
    err: str

    @property
    def command(self) -> str:
        return self.argv[0]

    def option(self, name: str) -> str | None:
        return self.argv[self.argv.index(name) + 1] if name in self.argv else None


def run_main(argv: list[str], encoding: str) -> Result:
    """`main` in-process, stdout a byte stream in ``encoding`` like a real one."""
    out = io.TextIOWrapper(io.BytesIO(), encoding=encoding, write_through=False)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: the flags are good, so never
            code = exc.code if isinstance(exc.code, int) else 2
        out.flush()
        err.flush()
    stdout = out.buffer.getvalue()  # type: ignore[attr-defined]
    stderr = err.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    return Result(argv, code, stdout, stderr)


NUMBER = r"(\d[\d,]*)"
SUMMARY = re.compile(rf"{NUMBER} lines? read: {NUMBER} events?, {NUMBER} invalid")
VALID = re.compile(rf"{NUMBER} valid events? on {NUMBER} lines?$")
INVALID = re.compile(
    rf"{NUMBER} invalid lines? of {NUMBER} \({NUMBER} valid events?\)$"
)


def numbers_of(match: re.Match[str]) -> list[int]:
    return [int(group.replace(",", "")) for group in match.groups()]


def check(result: Result, encoding: str, total: int, blank: int, path: Path) -> None:
    """Every property of one run (see the module's docstring)."""
    where = f"{result.argv} exited {result.code}\nstderr: {result.err!r}"
    assert result.code in (0, 1), where
    assert "Traceback" not in result.err, where
    assert all(c.isprintable() or c == "\n" for c in result.err), where
    text = result.out.decode(encoding)  # output its encoding holds
    if result.command == "validate":
        last = text.splitlines()[-1]
        if result.code == 0:
            match = VALID.search(last)
            assert match is not None, where
            valid, read = numbers_of(match)
            assert (read, valid + blank) == (total, total), where
        else:
            match = INVALID.search(last)
            assert match is not None, where
            invalid, read, valid = numbers_of(match)
            assert (read, invalid + valid + blank) == (total, total), where
        return
    if result.code == 1:
        assert text == "", where  # a failed run writes nothing on stdout
        assert re.search(
            rf"^({re.escape(str(path))}:\d+|meterkit: error): ", result.err, re.M
        ), where
        return
    form = result.option("--format") or "table"
    if form == "table":
        assert all(c.isprintable() or c == "\n" for c in text), where
    elif form == "json":
        for line in text.splitlines():
            json.loads(line)
    else:
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert len({len(row) for row in rows}) == 1, where
    if result.command in ("usage", "quantities"):
        match = SUMMARY.search(result.err)
        assert match is not None, where  # the run's summary on stderr
        read, counted, invalid = numbers_of(match)
        assert read == total, where
        assert counted + invalid + blank == total, where
        if "--skip-invalid" not in result.argv:
            assert invalid == 0, where


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile")
    for func in FUNCS:
        (path / f"{func}.json").write_text(json.dumps(meter_doc(func)))
    return path


# No shrinking: every example runs fifteen commands, so shrinking a failure takes
# minutes; the falsifying file and the failing run's stderr say enough.
@settings(
    max_examples=60,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=event_files(),
    func=st.sampled_from(FUNCS),
    encoding=st.sampled_from(["utf-8", "latin-1", "ascii"]),
)
def test_every_command_survives_any_file(
    workdir: Path, data: bytes, func: str, encoding: str
) -> None:
    path = workdir / "events.jsonl"
    path.write_bytes(data)
    total, blank = count_lines(data)
    for argv in commands(workdir / f"{func}.json", path):
        check(run_main(argv, encoding), encoding, total, blank, path)


# Lines no reader should die on, one per line: every run must account for each.
HOSTILE_LINES = [dump(deep, True).encode() for deep in DEEP] + [
    b'{"name": "llm", "timestamp": "2025-03-01T00:00:00Z", "external_customer_id": '
    b'"\\ud800", "metadata": {"total_tokens": 5}}',
    b'{"name": "llm", "timestamp": "2025-03-01T00:00:00Z", "external_customer_id": '
    b'"\x1b[2J\\n\\u009b\xc3\x9f", "metadata": {"total_tokens": 7}}',
    b'{"name": "llm", "timestamp": "2025-03-01T00:00:00Z", "external_customer_id": '
    b'"acme", "metadata": {"total_tokens": ' + b"9" * 5000 + b"}}",
    b'{"name": "llm", "timestamp": "2025-03-01T00:00:00Z", "external_customer_id": '
    b'"acme", "metadata": {"total_tokens": 1e400}}',
    b'{"name": "llm", "timestamp": "2025-03-01T00:00:00Z", "external_customer_id": '
    b'"acme", "metadata": {"total_tokens": ' + b"[" * 3000 + b"]" * 3000 + b"}}",
    b'{"name": "llm", "timestamp": "2025-03-01T00:00:00Z", "customer_id": '
    b'"' + CUSTOMER.encode() + b'", "metadata": {"total_tokens": 3}}',
    b"\xff\xfe{}",
    b"",
    b'{"name": "llm", "timestamp": "2025-03-01T00:00:00Z", "external_customer_id": '
    b'"acme", "metadata": {"total_tokens": 1}',  # cut short
]


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "ascii"])
def test_hostile_lines_in_process(workdir: Path, encoding: str) -> None:
    data = b"\n".join(HOSTILE_LINES) + b"\n"
    path = workdir / "hostile.jsonl"
    path.write_bytes(data)
    total, blank = count_lines(data)
    for argv in commands(workdir / "sum.json", path):
        result = run_main(argv, encoding)
        check(result, encoding, total, blank, path)
        if "--skip-invalid" in argv and result.command == "usage":
            assert result.code == 0, result.err


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
@pytest.mark.parametrize(
    "argv",
    [
        ["usage", "--format", "table"],
        ["usage", "--format", "csv", "--skip-invalid"],
        ["usage", "--format", "json", "--skip-invalid"],
        [
            *("quantities", "--start", "2025-03-01", "--end", "2025-03-02"),
            *("--interval", "day", "--skip-invalid"),
        ],
        ["explain", "--customer", "acme"],
        ["validate"],
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else value,
)
@pytest.mark.parametrize("good_first", [True, False], ids=["good", "hostile"])
def test_hostile_lines_in_a_process(
    workdir: Path, argv: list[str], encoding: str, good_first: bool
) -> None:
    """The real program, its stdin the events, its stdout in ``encoding``."""
    good = (
        b'{"name": "llm", "timestamp": "2025-03-01T00:00:00Z", '
        b'"external_customer_id": "\\u001b[2Jacme-\\u00df\\ud800", '
        b'"metadata": {"total_tokens": 5}}\n'
    )
    hostile = b"\n".join(HOSTILE_LINES) + b"\n"
    data = good if good_first else hostile
    done = subprocess.run(
        [sys.executable, "-m", "meterkit", *argv]
        + ["--events", "-"]
        + ([] if argv[0] == "validate" else ["--meter", str(workdir / "sum.json")]),
        input=data,
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": encoding},
        check=False,
        timeout=120,
    )
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode in (0, 1), err
    assert b"Traceback" not in done.stderr, err
    done.stdout.decode(encoding)
    if done.returncode == 1 and argv[0] != "validate":
        assert done.stdout == b"", err
    if good_first:
        assert done.returncode == 0, err
        if argv[-1] == "table" or argv[0] == "explain":
            assert b"\x1b" not in done.stdout
            assert b"\\x1b[2Jacme-" in done.stdout


def test_arbitrary_bytes_on_stdin_of_a_process(workdir: Path) -> None:
    data = bytes(range(256)) * 40 + b"\n" + b"\x00" * 1000 + b"\n\x1f\x8b\x08garbage"
    for argv in (["usage", "--meter", str(workdir / "sum.json")], ["validate"]):
        done = subprocess.run(
            [sys.executable, "-m", "meterkit", *argv, "--events", "-"],
            input=data,
            capture_output=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 1
        assert b"Traceback" not in done.stderr
        if argv[0] == "usage":
            assert done.stdout == b""
