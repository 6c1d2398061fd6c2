"""Reading JSON Lines in the command line: the same values and the same errors with
orjson (the ``meterkit[fast]`` extra) as with the json module, bounded lines, and
the messages a newcomer sees for files that are not JSON Lines."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterkit.cli import _io
from meterkit.cli._io import EventLines, Progress, Stop

orjson = pytest.importorskip("orjson")  # `make test` installs it (test extra)

HOSTILE = [
    b'{"a": 1e400}',
    b'{"a": -1e400}',
    b'{"a": 1e-400}',
    b'{"a": 0.0000000000000000000000000001}',
    b'{"a": 123456789012345678901234567890}',
    b'{"a": 18446744073709551616}',
    b'{"a": -9223372036854775809}',
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": "\\ud800"}',
    b'{"a": "\\udc00\\ud800"}',
    b'\xff{"a": 1}',
    b'\xef\xbb\xbf{"a": 1}',
    b"[" * 3000 + b"]" * 3000,
    b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b"1" * 5000,
    b'{"a": 1, "a": 2}',
    b'{"a": 1}  ',
    b'{"a": 1} x',
    b"{",
    b"[",
    b'"just a string"',
    b"[1, 2.5, true, null]",
    b'{"a": 0.1, "b": 1E5, "c": -0.0, "d": 1.7976931348623157e308}',
]


def read_with(raw: bytes, reader: str) -> str:
    """What `EventLines` makes of one line with ``reader`` (``json`` or
    ``orjson``), as a repr: an int read as a float shows."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("METERKIT_JSON", reader)
        assert (_io._orjson() is None) is (reader == "json")
        return repr(read(raw + b"\n", skip=True))


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_orjson_reads_a_line_as_json_does(raw: bytes) -> None:
    assert read_with(raw, "orjson") == read_with(raw, "json")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(value=json_values, data=st.data())
def test_orjson_and_json_agree_on_any_line(value: object, data: st.DataObject) -> None:
    raw = json.dumps(value).encode()
    if data.draw(st.booleans()):  # and on a line broken somewhere
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    assert read_with(raw, "orjson") == read_with(raw, "json")


def read(data: bytes, *, skip: bool, max_line: int = _io.MAX_LINE_BYTES) -> tuple:
    found: list[str] = []
    lines = EventLines(
        "e.jsonl",
        io.BufferedReader(io.BytesIO(data)),
        Progress(None),
        (lambda line, message: found.append(message)) if skip else None,
        max_line,
    )
    try:
        values = list(lines)
    except Stop as stop:
        return ("stop", str(stop))
    return ("read", values, found, lines.lines, lines.valid, lines.invalid)


def test_a_line_over_the_limit_is_invalid_and_not_held() -> None:
    long = b'{"a": "' + b"x" * 5000 + b'"}\n'
    result = read(b'{"a": 1}\n' + long + b'{"a": 2}\n', skip=True, max_line=1000)
    assert result[1] == [(1, {"a": 1}), (3, {"a": 2})]
    assert result[2] == [
        "e.jsonl:2: line longer than 1,000 bytes (raise the limit with"
        " --max-line-bytes)"
    ]
    assert result[3:] == (3, 2, 1)
    assert read(long, skip=False, max_line=1000)[0] == "stop"


def test_a_gzip_line_of_a_gigabyte_is_skipped_in_pieces() -> None:
    # 64 MB of one line compress to almost nothing; reading it must not hold it.
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb") as out:
        out.write(b'{"a": "')
        for _ in range(64):
            out.write(b"x" * (1 << 20))
        out.write(b'"}\n{"a": 1}\n')
    packed.seek(0)
    found: list[str] = []
    lines = EventLines(
        "e.jsonl.gz",
        gzip.GzipFile(fileobj=packed),
        Progress(None),
        lambda line, message: found.append(message),
    )
    assert list(lines) == [(2, {"a": 1})]
    assert found[0].startswith("e.jsonl.gz:1: line longer than 1,048,576 bytes")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"a": 1}\n{"a": ',
            "e.jsonl:2: truncated last line (no line break at its end): invalid"
            " JSON: Expecting value at column 7",
        ),
        (
            b"[\n" + b'{"a": 1},\n' + b"]\n",
            "e.jsonl:1: invalid JSON: Expecting value at column 2 (meterkit reads"
            " JSON Lines: one event object per line; this looks like a JSON array"
            " or pretty-printed JSON)",
        ),
        (b"\xff\n", "e.jsonl:1: not UTF-8 text: byte 0xff at column 1"),
        (
            b"[" * 5000 + b"\n",
            "e.jsonl:1: nested too deeply: JSON arrays and objects more than 512"
            " levels deep are not read",
        ),
        (
            b'{"a":' * 513 + b"1" + b"}" * 513 + b"\n",
            "e.jsonl:1: nested too deeply: JSON arrays and objects more than 512",
        ),
        (
            b'{"a": ' + b"1" * 5000 + b"}\n",
            "e.jsonl:1: a number has more digits than can be read (at most 4,300"
            " digits)",
        ),
    ],
    ids=["truncated", "json-array", "not-utf8", "deep", "deep-objects", "huge-int"],
)
def test_messages_for_lines_that_are_not_json_lines(data: bytes, message: str) -> None:
    result = read(data, skip=False)
    assert result[0] == "stop"
    assert result[1].startswith(message)
    skipped = read(data, skip=True)
    assert skipped[0] == "read"
    assert skipped[2][0].startswith(message)
    assert skipped[3] == skipped[4] + skipped[5] + data.count(b"\n\n")


