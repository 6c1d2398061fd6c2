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
import csv
import gzip
import importlib.resources
import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from .._fields import parse_id
from ..errors import InexactError, MeterkitError
from ..meters import Meter
from ..pricing import MeteredUnitPrice, Price, amount_due
from ..serialization import from_json, to_dict
from ..usage import Usage, UsageByCustomer, usage
from ._io import (
    EventLines,
    Progress,
    check_price,
    number_text,
    open_events,
    read_document,
    read_price,
    relocated,
    table,
)

__all__ = ["DEMO_FILES", "fold_usage", "run_demo", "run_usage", "write_usage"]

USAGE_FIELDS = ("consumed_units", "credited_units", "balance", "rollover_units")
KINDS = ("customer_id", "external_customer_id")

#: The sample meter, price and events bundled in the package's ``data`` folder.
DEMO_FILES = ("llm-meter.json", "llm-price.json", "llm-events.jsonl.gz")

# ("customer_id", canonical UUID) or ("external_customer_id", the id as written).
CustomerKey = tuple[str, str]


class CustomerFolds:
    """Every customer's usage in one pass (Rule 1): two `UsageByCustomer` folds.

    An event with a ``customer_id`` goes to the fold keyed by ``customer_id``; one
    without goes to the fold keyed by ``external_customer_id``. Each event is
    read once, by the library, in the fold it is routed to.
    """

    def __init__(self, meter: Meter, wanted: Sequence[str] | None):
        self._meter = meter
        self._by_id = UsageByCustomer(meter, by="customer_id")
        self._by_external = UsageByCustomer(meter, by="external_customer_id")
        self._wanted = list(wanted or ())

    @property
    def without_customer(self) -> int:
        return self._by_external.without_customer

    def add(self, event: object) -> None:
        """Fold one event; after a `MeterkitError` every result is unchanged."""
        if type(event) is dict and event.get("customer_id") is None:
            self._by_external.add(event)
        else:
            self._by_id.add(event)  # a line that is not an object is refused here

    def results(self) -> list[tuple[CustomerKey, Usage]]:
        """Each customer's `Usage`, in the order of Rule 3.

        With ``--customer``, only the customers asked for, each matching either
        kind of id; one without events gets the usage of no events (zeros), as a
        customer_id when the id is a UUID.
        """
        found: dict[CustomerKey, Usage] = {}
        for kind, folds in zip(KINDS, (self._by_id, self._by_external), strict=True):
            found.update(((kind, key), usage) for key, usage in folds.result().items())
        if self._wanted:
            selected: dict[CustomerKey, Usage] = {}
            for raw in self._wanted:
                keys: list[CustomerKey] = [("external_customer_id", raw)]
                with contextlib.suppress(MeterkitError):
                    keys.insert(0, ("customer_id", parse_id(raw, "customer")))
                hits = [key for key in keys if key in found]
                for key in hits:
                    selected[key] = found[key]
                if not hits:
                    selected[keys[0]] = usage(self._meter, ())
            found = selected
        return sorted(
            found.items(), key=lambda item: (KINDS.index(item[0][0]), item[0][1])
        )


def fold_usage(
    meter: Meter,
    path: str,
    lines: Iterable[bytes],
    *,
    wanted: Sequence[str] | None,
    skip_invalid: bool,
    progress: Progress,
) -> list[tuple[CustomerKey, Usage]]:
    """Fold the event ``lines`` of the file ``path`` per customer."""
    by_customer = CustomerFolds(meter, wanted)
    events = EventLines(
        path, lines, progress, (lambda message: None) if skip_invalid else None
    )
    for line, event in events:
        try:
            by_customer.add(event)
        except InexactError as exc:
            # A running total out of range is not one line's fault: stop.
            events.stop(line, relocated(exc))
        except MeterkitError as exc:
            events.fail(line, relocated(exc))
    events.report_skipped()
    count = by_customer.without_customer
    if count:
        print(
            f"{events.name}: {count} event{'s' if count != 1 else ''} without "
            "customer_id or external_customer_id counted for no customer",
            file=sys.stderr,
        )
    return by_customer.results()


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
    records = [usage_record(key, result, price) for key, result in results]
    fields = [*USAGE_FIELDS, *(["amount"] if price is not None else [])]
    out = sys.stdout
    if form == "json":
        for record in records:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    elif form == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*KINDS, *fields])
        for record in records:
            ids = [record.get(kind, "") for kind in KINDS]
            writer.writerow([*ids, *(number_text(record[f]) for f in fields)])
    else:
        rows = [
            [record.get("customer_id") or record["external_customer_id"]]
            + [number_text(record[f]) for f in fields]
            for record in records
        ]
        out.write(table(["customer", *fields], rows))


def run_usage(args: argparse.Namespace) -> int:
    meter = read_document(Meter, args.meter)
    price = None
    if args.price is not None:
        price = read_price(args.price)
        check_price(price, meter, args.price)
    with open_events(args.events) as lines:
        results = fold_usage(
            meter,
            args.events,
            lines,
            wanted=args.customer,
            skip_invalid=args.skip_invalid,
            progress=Progress.on_stderr(args.quiet),
        )
    write_usage(results, price, args.format)
    return 0


def _demo_file(name: str) -> Any:
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
