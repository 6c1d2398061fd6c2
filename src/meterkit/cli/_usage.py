"""``meterkit usage`` and ``meterkit demo``: usage and amounts due per customer.

Rule 1 (customers): an event belongs to its ``customer_id`` (a UUID, compared in its
canonical lower-case form), else to its ``external_customer_id``; an event with
neither belongs to no customer, and how many there were is said on stderr. Ids are
checked by the library's own rules, so the CLI refuses exactly what `usage` does.
Rule 2 (numbers): the library's `UsageByCustomer` folds every customer's events in
log order, in one pass, each event read and checked once; a customer's result is
therefore `usage` of the meter over that customer's events, and ``amount`` is
`amount_due` of its consumed and credited units. Units are written as `to_dict`
writes them.
Rule 3 (order): customer ids first, then external ids, each in code-point order.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import operator
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._fields import parse_id
from ..errors import InexactError, MeterkitError
from ..meters import Meter
from ..pricing import MeteredUnitPrice, Price, amount_due
from ..serialization import from_json, to_dict
from ..usage import Usage, UsageByCustomer, usage
from ._io import (
    MAX_LINE_BYTES,
    EventLines,
    Progress,
    Stop,
    check_price,
    number_text,
    open_events,
    read_document,
    read_price,
    relocated,
    table,
)
from ._output import csv_text, write_out

__all__ = ["DEMO_FILES", "fold_usage", "route", "run_demo", "run_usage", "write_usage"]

USAGE_FIELDS = ("consumed_units", "credited_units", "balance", "rollover_units")
KINDS = ("customer_id", "external_customer_id")

#: The sample meter, price and events bundled in the package's ``data`` folder.
DEMO_FILES = ("llm-meter.json", "llm-price.json", "llm-events.jsonl.gz")

# ("customer_id", canonical UUID) or ("external_customer_id", the id as written).
CustomerKey = tuple[str, str]


#: How many events are routed before they are folded, as lists: enough for the
#: library's fast scan to read a list with little overhead per call, few enough
#: that the events are still in the CPU's cache when it does (docs/performance.md).
BATCH = 128

# An event's customer_id (KeyError when absent, TypeError when not an object).
_CUSTOMER_ID: Callable[[Any], object] = operator.itemgetter("customer_id")


def route(
    lines: list[int],
    values: list[object],
    keyed: tuple[list[object], list[int]],
    others: tuple[list[object], list[int]],
) -> None:
    """Append each event and its line to ``keyed`` when it has a ``customer_id``
    (or is not an object: the by-id fold refuses it), else to ``others`` (Rule 1).

    A list whose events all have a ``customer_id`` is appended whole, found so in
    one C-level pass: the common case costs no Python step per event.
    """
    try:
        mixed = None in map(_CUSTOMER_ID, values)
    except (KeyError, TypeError):  # a missing key, a line not an object
        mixed = True
    if not mixed:
        keyed[0].extend(values)
        keyed[1].extend(lines)
        return
    for line, event in zip(lines, values, strict=True):
        to = (
            others
            if type(event) is dict and event.get("customer_id") is None
            else keyed
        )
        to[0].append(event)
        to[1].append(line)


class _Route:
    """One `UsageByCustomer` and the events waiting for it, with their lines."""

    def __init__(self, folds: UsageByCustomer) -> None:
        self.folds = folds
        self.events: list[object] = []
        self.lines: list[int] = []
        self.given = 0  # events handed to `folds` so far (its error indices)

    def fold(self, events: EventLines, first_error: list[tuple[int, str]]) -> None:
        """Fold the waiting events; a bad one is skipped (``--skip-invalid``) or
        recorded in ``first_error`` (the fold then stops)."""
        start, waiting, lines = 0, self.events, self.lines
        while start < len(waiting):
            batch = waiting[start:] if start else waiting
            try:
                self.folds.update(batch)
                self.given += len(batch)
                break
            except MeterkitError as exc:
                bad = self.folds.position - 1 - self.given
                line = lines[start + bad]
                self.given += bad + 1
                start += bad + 1
                if isinstance(exc, InexactError) or not events.skipping:
                    # A running total out of range is not one line's fault: stop.
                    first_error.append((line, relocated(exc)))
                    break
                events.fail(line, relocated(exc))
        waiting.clear()
        lines.clear()


class CustomerFolds:
    """Every customer's usage in one pass (Rule 1): two `UsageByCustomer` folds.

    An event with a ``customer_id`` goes to the fold keyed by ``customer_id``; one
    without goes to the fold keyed by ``external_customer_id``. Each event is
    read once, by the library, in the fold it is routed to; events are handed over
    in lists of about `BATCH`, as `EventLines.batches` reads them (a batch whose
    events all have a ``customer_id`` is handed over whole, unrouted).
    """

    def __init__(self, meter: Meter, wanted: Sequence[str] | None):
        self._meter = meter
        self._by_id = _Route(UsageByCustomer(meter, by="customer_id"))
        self._by_external = _Route(UsageByCustomer(meter, by="external_customer_id"))
        self._wanted = list(wanted or ())

    def fold(self, events: EventLines) -> None:
        """Fold every event of ``events``; stop at the first bad line, or skip
        bad lines when ``events`` does."""
        by_id, by_external = self._by_id, self._by_external

        def flush() -> None:
            errors: list[tuple[int, str]] = []
            by_id.fold(events, errors)
            by_external.fold(events, errors)
            if errors:
                events.stop(*min(errors))  # the first bad line of the file

        events.before_stop = flush  # a bad line later in the file comes after these
        keyed = (by_id.events, by_id.lines)
        others = (by_external.events, by_external.lines)
        for lines, values in events.batches():
            route(lines, values, keyed, others)
            values.clear()  # the events live in the routes' lists only
            if len(by_id.events) + len(by_external.events) >= BATCH:
                flush()
        flush()
        events.before_stop = None

    def counts(self) -> dict[str, int]:
        """The verdict counts of both folds (`UsageByCustomer.counts`)."""
        one, two = self._by_id.folds.counts(), self._by_external.folds.counts()
        both = {kind: one[kind] + two[kind] for kind in one}
        # The by-id fold's events without a customer_id went to the other fold.
        both["without_customer"] = two["without_customer"]
        return both

    def results(self) -> list[tuple[CustomerKey, Usage]]:
        """Each customer's `Usage`, in the order of Rule 3 (`ordered`)."""
        found: dict[CustomerKey, Usage] = {}
        for kind, route in zip(KINDS, (self._by_id, self._by_external), strict=True):
            found.update(
                ((kind, key), usage) for key, usage in route.folds.result().items()
            )
        return ordered(found, self._meter, self._wanted)


