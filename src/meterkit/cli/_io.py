"""Reading the CLI's inputs, locating errors in them, and writing aligned tables.

Rule 1: events are JSON Lines read as bytes, one line at a time; ``-`` is stdin, and
gzip data is decompressed whatever the file's name (by its magic bytes). Blank
lines are skipped but counted, so line numbers are those of an editor.
Rule 2: every problem found in a file becomes one line: ``FILE:LINE: MESSAGE`` for
events, ``FILE: MESSAGE`` for a meter or a price, with the field as a JSON path
within the line or document (``$.timestamp``).
Rule 3: the progress line is written only to a terminal, with ``\\r``, at most
every half second, and erased at the end.
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import json
import math
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, NoReturn, TypeVar, cast

from ..errors import MeterkitError
from ..meters import Meter
from ..pricing import Price
from ..serialization import from_json, price_from_json

__all__ = [
    "EventLines",
    "LineNumbers",
    "Progress",
    "Stop",
    "check_price",
    "event_index",
    "number_text",
    "open_events",
    "read_document",
    "read_price",
    "relocated",
    "table",
]

T = TypeVar("T")

#: How many bad lines the ``--skip-invalid`` report shows in full.
SHOWN_INVALID = 5

_EVENT_PATH = re.compile(r"events\[(\d+)\]")

# The progress clock; tests replace it to make time pass.
clock: Callable[[], float] = time.monotonic


class Stop(Exception):
    """Ends the run with exit code 1; the message goes to stderr as it is."""


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def _read_file(path: str, read: Callable[[bytes], T]) -> T:
    """``read`` applied to the bytes of the file ``path``, errors made one line."""
    try:
        with open(path, "rb") as file:
            text = file.read()
    except OSError as exc:
        raise Stop(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return read(text)
    except MeterkitError as exc:
        raise Stop(f"{path}: {exc}") from None


def read_document(cls: type[T], path: str) -> T:
    """A wire JSON document (a meter, a price) read from the file ``path``."""
    return _read_file(path, lambda text: from_json(cls, text))


def read_price(path: str) -> Price:
    """A price of any kind (picked by its ``amount_type``) read from ``path``."""
    return _read_file(path, price_from_json)


def check_price(price: Price, meter: Meter, path: str) -> None:
    """A price must be one of the meter's."""
    if price.meter_id != meter.id:
        raise Stop(
            f"{path}: $.meter_id: the price is for meter {price.meter_id!r}, but "
            f"the meter given is {meter.id!r}; pass a price of that meter"
        )


@contextlib.contextmanager
def open_events(path: str) -> Iterator[Iterable[bytes]]:
    """The lines of ``path`` (``-`` is stdin) as bytes, gzip decompressed.

    Gzip is recognised by its magic bytes (no JSON text starts with byte 0x1f),
    or by a ``.gz`` name when the stream cannot be peeked at.
    """
    with contextlib.ExitStack() as stack:
        if path == "-":
            stream: IO[bytes] = sys.stdin.buffer
        else:
            try:
                stream = stack.enter_context(open(path, "rb"))
            except OSError as exc:
                raise Stop(f"{path}: cannot read: {exc.strerror or exc}") from None
        peek = getattr(stream, "peek", None)
        packed = peek(2)[:2] == b"\x1f\x8b" if peek else path.endswith(".gz")
        if packed:
            unpacked = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
            stream = cast("IO[bytes]", unpacked)
        yield stream


class Progress:
    """A ``\\r`` progress line on stderr when it is a terminal (Rule 3)."""

    def __init__(self, stream: IO[str] | None, every: float = 0.5) -> None:
        self._stream = stream
        self._every = every
        self._start = clock()
        self._next = self._start + every
        self._shown = False

    @classmethod
    def on_stderr(cls, quiet: bool) -> Progress:
        """Progress on stderr, unless ``quiet`` or stderr is not a terminal."""
        stream = sys.stderr
        return cls(None if quiet or not stream.isatty() else stream)

    def update(self, events: int) -> None:
        # Looking at the clock every 64 events keeps the cost out of the profile.
        if self._stream is None or events % 64:
            return
        now = clock()
        if now < self._next:
            return
        rate = events / max(now - self._start, 1e-9)
        self._stream.write(f"\r{events:,} events read, {rate:,.0f} events/s")
        self._stream.flush()
        self._shown = True
        self._next = now + self._every

    def close(self) -> None:
        if self._stream is not None and self._shown:
            self._stream.write("\r\x1b[K")  # erase the line (stderr is a terminal)
            self._stream.flush()
            self._shown = False


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