def test_the_file_reader_takes_both_decoders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"\n".join(HOSTILE) + b"\n"
    fast = read(data, skip=True)
    monkeypatch.setenv("METERKIT_JSON", "json")
    assert read(data, skip=True) == fast


def test_512_levels_are_read_and_brackets_in_strings_do_not_count() -> None:
    deep = b"[" * 512 + b"]" * 512
    assert read(deep + b"\n", skip=False)[0] == "read"
    inner = b"[" * 511 + b"]" * 511  # 512 levels with the object around it
    text = b'{"a": "' + b"[" * 2000 + b'", "b": ' + inner + b"}\n"
    assert read(text, skip=False)[0] == "read"


# -- lines cut from blocks -----------------------------------------------------------

# Lines as a file may hold them: events, hostile lines (numbers orjson reads
# differently, next to UUID-like text the byte test also finds), blank lines,
# broken JSON; each ending in LF, CR LF, or (the last) nothing.
file_lines = st.lists(
    st.one_of(
        json_values.map(lambda value: json.dumps(value).encode()),
        st.sampled_from(HOSTILE[:8] + HOSTILE[15:]),
        st.sampled_from(
            [b"", b"   ", b"\r", b'{"id": "abc1234e-5678-9e-123"}', b'{"a": 9e-123}']
        ),
        st.binary(max_size=30),
    ),
    max_size=25,
)


def file_of(lines: list[bytes], ends: list[bytes]) -> bytes:
    return b"".join(line + end for line, end in zip(lines, ends, strict=False))


@given(
    lines=file_lines,
    ends=st.lists(st.sampled_from([b"\n", b"\r\n", b""]), min_size=25, max_size=25),
    block=st.integers(1, 80),
    skip=st.booleans(),
    fast=st.booleans(),
)
def test_any_block_size_reads_a_file_as_one_block_does(
    lines: list[bytes], ends: list[bytes], block: int, skip: bool, fast: bool
) -> None:
    # Only the last line may lack its line break (a file being written).
    ends = [end or b"\n" for end in ends[: len(lines) - 1]] + ends[len(lines) - 1 :]
    data = file_of(lines, ends)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("METERKIT_JSON", "orjson" if fast else "json")
        whole = repr(read(data, skip=skip, max_line=60))  # an int read as a float shows
        patch.setattr(_io, "BLOCK_BYTES", block)
        assert repr(read(data, skip=skip, max_line=60)) == whole
        # orjson or not, every value and every message is the same.
        patch.setenv("METERKIT_JSON", "json" if fast else "orjson")
        assert repr(read(data, skip=skip, max_line=60)) == whole


def test_a_line_longer_than_the_limit_across_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_io, "BLOCK_BYTES", 16)
    data = b'{"a": 1}\n{"a": "' + b"x" * 200 + b'"}\n{"a": 2}\r\n{"a": 3'
    result = read(data, skip=True, max_line=100)
    assert result[1] == [(1, {"a": 1}), (3, {"a": 2})]
    assert result[2] == [
        "e.jsonl:2: line longer than 100 bytes (raise the limit with --max-line-bytes)",
        "e.jsonl:4: truncated last line (no line break at its end): invalid JSON:"
        " Expecting ',' delimiter at column 8",
    ]
    assert result[3:] == (4, 2, 2)
    # The limit counts a line without its line break, CR LF included.
    exact = b'{"a": "' + b"x" * 91 + b'"}'
    assert read(exact + b"\r\n" + exact + b"\n", skip=True, max_line=100)[1] == [
        (1, {"a": "x" * 91}),
        (2, {"a": "x" * 91}),
    ]


def test_events_before_a_bad_line_of_a_block_are_handed_over_first() -> None:
    # Stopping at line 3, the consumer has already been given lines 1 and 2.
    seen: list[int] = []
    lines = EventLines(
        "e.jsonl",
        io.BufferedReader(io.BytesIO(b'{"a": 1}\n{"a": 2}\n{\n{"a": 4}\n')),
        Progress(None),
    )
    batches = lines.batches()
    numbers, _ = next(batches)
    seen.extend(numbers)
    with pytest.raises(Stop, match=r"e\.jsonl:3: invalid JSON"):
        next(batches)
    assert seen == [1, 2]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a": 1}\n{"a": 123456789012345678901}\n', [2]),
        (b'{"a": 1e-400}\n{"a": 1}\n{"b": 2.5E-308}\n', [1, 3]),
        (b'{"id": "abc1234e-5678"}\n', [1]),  # text too: the walk decides
        (b'{"a": 1e-40, "b": 12345678901234567}\n', []),
    ],
)
def test_the_byte_test_names_the_lines_to_read_again(
    data: bytes, expected: list[int]
) -> None:
    lines = [data.count(b"\n", 0, at) + 1 for at in _io._suspects(data)]
    assert lines == expected


def test_the_byte_test_finds_its_line_deep_in_a_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The line is found by its offset in the block, after many short lines.
    data = b"{}\n" * 40 + b'{"a":123456789012345678901}\n{"b":1e-999}\n'
    assert len(data) < _io.BLOCK_BYTES
    monkeypatch.setenv("METERKIT_JSON", "orjson")
    found = read(data, skip=True)
    assert found[1][40] == (41, {"a": 123456789012345678901})
    assert found[2] == [
        "e.jsonl:42: number 1e-999 is out of range: it would be read as 0.0"
    ]