def ordered(
    found: dict[CustomerKey, Usage], meter: Meter, wanted: Sequence[str] | None
) -> list[tuple[CustomerKey, Usage]]:
    """The customers' results in the order of Rule 3.

    With ``--customer`` (``wanted``), only the customers asked for, each matching
    either kind of id; one without events gets the usage of no events (zeros), as a
    customer_id when the id is a UUID.
    """
    if wanted:
        selected: dict[CustomerKey, Usage] = {}
        for raw in wanted:
            keys: list[CustomerKey] = [("external_customer_id", raw)]
            with contextlib.suppress(MeterkitError):
                keys.insert(0, ("customer_id", parse_id(raw, "customer")))
            hits = [key for key in keys if key in found]
            for key in hits:
                selected[key] = found[key]
            if not hits:
                selected[keys[0]] = usage(meter, ())
        found = selected
    return sorted(found.items(), key=lambda item: (KINDS.index(item[0][0]), item[0][1]))


def fold_usage(
    meter: Meter,
    path: str,
    lines: Iterable[bytes],
    *,
    wanted: Sequence[str] | None,
    skip_invalid: bool,
    progress: Progress,
    quiet: bool = False,
    max_line: int = MAX_LINE_BYTES,
) -> list[tuple[CustomerKey, Usage]]:
    """Fold the event ``lines`` of the file ``path`` per customer."""
    by_customer = CustomerFolds(meter, wanted)
    events = EventLines(
        path,
        lines,
        progress,
        (lambda line, message: None) if skip_invalid else None,
        max_line,
    )
    by_customer.fold(events)
    results = by_customer.results()  # a total out of range is an error here
    events.report_skipped()
    if not quiet:
        print(summary(events, by_customer.counts()), file=sys.stderr)
    return results


def summary(events: EventLines, counts: dict[str, int]) -> str:
    """The stderr line saying what became of every line of the file."""
    return (
        f"{events.summary()}; of the events"
        f" {counts['counted']:,} counted, {counts['duplicates']:,} duplicates,"
        f" {counts['left_out']:,} left out by the meter,"
        f" {counts['other']:,} credits, resets and other system events,"
        f" {counts['without_customer']:,} without a customer"
    )


