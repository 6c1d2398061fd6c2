"""``meterkit quantities``: the meter's time series, as JSON or a table.

Rule 1: the series is `quantities` over the events file, read once; a bad event's
error is located by line through `LineNumbers`.
Rule 2: ``--start``/``--end`` are RFC 3339 instants; a date or a time without an
offset is a local time in ``--timezone`` (the flag names the zone, so nothing is
guessed). Argument errors exit 2, like every bad flag.
Rule 3: the table shows each bucket's local start in ``--timezone``; the JSON is
`to_json` of the `MeterQuantities`, whose timestamps are UTC.
Rule 4: ``--group-by PATH`` runs `quantities_by` instead: the table gets a first
column, the group's value as JSON (``null`` for the events without it), and
a total row per group; the JSON output is one line per group, `to_json` of its
`GroupQuantities`.
"""

from __future__ import annotations

import argparse
import json
import sys
import zoneinfo
from collections.abc import Iterator
from datetime import datetime, timezone, tzinfo

from ..errors import MeterkitError
from ..meters import Meter
from ..serialization import to_dict, to_json
from ..timeseries import GroupQuantities, MeterQuantities, quantities, quantities_by
from ..usage import UsageAccumulator
from ._io import (
    MAX_LINE_BYTES,
    EventLines,
    LineNumbers,
    Progress,
    event_index,
    number_text,
    open_events,
    read_document,
    relocated,
    table,
)
from ._output import write_out

__all__ = ["run_quantities"]

# The library's argument names, and the flags that set them.
_FLAGS = {
    "start": "--start",
    "end": "--end",
    "interval": "--interval",
    "timezone": "--timezone",
    "max_buckets": "--max-buckets",
    "group_by": "--group-by",
}


def _zone(name: str) -> tzinfo:
    if name == "UTC":
        return timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"argument --timezone: unknown time zone {name!r}; give an IANA name "
            "such as 'Europe/Paris'"
        ) from None


def _instant(text: str, zone: tzinfo, flag: str) -> datetime:
    iso = text.strip()
    if iso[-1:] in ("Z", "z"):
        iso = iso[:-1] + "+00:00"  # Python 3.10's fromisoformat does not read Z
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(
            f"argument {flag}: {text!r} is neither a date (2025-03-01) nor a "
            "timestamp (2025-03-01T00:00:00Z)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _scope(args: argparse.Namespace, meter: Meter) -> dict[str, str]:
    if args.external_customer is not None:
        return {"external_customer_id": args.external_customer}
    if args.customer is None:
        return {}
    try:
        UsageAccumulator(meter, customer_id=args.customer)  # the library's check
    except MeterkitError:
        return {"external_customer_id": args.customer}
    return {"customer_id": args.customer}


def run_quantities(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    try:
        zone = _zone(args.timezone)
        start = _instant(args.start, zone, "--start")
        end = _instant(args.end, zone, "--end")
    except ValueError as exc:
        parser.error(str(exc))
    meter = read_document(Meter, args.meter)
    scope = _scope(args, meter)
    positions = LineNumbers()
    with open_events(args.events) as lines:
        events = EventLines(
            args.events,
            lines,
            Progress.on_stderr(args.quiet),
            (lambda line, message: None) if args.skip_invalid else None,
            getattr(args, "max_line_bytes", MAX_LINE_BYTES),
        )

        # `quantities` stops at a bad event; a trial fold of the same meter and
        # scope finds it first, so that it can be skipped whole. Both read the
        # library's verdicts, whose checks run before dedup: the trial refuses
        # exactly the events `quantities` would.
        trial = (
            UsageAccumulator(
                meter,
                customer_id=scope.get("customer_id"),
                external_customer_id=scope.get("external_customer_id"),
            )
            if args.skip_invalid
            else None
        )

        def stream() -> Iterator[object]:
            for line, event in events:
                if trial is not None:
                    try:
                        trial.add(event)
                    except MeterkitError as exc:
                        events.fail(line, relocated(exc))
                        continue
                positions.append(line)
                yield event

        grouped = args.group_by is not None
        if grouped:
            scope = {"group_by": args.group_by, **scope}
        try:
            series = (quantities_by if grouped else quantities)(
                meter,
                stream(),
                start=start,
                end=end,
                interval=args.interval,
                timezone=args.timezone,
                max_buckets=args.max_buckets,
                **scope,
            )
        except MeterkitError as exc:
            index = event_index(exc)
            if index is not None:
                events.stop(positions.line(index), relocated(exc))
            if exc.path in _FLAGS:
                flag = _FLAGS[exc.path]
                given = getattr(args, flag[2:].replace("-", "_"))
                parser.error(f"argument {flag}: {exc.reason} (got {given!r})")
            raise
    events.report_skipped()
    if not args.quiet:
        print(events.summary(), file=sys.stderr)
    _write(series, zone, args.format)
    return 0


def _write(
    series: MeterQuantities | tuple[GroupQuantities, ...], zone: tzinfo, form: str
) -> None:
    if isinstance(series, MeterQuantities):
        if form == "json":
            write_out(to_json(series) + "\n")
        else:
            write_out(table(["timestamp", "quantity"], _rows(series, zone)))
        return
    if form == "json":
        write_out("".join(to_json(group) + "\n" for group in series))
        return
    rows: list[list[str]] = []
    for group in series:
        value = json.dumps(to_dict(group)["value"], ensure_ascii=False)
        rows.extend([value, *row] for row in _rows(group.quantities, zone))
    write_out(table(["group", "timestamp", "quantity"], rows))


def _rows(series: MeterQuantities, zone: tzinfo) -> list[list[str]]:
    """A row per bucket (local start, quantity), then the total's."""
    wire = to_dict(series)
    rows = [
        [bucket.timestamp.astimezone(zone).isoformat(), number_text(item["quantity"])]
        for bucket, item in zip(series.quantities, wire["quantities"], strict=True)
    ]
    rows.append(["total", number_text(wire["total"])])
    return rows