class _OutOfRange(ValueError):
    """A JSON number that a float cannot hold: it would be read as another number."""


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, refused when a float would
    silently change it: ``1e400`` would be infinity, ``1e-400`` zero."""
    value = float(text)
    if math.isinf(value) or (
        value == 0.0 and any(c in "123456789" for c in text.lower().split("e")[0])
    ):
        raise _OutOfRange(
            f"number {text[:40]} is out of range: it would be read as {value!r}"
        )
    return value


# One decoder for every line: `json.loads` with hooks builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


class EventLines:
    """The JSON values of an events file with their 1-based line numbers.

    A bad line goes to `fail`: without ``on_invalid`` that stops the run; with it,
    the line is counted, the first few are kept for the report, and
    ``on_invalid(message)`` is called.
    """

    def __init__(
        self,
        path: str,
        lines: Iterable[bytes],
        progress: Progress,
        on_invalid: Callable[[str], None] | None = None,
    ) -> None:
        self.name = display_name(path)
        self._lines = lines
        self._progress = progress
        self._on_invalid = on_invalid
        self.lines = 0  # lines read
        self.nonblank = 0  # lines that are not blank
        self.events = 0  # lines that are JSON
        self.invalid = 0  # lines passed to `fail`
        self._first_invalid: list[tuple[int, str]] = []

    def stop(self, line: int, message: str) -> NoReturn:
        """End the run at ``line``, the progress line erased first."""
        self._progress.close()
        raise Stop(f"{self.name}:{line}: {message}")

    def fail(self, line: int, message: str) -> None:
        """Report ``line`` as bad: stop, or count it and go on."""
        if self._on_invalid is None:
            self.stop(line, message)
        located = f"{self.name}:{line}: {message}"
        self._progress.close()  # a report line must not run into the progress
        self.invalid += 1
        if len(self._first_invalid) < SHOWN_INVALID:
            self._first_invalid.append((line, located))
        self._on_invalid(located)

    def __iter__(self) -> Iterator[tuple[int, object]]:
        try:
            for raw in self._lines:
                self.lines += 1
                if not raw.strip():
                    continue
                self.nonblank += 1
                try:
                    # Without its line break, an error's column is on this line.
                    text = raw.rstrip(b"\r\n").decode("utf-8")
                    value = _DECODER.decode(text)
                except json.JSONDecodeError as exc:
                    self.fail(
                        self.lines, f"invalid JSON: {exc.msg} at column {exc.colno}"
                    )
                    continue
                except _OutOfRange as exc:
                    self.fail(self.lines, str(exc))
                    continue
                except ValueError as exc:  # not UTF-8 text; NaN or Infinity
                    self.fail(self.lines, f"invalid JSON: {exc}")
                    continue
                self.events += 1
                self._progress.update(self.events)
                yield self.lines, value
        except (OSError, EOFError, zlib.error) as exc:
            # A corrupt or truncated gzip stream, or a failing device.
            raise Stop(f"{self.name}:{self.lines + 1}: cannot read: {exc}") from None
        finally:
            self._progress.close()

    def report_skipped(self) -> None:
        """The ``--skip-invalid`` report, on stderr, when a line was skipped."""
        if not self.invalid:
            return
        numbers = ", ".join(str(line) for line, _ in self._first_invalid)
        more = ", ..." if self.invalid > len(self._first_invalid) else ""
        print(
            f"{self.name}: skipped {self.invalid} invalid "
            f"line{'s' if self.invalid != 1 else ''} (line {numbers}{more}):",
            file=sys.stderr,
        )
        for _, message in self._first_invalid:
            print(f"  {message}", file=sys.stderr)


def relocated(exc: MeterkitError) -> str:
    """The error's text with its path made a JSON path within one line.

    The library names an event by its position in the stream (``events[7].name``);
    the line number already says where, so the position becomes ``$``. A bare
    field name (``customer_id``) becomes ``$.customer_id``; a JSON path stays.
    """
    path = exc.path
    if path is None or path.startswith("$"):
        return str(exc)
    if _EVENT_PATH.match(path):
        path = _EVENT_PATH.sub("$", path, count=1)
    else:
        path = f"$.{path}"
    return str(exc.at(path))


def event_index(exc: MeterkitError) -> int | None:
    """The position of the event an error names (``events[7]...``), if any."""
    match = _EVENT_PATH.match(exc.path or "")
    return int(match.group(1)) if match else None


class LineNumbers:
    """The line number of each event of a stream by position, in O(gaps) memory.

    Positions and line numbers advance together except at blank and skipped
    lines, so only the points where their difference changes are kept.
    """

    def __init__(self) -> None:
        self._starts = [0]
        self._offsets = [1]
        self._count = 0

    def append(self, line: int) -> None:
        offset = line - self._count
        if offset != self._offsets[-1]:
            self._starts.append(self._count)
            self._offsets.append(offset)
        self._count += 1

    def line(self, index: int) -> int:
        at = bisect.bisect_right(self._starts, index) - 1
        return index + self._offsets[at]


def number_text(value: object) -> str:
    """A number as its JSON text, the way the JSON output writes it."""
    return json.dumps(value)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """An aligned text table: the first ``left`` columns to the left, others right."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