def usage_record(
    key: CustomerKey, result: Usage, price: Price | None
) -> dict[str, Any]:
    """One output record: the customer, the units as `to_dict` writes them, cents."""
    record: dict[str, Any] = {key[0]: key[1]}
    wire = to_dict(result)
    record.update((field, wire[field]) for field in USAGE_FIELDS)
    if price is not None:
        record["amount"] = amount_due(
            price, result.consumed_units, result.credited_units
        )
    return record


def write_usage(
    results: list[tuple[CustomerKey, Usage]], price: Price | None, form: str
) -> None:
    """The results as ``form`` (json, csv or table), built whole, then written."""
    records = [usage_record(key, result, price) for key, result in results]
    fields = [*USAGE_FIELDS, *(["amount"] if price is not None else [])]
    if form == "json":
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    elif form == "csv":
        text = csv_text(
            [
                [*KINDS, *fields],
                *(
                    [*(r.get(kind, "") for kind in KINDS)]
                    + [number_text(r[f]) for f in fields]
                    for r in records
                ),
            ]
        )
    else:
        rows = [
            [r.get("customer_id") or r["external_customer_id"]]
            + [number_text(r[f]) for f in fields]
            for r in records
        ]
        text = table(["customer", *fields], rows)
    write_out(text)


def run_usage(args: argparse.Namespace) -> int:
    meter = read_document(Meter, args.meter)
    price = None
    if args.price is not None:
        price = read_price(args.price)
        check_price(price, meter, args.price)
    results = None
    if args.engine == "duckdb":
        results = _engine_usage(args, meter)
    if results is None:
        with open_events(args.events) as lines:
            results = fold_usage(
                meter,
                args.events,
                lines,
                wanted=args.customer,
                skip_invalid=args.skip_invalid,
                progress=Progress.on_stderr(args.quiet),
                quiet=args.quiet,
                max_line=getattr(args, "max_line_bytes", MAX_LINE_BYTES),
            )
    write_usage(results, price, args.format)
    return 0


def _engine_usage(
    args: argparse.Namespace, meter: Meter
) -> list[tuple[CustomerKey, Usage]] | None:
    """The results computed by DuckDB (`_engine`); None when the default engine
    must read the file instead (its Rule 2)."""
    from ._engine import EngineRefused, duckdb_usage

    parser: argparse.ArgumentParser = args.parser
    if args.skip_invalid:
        parser.error("argument --engine: duckdb cannot skip invalid lines")
    if args.events == "-":
        parser.error("argument --engine: duckdb reads a file, not standard input")
    try:
        found = duckdb_usage(meter, args.events)
    except EngineRefused as exc:
        if args.events.endswith(".parquet"):
            raise Stop(f"{args.events}: {exc}") from None  # only DuckDB reads it
        if not args.quiet:
            print(
                f"{args.events}: {exc}; reading it with the default engine",
                file=sys.stderr,
            )
        return None
    if not args.quiet:
        print(
            f"{args.events}: read by DuckDB: {len(found):,} customers",
            file=sys.stderr,
        )
    return ordered(found, meter, args.customer)


def _demo_file(name: str) -> Any:
    import importlib.resources  # only the demo reads packaged data

    # The package holding this `cli` package, wherever it is (installed, vendored).
    package = __name__.rsplit(".", 2)[0]
    return importlib.resources.files(package).joinpath("data").joinpath(name)


def run_demo(args: argparse.Namespace) -> int:
    if args.export is not None:
        os.makedirs(args.export, exist_ok=True)
        for name in DEMO_FILES:
            target = os.path.join(args.export, name)
            with open(target, "wb") as file:
                file.write(_demo_file(name).read_bytes())
            print(target)
        return 0
    meter_file, price_file, events_file = DEMO_FILES
    meter = from_json(Meter, _demo_file(meter_file).read_bytes())
    price = from_json(MeteredUnitPrice, _demo_file(price_file).read_bytes())
    with _demo_file(events_file).open("rb") as raw, gzip.GzipFile(fileobj=raw) as lines:
        results = fold_usage(
            meter,
            f"demo/{events_file}",
            lines,
            wanted=None,
            skip_invalid=False,
            progress=Progress.on_stderr(args.quiet),
            quiet=True,
        )
    if args.format == "table":
        aggregation = meter.aggregation
        what = getattr(aggregation, "property", "events")
        cap = (
            "" if price.cap_amount is None else f", capped at {price.cap_amount} cents"
        )
        print(f"Sample data: meter {meter.name!r}, the {aggregation.func} of {what}.")
        print(f"Price: {price.unit_amount} cents per unit{cap}.\n")
    write_usage(results, price, args.format)
    return 0
