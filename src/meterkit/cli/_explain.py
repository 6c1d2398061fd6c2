"""``meterkit explain``: what `usage` did with each event for one customer, and why.

Rule 1: the rows are `explain` over the events file, read once: one row per event,
in file order, named by its 1-based line number (`LineNumbers` maps positions back
to lines, blank lines included). A bad event's error names its line.
Rule 2: ``--customer`` is required: a UUID is a ``customer_id``, anything else an
``external_customer_id``, as for ``quantities``; ``--external-customer`` takes an
external id that looks like a UUID.
Rule 3: ``--grants`` is a JSON array of `CreditGrant`s in wire JSON; each row then
says which grants its units came from. Errors in it name the grant (``$[1].id``).
Rule 4: each JSON line is ``line``, then ``to_dict`` of the `TraceEntry`, then the
lines of the positions it names (``first_line``, ``reset_line``); the table shows
the same numbers as the JSON, its cells escaped as `_output.table` does. The output
is built whole, then written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timezone
from typing import Any

from ..errors import MeterkitError, ValidationError
from ..explain import TraceEntry, explain
from ..grants import CreditGrant
from ..meters import Meter
from ..serialization import from_dict, to_dict
from ._io import (
    MAX_LINE_BYTES,
    EventLines,
    LineNumbers,
    Progress,
    Stop,
    _read_file,
    event_index,
    open_events,
    read_document,
    relocated,
)
from ._output import json_line, number_text, table, write_out
from ._quantities import _instant, _scope

__all__ = ["read_grants", "run_explain"]


def read_grants(path: str) -> list[CreditGrant]:
    """The grants of the file ``path``: a JSON array of wire `CreditGrant`s."""
    return _read_file(path, _grants_from_json)


def _grants_from_json(text: bytes) -> list[CreditGrant]:
    try:
        data = json.loads(text)
    except ValueError as exc:  # JSONDecodeError and bad UTF-8 alike
        raise ValidationError(f"is not valid JSON: {exc}", path="$") from None
    if not isinstance(data, list):
        raise ValidationError("must be a JSON array of credit grants", path="$")
    grants = []
    for position, item in enumerate(data):
        try:
            grants.append(from_dict(CreditGrant, item))
        except MeterkitError as exc:
            inner = (exc.path or "$").removeprefix("$")
            raise exc.at(f"$[{position}]{inner}") from None
    return grants


def _grants_error(exc: MeterkitError, path: str) -> Stop | None:
    """An error `burn_down` raised about ``grants[i]``, located in the file."""
    where = exc.path or ""
    if not where.startswith("grants["):
        return None
    return Stop(f"{path}: {exc.at('$' + where.removeprefix('grants'))}")


def run_explain(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    at = None
    if args.at is not None:
        if args.grants is None:
            parser.error(
                "argument --at: is the instant of grant balances: give --grants too"
            )
        try:
            at = _instant(args.at, timezone.utc, "--at")
        except ValueError as exc:
            parser.error(str(exc))
    meter = read_document(Meter, args.meter)
    grants = None if args.grants is None else read_grants(args.grants)
    scope = _scope(args, meter)
    positions = LineNumbers()
    with open_events(args.events) as lines:
        events = EventLines(
            args.events,
            lines,
            Progress.on_stderr(args.quiet),
            max_line=getattr(args, "max_line_bytes", MAX_LINE_BYTES),
        )

        def stream() -> Iterator[object]:
            for line, event in events:
                positions.append(line)
                yield event

        try:
            entries = explain(meter, stream(), grants=grants, at=at, **scope)
        except MeterkitError as exc:
            index = event_index(exc)
            if index is not None:
                events.stop(positions.line(index), relocated(exc))
            located = None if args.grants is None else _grants_error(exc, args.grants)
            if located is not None:
                raise located from None
            raise
    if not args.quiet:
        kinds = Counter(entry.kind for entry in entries)
        print(
            f"{events.summary()}; of the events {kinds['counted']:,} counted,"
            f" {kinds['duplicate']:,} duplicates, {kinds['not_matching']:,} left out"
            f" by the meter, {kinds['before_reset']:,} before a reset,"
            f" {kinds['other_customer']:,} of other customers",
            file=sys.stderr,
        )
    _write(entries, positions, args.format, grants is not None)
    return 0


def _record(entry: TraceEntry, positions: LineNumbers) -> dict[str, Any]:
    """One JSON line: ``line``, the entry's wire fields, the lines it refers to."""

    def line(index: int | None) -> int | None:
        return None if index is None else positions.line(index)

    return {
        "line": positions.line(entry.index),
        **to_dict(entry),
        "first_line": line(entry.first_index),
        "reset_line": line(entry.reset_index),
    }


def _drawn(wire: dict[str, Any]) -> str:
    return ", ".join(
        f"{draw['grant_id'] or 'overage'} {number_text(draw['units'])}"
        for draw in wire["draws"]
    )


def _write(
    entries: tuple[TraceEntry, ...], positions: LineNumbers, form: str, grants: bool
) -> None:
    """The trace as JSON lines or a table, built whole, then written."""
    if form == "json":
        write_out("".join(json_line(_record(entry, positions)) for entry in entries))
        return
    header = ["line", "kind", "units", "consumed_units"]
    header += ["drawn", "why"] if grants else ["why"]
    rows = []
    for entry in entries:
        wire = to_dict(entry)
        row = [
            str(positions.line(entry.index)),
            entry.kind,
            "" if entry.units is None else number_text(wire["units"]),
            "" if entry.consumed_units is None else number_text(wire["consumed_units"]),
        ]
        if grants:
            row.append(_drawn(wire))
        row.append(entry.describe(lambda index: f"line {positions.line(index)}"))
        rows.append(row)
    # The numbers (line, units, consumed_units) to the right, the text to the left.
    write_out(table(header, rows, right=(0, 2, 3)))
