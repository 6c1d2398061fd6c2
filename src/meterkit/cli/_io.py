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
import os
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import IO, Any, NoReturn, TypeVar, cast

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
    """A ``\\r`` progress line on stderr when it is a terminal (Rule 3).

    When the input's size is known (a file, not a pipe), the line shows how much of
    it is read and an estimate of the time left.
    """

    def __init__(self, stream: IO[str] | None, every: float = 0.5) -> None:
        self._stream = stream
        self._every = every
        self._start = clock()
        self._next = self._start + every
        self._shown = False
        self._where: Callable[[], float | None] = lambda: None

    @classmethod
    def on_stderr(cls, quiet: bool) -> Progress:
        """Progress on stderr, unless ``quiet`` or stderr is not a terminal."""
        stream = sys.stderr
        return cls(None if quiet or not stream.isatty() else stream)

    def measure(self, source: object) -> None:
        """Read the fraction done off ``source``: a file, or gzip over one."""
        raw: Any = getattr(source, "fileobj", None) or source
        try:
            size = os.fstat(raw.fileno()).st_size
            tell: Callable[[], int] = raw.tell
            tell()
        except (AttributeError, OSError, ValueError):
            return
        if size > 0:
            self._where = lambda: min(tell() / size, 1.0)

    def update(self, events: int) -> None:
        # Called every 64 events: looking at the clock less keeps it cheap.
        if self._stream is None:
            return
        now = clock()
        if now < self._next:
            return
        spent = max(now - self._start, 1e-9)
        text = f"\r{events:,} events read, {events / spent:,.0f} events/s"
        try:
            done = self._where()
        except (OSError, ValueError):
            done = None
        if done:
            left = spent * (1 - done) / done
            text += f", {done:.0%} of the input, about {_duration(left)} left"
        self._stream.write(text + "\x1b[K")
        self._stream.flush()
        self._shown = True
        self._next = now + self._every

    def close(self) -> None:
        if self._stream is not None and self._shown:
            self._stream.write("\r\x1b[K")  # erase the line (stderr is a terminal)
            self._stream.flush()
            self._shown = False


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


class _NotRaised(Exception):
    """Never raised: what `EventLines.batches` catches from `json` (no orjson)."""


class _Unreadable(ValueError):
    """A line that is JSON in form but that meterkit will not read: the message is
    the whole explanation (no "invalid JSON:" in front)."""


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, refused when a float would
    silently change it: ``1e400`` would be infinity, ``1e-400`` zero."""
    value = float(text)
    if math.isinf(value) or (
        value == 0.0 and any(c in "123456789" for c in text.lower().split("e")[0])
    ):
        raise _Unreadable(
            f"number {text[:40]} is out of range: it would be read as {value!r}"
        )
    return value


# One decoder for every line: `json.loads` with hooks builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


# The C scanner `json.JSONDecoder.__init__` makes (not in the typeshed stubs).
_scan_once: Callable[[str, int], tuple[object, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _decode_json(raw: bytes) -> object:
    """One line (without its line break) by the `json` module; errors as
    `json.JSONDecodeError` or `_Unreadable`, in words, not codec jargon."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Unreadable(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
        ) from None
    try:
        # The decoder's own scanner first: `decode` adds two whitespace
        # searches per line. Anything unusual goes to `decode`, whose result
        # and messages are the reference.
        try:
            value, end = _scan_once(text, 0)
            if end == len(text):
                return value
        except StopIteration:
            pass
        return _DECODER.decode(text)
    except RecursionError:
        raise _Unreadable(
            "nested too deeply: JSON arrays and objects more than about "
            f"{sys.getrecursionlimit() - 100:,} levels deep cannot be read"
        ) from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise _Unreadable(
                "a number has more digits than can be read (at most 4,300 digits)"
            ) from None
        raise


# For `_suspects`: digits become "0", exponent letters "e", minus signs stay,
# everything else is a space (line breaks too: no run crosses a line).
_NUMBER_SHAPES = bytes(
    ord("0")
    if chr(c).isdigit() and c < 128
    else ord("e")
    if chr(c) in "eE"
    else ord("-")
    if chr(c) == "-"
    else ord(" ")
    for c in range(256)
)
_BIG = float(1 << 63)


