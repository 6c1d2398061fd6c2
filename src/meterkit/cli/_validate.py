"""``meterkit validate``: check every line of an events file, report every bad one.

Rule 1: a line is valid when it is JSON and `from_dict` reads it as an `Event` (the
strict reading: UUID ids, full timestamps, JSON metadata); with ``--meter``, also
when `usage` of that meter reads it (credit units, aggregated values). One
`UsageAccumulator` reads the whole file: the meter's checks run on every event
before dedup and resets, so a line is refused exactly when `usage` of it alone
would refuse it, and the meter is compiled once. So a file that passes ``validate
--meter`` passes ``usage`` with that meter.
Rule 2: the report goes to stdout, like a linter's: one ``FILE:LINE: MESSAGE`` per
bad line as it is found, then a summary line. Exit 1 when a line is bad.
"""

from __future__ import annotations

import argparse

from ..errors import MeterkitError
from ..events import Event
from ..meters import Meter
from ..serialization import from_dict
from ..usage import UsageAccumulator
from ._io import (
    EventLines,
    Progress,
    display_name,
    open_events,
    read_document,
    relocated,
)

__all__ = ["run_validate"]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def run_validate(args: argparse.Namespace) -> int:
    meter = None if args.meter is None else read_document(Meter, args.meter)
    name = display_name(args.events)
    with open_events(args.events) as lines:
        events = EventLines(args.events, lines, Progress.on_stderr(args.quiet), print)
        fold = None if meter is None else UsageAccumulator(meter)
        for line, event in events:
            try:
                from_dict(Event, event)
                if fold is not None:
                    fold.add(event)
            except MeterkitError as exc:
                events.fail(line, relocated(exc))
    valid = events.nonblank - events.invalid
    if events.invalid:
        print(
            f"{name}: {_plural(events.invalid, 'invalid line')} of {events.lines} "
            f"({_plural(valid, 'valid event')})"
        )
        return 1
    print(f"{name}: {_plural(valid, 'valid event')} on {_plural(events.lines, 'line')}")
    return 0
