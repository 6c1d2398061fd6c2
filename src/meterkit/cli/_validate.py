"""``meterkit validate``: check every line of an events file, report every bad one.

Rule 1: a line is valid when it is JSON and `usage` of it alone reads it: the
event's fields checked as the engine checks them (`events.read_event`: UUID
customer ids, full timestamps, non-empty strings), and with ``--meter`` what
that meter reads (credit units, aggregated values). The events are folded as
``meterkit usage`` routes them (a `UsageByCustomer` for those with a
``customer_id``, one `UsageAccumulator` for the rest): every event is in its
fold's scope and the checks run before dedup and resets, so a line is refused
exactly when `usage` of it alone would refuse it, and the meter is compiled once
per fold. So a file that passes ``validate --meter`` passes ``usage`` with that
meter.
Rule 2: ``--strict`` also refuses a line that does not read as an `Event`
(`from_dict`): what only `Event` checks (`events`, Rule 3), an ``id`` that is not
a UUID and metadata values the engine never reads. `_event_problem` decides it,
reading with `from_dict` only the events whose ``id`` and metadata it cannot pass
at once.
Rule 3: the report goes to stdout, like a linter's: one ``FILE:LINE: MESSAGE`` per
bad line, in line order, then a summary line. Exit 1 when a line is bad.
Rule 4 (speed): events are checked in lists by the fold, as `usage` checks them;
without ``--strict`` nothing else reads them.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime, timezone

from .._fields import is_uuid_text
from ..errors import MeterkitError
from ..events import Event, plain_metadata
from ..meters import CountAggregation, Filter, Meter
from ..serialization import from_dict
from ..usage import UsageAccumulator, UsageByCustomer
from ._io import (
    MAX_LINE_BYTES,
    EventLines,
    Progress,
    display_name,
    open_events,
    read_document,
    relocated,
)
from ._usage import BATCH, route

__all__ = ["run_validate"]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


#: A meter no event can name (a fresh id): without ``--meter``, the fold checks
#: the events' own fields only.
def _neutral_meter() -> Meter:
    return Meter(
        id=uuid.uuid4(),
        name="validate",
        filter=Filter(),
        aggregation=CountAggregation(),
        created_at=datetime.now(timezone.utc),
    )


def _event_problem(event: object) -> MeterkitError | None:
    """What `from_dict(Event, ...)` refuses in ``event`` beyond what the engine
    checks (Rule 2), or None. The fold checks the other fields with the same
    rules, so an event whose ``id`` is absent or a UUID string and whose metadata
    `plain_metadata` passes is read no further."""
    if type(event) is dict:
        event_id = event.get("id")
        metadata = event.get("metadata")
        if (
            event_id is None or (type(event_id) is str and is_uuid_text(event_id))
        ) and (
            metadata is None or (type(metadata) is dict and plain_metadata(metadata))
        ):
            return None
    try:
        from_dict(Event, event)
    except MeterkitError as exc:
        return exc
    return None


def run_validate(args: argparse.Namespace) -> int:
    meter = _neutral_meter() if args.meter is None else read_document(Meter, args.meter)
    name = display_name(args.events)
    # The events go to folds as `usage` routes them (the meter compiled once per
    # fold): those with a customer_id to a `UsageByCustomer`, the others to one
    # `UsageAccumulator`. Every event is in its fold's scope, so the checks
    # run on each before dedup and resets, and a line is refused here exactly
    # when `usage` of it alone refuses it (Rule 1). Bad lines in line order.
    routes: list[tuple[UsageByCustomer | UsageAccumulator, list[object], list[int]]]
    routes = [
        (UsageByCustomer(meter, by="customer_id"), [], []),
        (UsageAccumulator(meter), [], []),
    ]
    (_, by_id, by_id_lines), (_, rest, rest_lines) = routes
    located: list[tuple[int, str]] = []  # bad lines found, not yet printed

    def check() -> None:
        for fold, waiting, waiting_lines in routes:
            start, given = 0, fold.position
            while start < len(waiting):
                try:
                    fold.update(waiting[start:] if start else waiting)
                    break
                except MeterkitError as exc:
                    bad = fold.position - 1 - given
                    events.fail(waiting_lines[start + bad], relocated(exc))
                    start += bad + 1
                    given = fold.position
            waiting.clear()
            waiting_lines.clear()
        # Every line up to here is checked: print what was found, in line order.
        for _, message in sorted(located):
            print(message)
        located.clear()

    with open_events(args.events) as lines:
        events = EventLines(
            args.events,
            lines,
            Progress.on_stderr(args.quiet),
            lambda line, message: located.append((line, message)),
            getattr(args, "max_line_bytes", MAX_LINE_BYTES),
        )
        strict = getattr(args, "strict", False)
        for numbers, values in events.batches():
            if strict:
                refused = set()
                for index, event in enumerate(values):
                    problem = _event_problem(event)
                    if problem is not None:
                        events.fail(numbers[index], relocated(problem))
                        refused.add(index)
                if refused:
                    kept = [i for i in range(len(values)) if i not in refused]
                    values = [values[i] for i in kept]
                    numbers = [numbers[i] for i in kept]
            route(numbers, values, (by_id, by_id_lines), (rest, rest_lines))
            if len(by_id) + len(rest) >= BATCH:
                check()
        check()
    valid = events.nonblank - events.invalid
    if events.invalid:
        print(
            f"{name}: {_plural(events.invalid, 'invalid line')} of {events.lines} "
            f"({_plural(valid, 'valid event')})"
        )
        return 1
    print(f"{name}: {_plural(valid, 'valid event')} on {_plural(events.lines, 'line')}")
    return 0