def _floats_are_exact(value: object) -> bool:
    """Whether no float in ``value`` can be one orjson reads differently from
    `json`: an underflow (0.0) or an integer beyond 64 bits (a huge float)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())  # type: ignore[attr-defined]
        elif kind is list:
            stack.extend(item)  # type: ignore[arg-type]
        elif kind is float and (item == 0.0 or not -_BIG < item < _BIG):  # type: ignore[operator]
            return False
    return True


def _orjson() -> tuple[Callable[[bytes], object], type[ValueError]] | None:
    """``(orjson.loads, orjson.JSONDecodeError)`` (the ``meterkit[fast]`` extra),
    or None when it is not installed or is turned off with ``METERKIT_JSON=json``.

    orjson reads some lines differently from the `json` module: numbers a float
    changes (``1e-400`` becomes 0.0 where `_finite_float` refuses it; an integer
    beyond 64 bits becomes a float), lone surrogates, NaN, deep nesting. So
    `EventLines.batches` sends a line orjson refuses, and a line the byte test
    (`_suspects`) names whose result holds a 0.0 or a huge float
    (`_floats_are_exact`), to `_decode_json`: the result, and every error
    message, is `_decode_json`'s.
    """
    if os.environ.get("METERKIT_JSON", "") == "json":
        return None
    try:
        import orjson
    except ImportError:
        return None
    return orjson.loads, orjson.JSONDecodeError


# The byte shapes `_suspects` looks for: a run of 19 digits (an integer beyond 64
# bits, or a long run of zeros), and a negative exponent of three digits or more
# (only those underflow: 1e-308 and beyond).
_RUN, _EXPONENT = b"0" * 19, b"0e-000"


def _suspects(data: bytes) -> list[int]:
    """Where in ``data`` (one line, or a block of lines) a number may be one
    orjson reads differently from `json` (see `_orjson`): sorted offsets,
    at most one per shape found in a line.

    One translation and a few searches per block of lines, not per line: the
    test finds text too (a UUID's ``9e-123``), so a line it names is decided by
    the walk over its floats (`_floats_are_exact`).
    """
    shape = data.translate(_NUMBER_SHAPES)
    found: list[int] = []
    for needle in (_RUN, _EXPONENT):
        at = shape.find(needle)
        while at != -1:
            found.append(at)
            end = data.find(b"\n", at)
            at = -1 if end == -1 else shape.find(needle, end)
    return sorted(found)


#: The deepest nesting of arrays and objects read in a line: the same on every
#: machine and in every stack (the JSON reader's own limit depends on both).
MAX_JSON_DEPTH = 512
# A line nested deeper holds at least this many bytes ("[" and "]" each level).
_DEEP_BYTES = 2 * MAX_JSON_DEPTH
_TOO_DEEP = (
    f"nested too deeply: JSON arrays and objects more than {MAX_JSON_DEPTH} levels"
    " deep are not read"
)


def _too_deep(line: bytes) -> bool:
    """Whether ``line`` nests arrays and objects deeper than `MAX_JSON_DEPTH`
    (brackets inside strings do not count). Only long lines get here."""
    if line.count(b"[") + line.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


#: How many bytes are read at a time; lines are cut from these blocks. Small, so
#: that a block's events are folded while they are still in the CPU's cache: 32 KB
#: (about 130 events) ran 1.4x faster than 512 KB (docs/performance.md).
BLOCK_BYTES = 1 << 15

# No line has this number: `EventLines.batches` when no line is a suspect.
_NEVER = sys.maxsize

#: The longest line read, in bytes; a longer one is an invalid line (its bytes
#: are skipped without being held in memory). ``--max-line-bytes`` changes it.
MAX_LINE_BYTES = 1 << 20

# A first line like these suggests a JSON array or pretty-printed JSON.
_NOT_JSON_LINES = (b"[", b"{", b"[{")
_JSON_LINES_HINT = (
    " (meterkit reads JSON Lines: one event object per line; this looks like a"
    " JSON array or pretty-printed JSON)"
)


class EventLines:
    """The JSON values of an events file with their 1-based line numbers.

    A bad line goes to `fail`: without ``on_invalid`` that stops the run; with it,
    the line is counted, the first few are kept for the report, and
    ``on_invalid(line, message)`` is called (the message located: ``FILE:LINE:``).
    A line longer than ``max_line`` bytes is a bad line; a last line without a line
    break that is not JSON is reported as truncated (a file still being written).
    """

    def __init__(
        self,
        path: str,
        lines: Iterable[bytes],
        progress: Progress,
        on_invalid: Callable[[int, str], None] | None = None,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        self.name = display_name(path)
        self._lines = lines
        self._progress = progress
        self._on_invalid = on_invalid
        self._max_line = max_line
        self.lines = 0  # lines read
        self.nonblank = 0  # lines that are not blank
        self.events = 0  # lines that are JSON
        self.invalid = 0  # lines passed to `fail`
        self.unreadable = 0  # of those, lines that were not JSON (or too long)
        self._first_invalid: list[tuple[int, str]] = []
        #: Called before a bad line stops the run: a consumer holding events of
        #: earlier lines checks them first, so the first bad line is reported.
        self.before_stop: Callable[[], None] | None = None

    @property
    def valid(self) -> int:
        """Lines that were events and were not refused: ``lines == valid +
        invalid + blank lines``."""
        return self.events - (self.invalid - self.unreadable)

    def summary(self) -> str:
        """What became of the file's lines, for the run's stderr summary:
        ``lines read == events + invalid + blank``."""
        blank = self.lines - self.nonblank
        return (
            f"{self.name}: {self.lines:,} lines read: {self.valid:,} events,"
            f" {self.invalid:,} invalid, {blank:,} blank"
        )

    @property
    def skipping(self) -> bool:
        """Whether bad lines are skipped (``--skip-invalid``) rather than fatal."""
        return self._on_invalid is not None

    def stop(self, line: int, message: str) -> NoReturn:
        """End the run at ``line``, the progress line erased first."""
        before, self.before_stop = self.before_stop, None
        if before is not None:
            before()
        self._progress.close()
        raise Stop(f"{self.name}:{line}: {message}")

    def fail(self, line: int, message: str) -> None:
        """Report ``line`` as bad: stop, or count it and go on."""
        if self._on_invalid is None:
            self.stop(line, message)
        located = f"{self.name}:{line}: {message}"
        self._progress.close()  # a report line must not run into the progress
        self.invalid += 1
        # The first lines of the file are shown, whatever order they were found in.
        self._first_invalid.append((line, located))
        if len(self._first_invalid) > SHOWN_INVALID:
            self._first_invalid.remove(max(self._first_invalid))
        self._on_invalid(line, located)

    def __iter__(self) -> Iterator[tuple[int, object]]:
        """Each event's line number and JSON value, in file order."""
        for numbers, values in self.batches():
            yield from zip(numbers, values, strict=True)

    def _blocks(self) -> Iterator[bytes]:
        """The input in blocks of at most `BLOCK_BYTES` (or as its items come)."""
        source: Any = self._lines
        read = getattr(source, "read1", None) or getattr(source, "read", None)
        if read is None:
            yield from source
            return
        while block := read(BLOCK_BYTES):
            yield block

    def _cut(self) -> Iterator[tuple[bytes, list[bytes], bool]]:
        """The input's lines a block at a time: ``(the bytes they were cut from,
        the lines without their line breaks, whether the last one has none)``.

        A line longer than the limit is handed over as far as it was read, and the
        rest of it is skipped: it is never held whole (Rule 1).
        """
        limit = self._max_line
        carry = b""  # the start of a line whose end is in a later block
        long = False  # the rest of a line too long to read is being skipped
        for block in self._blocks():
            if long:
                cut = block.find(b"\n")
                if cut == -1:
                    continue
                block, long = block[cut + 1 :], False
            data = carry + block if carry else block
            lines = data.split(b"\n")
            carry = lines.pop()
            if len(carry) > limit and len(carry.rstrip(b"\r")) > limit:
                lines.append(carry)
                carry, long = b"", True
            yield data, lines, False
        if carry:
            yield carry, [carry], True

    def batches(self) -> Iterator[tuple[list[int], list[object]]]:
        """The events a block of the input at a time: ``(line numbers, values)``.

        Lines are cut from blocks of bytes (Rule 1); a bad line is reported after
        the events before it are handed over, so a consumer sees every event in
        file order before any later line stops the run.
        """
        parts = _orjson()
        loads, refused = parts if parts is not None else (_decode_json, _NotRaised)
        fast = parts is not None
        progress = self._progress
        progress.measure(self._lines)
        limit, deep, decode = self._max_line, _DEEP_BYTES, _decode_json
        numbers: list[int] = []
        values: list[object] = []
        try:
            for data, lines, last in self._cut():
                number = self.lines
                # The offsets the byte test names, and where the current line ends.
                later = iter(_suspects(data) if fast else ())
                suspect, end = next(later, _NEVER), 0
                crlf = data.find(b"\r") != -1
                bad: tuple[int, str] | None = None
                nonblank = events = 0
                for line in lines:
                    number += 1
                    end += len(line) + 1
                    if crlf:
                        line = line.rstrip(b"\r")
                    if len(line) > limit:
                        bad = (
                            number,
                            f"line longer than {limit:,} bytes (raise the limit with "
                            "--max-line-bytes)",
                        )
                    elif not line or line.isspace():
                        continue
                    elif len(line) > deep and _too_deep(line):
                        nonblank += 1
                        bad = (number, _TOO_DEEP)
                    else:
                        nonblank += 1
                        try:
                            try:
                                value = loads(line)
                            except refused:
                                value = decode(line)
                            else:
                                if end > suspect:
                                    # This line, or a bad line before it, is named.
                                    while suspect < end:
                                        suspect = next(later, _NEVER)
                                    if not _floats_are_exact(value):
                                        value = decode(line)
                        except (ValueError, RecursionError) as exc:
                            self.events += events  # for `_why`: the first line?
                            events = 0
                            bad = (number, self._why(line, exc, last))
                        else:
                            events += 1
                            numbers.append(number)
                            values.append(value)
                            continue
                    # A bad line: the events before it first, then the report.
                    self.lines, self.nonblank = number, self.nonblank + nonblank
                    self.events += events
                    nonblank = events = 0
                    if values:
                        yield numbers, values
                        numbers, values = [], []
                    self.unreadable += 1
                    self.fail(*bad)
                self.lines, self.nonblank = number, self.nonblank + nonblank
                self.events += events
                progress.update(self.events)
                if values:
                    yield numbers, values
                    numbers, values = [], []
        except (OSError, EOFError, zlib.error) as exc:
            # A corrupt or truncated gzip stream, or a failing device.
            why = getattr(exc, "strerror", None) or exc
            raise Stop(f"{self.name}:{self.lines + 1}: cannot read: {why}") from None
        finally:
            progress.close()

    def _why(self, line: bytes, exc: BaseException, last: bool) -> str:
        """The message for a line that could not be read as JSON (``last``: the
        input's last line, without a line break at its end)."""
        if isinstance(exc, json.JSONDecodeError):
            message = f"invalid JSON: {exc.msg} at column {exc.colno}"
        elif isinstance(exc, _Unreadable):
            message = str(exc)
        elif isinstance(exc, RecursionError):
            message = "nested too deeply to be read"
        else:
            message = f"invalid JSON: {exc}"
        if last and hasattr(self._lines, "readline"):
            # From a file, only the last line can lack its line break.
            message = f"truncated last line (no line break at its end): {message}"
        if self.events == 0 and line.strip() in _NOT_JSON_LINES:
            message += _JSON_LINES_HINT
        return message

    def report_skipped(self) -> None:
        """The ``--skip-invalid`` report, on stderr, when a line was skipped."""
        if not self.invalid:
            return
        self._first_invalid.sort()
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
    """The error's text with its path made a JSON path within one line, and the
    offending value written as JSON (``null``, ``true``), as it is in the file.

    The library names an event by its position in the stream (``events[7].name``);
    the line number already says where, so the position becomes ``$``. A bare
    field name (``customer_id``) becomes ``$.customer_id``; a JSON path stays.
    """
    path = exc.path
    if path is not None and not path.startswith("$"):
        if _EVENT_PATH.match(path):
            path = _EVENT_PATH.sub("$", path, count=1)
        else:
            path = f"$.{path}"
    text = exc.reason if path is None else f"{path}: {exc.reason}"
    if exc.has_value:
        text = f"{text} (got {json_value(exc.value)})"
    return text


def json_value(value: object) -> str:
    """A value as JSON text, ASCII only (no control character or lone surrogate
    reaches a terminal), shortened when long; not JSON: its Python repr."""
    if isinstance(value, Decimal) and value.is_finite():
        text = format(value, "f")  # a number as JSON writes it, exactly
    else:
        try:
            text = json.dumps(value, allow_nan=False)
        except RecursionError:
            text = f"<{type(value).__name__} nested too deeply to show>"
        except (ValueError, TypeError):
            try:
                text = "<a huge integer>" if isinstance(value, int) else ascii(value)
            except RecursionError:
                text = f"<{type(value).__name__} nested too deeply to show>"
    return text if len(text) <= 200 else text[:150] + "..." + text[-40:]


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


# Writing results lives in `_output`; these names stay importable from here.
from ._output import number_text, table  # noqa: E402
