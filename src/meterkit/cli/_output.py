"""Writing the CLI's results: whole, encodable, and safe to show on a terminal.

Rule 1: a result is built in full as text before anything is written, so an error
found while building it leaves stdout empty (no CSV header and then a crash).
Rule 2: table cells are for people: a character that `str.isprintable` calls
non-printable (ESC and every other C0 or C1 control, DEL, a line break or tab, a
lone surrogate, a format character such as U+202E) or that stdout's encoding cannot
hold is shown as its Python escape (``\\x1b``, ``\\n``, ``\\u202e``, ``\\ud800``),
so data can neither move the cursor, recolour the terminal nor break the columns.
Rule 3: CSV and JSON are for programs: values are written exactly. CSV quotes a
field holding a comma, a double quote, CR or LF (RFC 4180); JSON escapes every
non-ASCII character (``json.dumps``' default). Only a character stdout's encoding
cannot hold (a lone surrogate anywhere, or ``ß`` on an ASCII stdout) is written as
its backslash escape instead.
Rule 4: every byte is written or an error is raised: a closed pipe raises
`BrokenPipeError` (exit 141) even when the pipe took part of a large write, and any
other failure to write becomes a one-line error.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import sys
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, BinaryIO

__all__ = [
    "OutputError",
    "csv_text",
    "flush_out",
    "json_line",
    "number_text",
    "shown",
    "stdout_errors",
    "table",
    "width",
    "write_out",
]


class OutputError(Exception):
    """Stdout cannot be written (a full disk, a closed terminal): exit 1, with the
    message on stderr as it is. A closed pipe is a `BrokenPipeError` instead."""


#: Text is encoded and written in slices of this many characters, so a large result
#: is not held twice (as text and as bytes) in memory.
_SLICE = 1 << 20


def number_text(value: object) -> str:
    """A number as its JSON text, the way the JSON output writes it."""
    return json.dumps(value)


def json_line(record: Any) -> str:
    """One compact JSON line; non-ASCII and lone surrogates are ``\\u`` escapes."""
    return json.dumps(record, separators=(",", ":")) + "\n"


def _csv_field(text: str) -> str:
    if any(mark in text for mark in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """CSV (RFC 4180 quoting, ``\\n`` line ends) with every value exact (Rule 3).

    The `csv` module quotes a lone CR only when it is part of the line terminator,
    so a value holding one would end a record early in many readers.
    """
    return "".join(",".join(map(_csv_field, row)) + "\n" for row in rows)


def _escape(char: str) -> str:
    """``char`` as Python writes it in a string literal's ``repr`` (``\\n``,
    ``\\x1b``, ``\\u202e``): what `ascii` writes for any character but a quote
    or a backslash, which are printable and never escaped here."""
    return ascii(char)[1:-1]


def _is_utf(encoding: str) -> bool:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return name in ("utf-8", "utf-16", "utf-32")


def _encodable(char: str, encoding: str) -> bool:
    try:
        char.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


def shown(text: str, encoding: str = "utf-8") -> str:
    """``text`` as a table cell shows it (Rule 2): non-printable characters, and
    those ``encoding`` cannot hold, as Python escapes; the rest as it is.

    >>> print(shown("acme\\x1b[2J\\n"))
    acme\\x1b[2J\\n
    >>> print(shown("\\ud800ß", "ascii"))
    \\ud800\\xdf
    """
    return _shown(text, encoding, _is_utf(encoding))


def _shown(text: str, encoding: str, utf: bool) -> str:
    if text.isprintable() and (utf or text.isascii()):
        return text
    if utf:
        return "".join(c if c.isprintable() else _escape(c) for c in text)
    return "".join(
        c if c.isprintable() and _encodable(c, encoding) else _escape(c) for c in text
    )


def width(text: str) -> int:
    """The columns ``text`` takes on a terminal: East Asian wide and full-width
    characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    total = 0
    for char in text:
        if unicodedata.category(char) in ("Mn", "Me"):
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def _stdout_encoding() -> str:
    return getattr(sys.stdout, "encoding", None) or "utf-8"


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    left: int = 1,
    *,
    right: Collection[int] | None = None,
) -> str:
    """An aligned text table, every cell `shown` for stdout's encoding.

    The first ``left`` columns are aligned to the left and the others to the
    right; or, with ``right``, those columns to the right and the others to the
    left.
    """
    encoding = _stdout_encoding()
    utf = _is_utf(encoding)
    cells = [[_shown(cell, encoding, utf) for cell in row] for row in (header, *rows)]
    sizes = [[width(cell) for cell in row] for row in cells]
    widths = [max(row[i] for row in sizes) for i in range(len(header))]
    to_right = set(right) if right is not None else set(range(left, len(header)))
    lines = []
    for row, row_sizes in zip(cells, sizes, strict=True):
        padded = [
            " " * (wide - size) + cell if i in to_right else cell + " " * (wide - size)
            for i, (cell, size, wide) in enumerate(
                zip(row, row_sizes, widths, strict=True)
            )
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


def _slices(text: str) -> Iterator[str]:
    for start in range(0, len(text), _SLICE):
        yield text[start : start + _SLICE]


def _write_all(buffer: BinaryIO, data: bytes) -> None:
    """Write every byte of ``data``: a buffered writer may take only part of a
    large write when the reader goes away, and say so only in its return value."""
    view = memoryview(data)
    while view:
        written = buffer.write(view)
        if written is None:  # a raw, non-blocking stream that would block
            raise BlockingIOError(11, "Resource temporarily unavailable")
        view = view[written:]


def write_out(text: str) -> None:
    """Write ``text`` to stdout in full and flush it (Rule 4).

    The text is encoded here, with backslash escapes for what stdout's encoding
    cannot hold, and written to the binary layer, checking that every byte is
    taken. A closed pipe raises `BrokenPipeError`; another failure is an `OutputError`.
    """
    stream = sys.stdout
    if stream is None:  # no stdout at all (pythonw): nowhere to write
        return
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is None:  # a text-only stream (io.StringIO): nothing to encode
            stream.write(text)
            stream.flush()
            return
        encoding = _stdout_encoding()
        stream.flush()  # what was printed before goes first
        for part in _slices(text):
            _write_all(buffer, part.encode(encoding, "backslashreplace"))
        buffer.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"<stdout>: cannot write: {exc.strerror or exc}") from None


def flush_out() -> None:
    """Flush stdout; a failure to write is an `OutputError`, a closed pipe a
    `BrokenPipeError`."""
    stream = sys.stdout
    if stream is None:
        return
    try:
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"<stdout>: cannot write: {exc.strerror or exc}") from None


@contextlib.contextmanager
def stdout_errors() -> Iterator[None]:
    """Within the block, text printed to stdout that its encoding cannot hold is
    written as backslash escapes instead of raising `UnicodeEncodeError`."""
    stream = sys.stdout
    reconfigure = getattr(stream, "reconfigure", None)
    before = getattr(stream, "errors", None)
    if reconfigure is None or before is None or before == "backslashreplace":
        yield
        return
    try:
        reconfigure(errors="backslashreplace")
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            reconfigure(errors=before)
