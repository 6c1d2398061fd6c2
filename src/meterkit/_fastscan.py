"""Generated fast scans: the verdicts of ordinary events, decided inline.

A fast scan is the `_verdicts.Scan` of one meter and scope written out as one
Python function, with the event checks, the filter clauses and the aggregation
inlined, so that an ordinary wire event costs a few dictionary reads and
comparisons instead of a dozen calls. It is an accelerator, never a second
opinion:

Rule 1: for each event the fast scan either decides exactly what the scan decides
(a counted ``user`` event with a plain ``int`` value, an event the filter refuses,
a duplicate, another customer's event already known to the scan), or hands the
event to the scan itself (`Scan.verdict`): anything unusual, every ``system``
event, every error. A property test (tests/property/test_fastscan_properties.py)
holds the two equal on random meters and logs.
Rule 2: the fast scan folds counted values into local sums and hands them to the
chunk (`_chunks.Chunk.add_counted`) before any event it hands to the scan, so the
chunk sees the log's effects in order.
Rule 3: only what can be inlined exactly is (and only on Python 3.11+, whose
`datetime.fromisoformat` reads the API's timestamps): filters that are an ``and`` of
clauses on ``name``, ``source``, ``timestamp`` or a top-level metadata key, and
``count``/``sum``/``avg`` meters. For other meters `fast_scan` returns ``None`` and
the scan is used alone.
Rule 4: the generated source depends only on the meter's shape (operators, kinds of
property and value, aggregation, scope); a meter's own values are bound as
arguments. The source is registered in `linecache`, so tracebacks show it; the
module keeps a bounded table of generated code, never user data.
"""

from __future__ import annotations

import linecache
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from operator import length_hint
from typing import Any

from ._units import MAX_UNITS_EXPONENT
from ._verdicts import EFFECTS, Scan
from .matching import MISSING, CompiledMeter, json_text
from .meters import CountAggregation, Filter, FilterClause, PropertyAggregation

__all__: list[str] = []

# Python 3.10's `datetime.fromisoformat` does not read a 'Z': no fast scans there.
_FAST_ISO = sys.version_info >= (3, 11)

#: An int value the fast scan adds as it is (a unit count stays below 1E+29).
_INT_LIMIT = 10 ** (MAX_UNITS_EXPONENT + 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc) - _EPOCH

# The types of value a clause is false for without a closer look (SPEC section 3:
# a missing or null property, or a value of another JSON type, makes it false).
# A float or a Decimal is never among them: `matching` refuses a NaN or an
# infinity in any property a clause reads, so those go to the scan.
_PLAIN = frozenset({bool, int, type(None), dict, list, type(MISSING)})
_NOT_NUMBERS = (_PLAIN - {int}) | {str}
_NOT_TEXTS = _PLAIN
_NOT_BOOLS = (_PLAIN - {bool}) | {str}

_ORDER = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

FastScan = Callable[..., Any]
#: A meter's fast scans: for a list or tuple, and for any other iterable.
FastScans = tuple[FastScan, FastScan]


class Unsure(Exception):
    """Raised inside a fast scan when an event needs the scan's own verdict."""


def _unsure() -> bool:
    raise Unsure


def _shape(compiled: CompiledMeter, scope: str) -> tuple[Any, ...] | None:
    """The meter's shape in a scope; None when it cannot be inlined (Rule 3)."""
    meter = compiled.meter
    aggregation = meter.aggregation
    if isinstance(aggregation, CountAggregation):
        value_key: str | None = None
    elif isinstance(aggregation, PropertyAggregation) and aggregation.func in (
        "sum",
        "avg",
    ):
        value_key = aggregation.property.removeprefix("metadata.")
        if "." in value_key or value_key in ("name", "source", "timestamp"):
            return None
    else:
        return None
    filter_ = meter.filter
    if filter_.clauses and filter_.conjunction != "and" and len(filter_.clauses) > 1:
        return None
    clauses = []
    for clause in filter_.clauses:
        if isinstance(clause, Filter) or not isinstance(clause, FilterClause):
            return None
        prop = clause.property
        if prop in ("name", "source", "timestamp"):
            where = prop
        else:
            key = prop.removeprefix("metadata.")
            if "." in key:
                return None
            where = "metadata"
        kind = (
            "bool"
            if isinstance(clause.value, bool)
            else "int"
            if isinstance(clause.value, int)
            else "str"
        )
        clauses.append((where, clause.operator, kind))
    return (scope, compiled.func, value_key is not None, tuple(clauses))


def _arguments(compiled: CompiledMeter, customer: str | None) -> list[Any]:
    """The meter's own values, in the order of the generated ``make``'s
    parameters: ``C``, ``KV``, then each clause's key ``Ki`` and value ``Vi``."""
    meter = compiled.meter
    # `_shape` let only plain clauses through.
    clauses = [c for c in meter.filter.clauses if isinstance(c, FilterClause)]
    assert len(clauses) == len(meter.filter.clauses)
    return [
        customer,
        getattr(meter.aggregation, "property", "").removeprefix("metadata."),
        *(clause.property.removeprefix("metadata.") for clause in clauses),
        *(
            json_text(clause.value)
            if clause.operator in ("like", "not_like")
            else clause.value
            for clause in clauses
        ),
    ]


def _clause_code(i: int, where: str, operator: str, kind: str) -> str:
    """One clause as an expression that is exactly `matching`'s verdict, or raises
    `Unsure` for a value it does not decide inline."""
    get = {
        "name": "name",
        "source": "src",
        "timestamp": "((dt - EPOCH) // SECOND)",
    }.get(where, f"md.get(K{i})")
    value = f"V{i}"
    if operator in ("like", "not_like"):
        test = "in" if operator == "like" else "not in"
        return (
            f"(({value} {test} x) if type(x := {get}) is str else "
            f"(False if x is None or x is MISSING else unsure()))"
        )
    symbol = _ORDER[operator]
    if where in ("name", "source"):  # always a str
        return f"({get} {symbol} {value})" if kind == "str" else "False"
    if kind == "str":
        return (
            f"((x {symbol} {value}) if (t := type(x := {get})) is str else "
            f"(False if t in NOT_TEXTS else unsure()))"
        )
    if kind == "bool":
        if operator not in ("eq", "ne"):
            return f"(False if type({get}) in NOT_BOOLS else unsure())"
        return (
            f"((x {symbol} {value}) if (t := type(x := {get})) is bool else "
            f"(False if t in NOT_BOOLS else unsure()))"
        )
    return (
        f"((x {symbol} {value}) if (t := type(x := {get})) is int else "
        f"(False if t in NOT_NUMBERS else unsure()))"
    )


_KEYS = [
    ("cid", '"customer_id"', "None"),
    ("ecid", '"external_customer_id"', "None"),
    ("name", '"name"', "None"),
    ("ts", '"timestamp"', "None"),
    ("src", '"source"', '"user"'),
    ("md", '"metadata"', "None"),
    ("xid", '"external_id"', "None"),
]

_CID_TEST = "(cid is None or (type(cid) is str and cid in ids))"
_ECID_TEST = "(ecid is None or (type(ecid) is str and ecid))"

# The body every fast scan shares: read the rest of the event's keys, check them
# as `events.read_event` does, parse the timestamp as `_fields.parse_rfc3339` does
# for the API's layout (a value that is not a str makes `len` or `fromiso` raise
# TypeError: the scan decides), and test the filter.
_READ_AND_CHECK = """
                    try:
{reads}
                    except KeyError:
{gets}
                    if not (
                        type(name) is str
                        and name
                        and src == "user"
                        and {id_tests}
                        and type(md) is dict
                        and (xid is None or (type(xid) is str and xid))
                        and len(ts) == 20
                        and ts[4:20:3] == "--T::Z"
                    ):
                        raise Unsure
                    dt = fromiso(ts)"""


def _parts(
    shape: tuple[Any, ...], sized: bool, first: str, id_tests: str
) -> dict[str, str]:
    """The pieces both kinds of fast scan are made of."""
    _, func, reads_value, clauses = shape
    n = len(clauses)
    rest = [key for key in _KEYS if key[0] != first]
    body = _READ_AND_CHECK.format(
        reads="\n".join(f"                        {v} = e[{k}]" for v, k, _ in rest),
        gets="\n".join(
            f"                        {v} = e.get({k}, {d})" for v, k, d in rest
        ),
        id_tests=id_tests,
    )
    if sized:
        loop = (
            "end = start + len(events)\n"
            "            it = iter(events)\n"
            "            for e in it:"
        )
        at = "end - length_hint(it) - 1"
    else:
        loop = "for index, e in enumerate(events, start):"
        at = "index"
    return {
        "params": ", ".join(
            ["C", "KV", *(f"K{i}" for i in range(n)), *(f"V{i}" for i in range(n))]
        ),
        "matches": " and ".join(
            _clause_code(i, where, op, kind)
            for i, (where, op, kind) in enumerate(clauses)
        )
        or "True",
        "body": body,
        # A counted event's value: an int in range, or the scan decides.
        "value": """
                        v = md.get(KV)
                        if type(v) is not int or v < 0 or v >= INT_LIMIT:
                            raise Unsure"""
        if reads_value
        else "",
        # What a counted event adds to the sums not yet in the chunk: the count
        # only where the aggregation reads it (`_tally.Tally.quantity`); into
        # locals for `_source`, into a customer's pending [count, sum] for
        # `_source_by`.
        "sums": _adds(func, "count", "ints"),
        "tally": _adds(func, "got[0]", "got[1]"),
        "loop": loop,
        "at": at,
    }


def _adds(func: str, count: str, total: str) -> str:
    """The lines adding a counted event's 1 to ``count`` and value ``v`` to
    ``total``, each only where ``func`` reads it (`_shape`: count, sum or avg)."""
    lines = [f"{count} += 1"] if func in ("count", "avg") else []
    if func in ("sum", "avg"):
        lines.append(f"{total} += v")
    return "\n".join(" " * 24 + line for line in lines)


def _source(shape: tuple[Any, ...], sized: bool) -> str:
    """A fast scan for one scope; ``sized``: for a list or tuple, whose position is
    read off its iterator only when an index is needed (no enumerate per event)."""
    scope = shape[0]
    if scope == "customer_id":
        # The scope's own key is read first: another customer's event costs one
        # read and one set lookup. A missing key or an unhashable value goes to
        # the scan.
        first, id_tests = "cid", _ECID_TEST
        scope_test = """
                    cid = e["customer_id"]
                    if cid != C:
                        if cid in others:
                            continue
                        raise Unsure"""
    elif scope == "external_customer_id":
        first, id_tests = "ecid", _CID_TEST
        scope_test = """
                    ecid = e["external_customer_id"]
                    if ecid != C:
                        if type(ecid) is str:
                            continue
                        raise Unsure"""
    else:
        first, id_tests = "", f"{_CID_TEST}\n                        and {_ECID_TEST}"
        scope_test = ""
    p = _parts(shape, sized, first, id_tests)
    return f"""
def make({p["params"]}):
    def fast_scan(events, start, scan, chunk):
        firsts = scan.firsts
        ids = scan.ids
        others = scan.others
        passed = scan.passed_over
        verdict = scan.verdict
        take = chunk.take
        at_start = chunk.at_start
        count = 0
        ints = 0
        index = start - 1
        it = None
        try:
            {p["loop"]}
                try:
                    if type(e) is not dict:
                        raise Unsure{scope_test}{p["body"]}
                    if {p["matches"]}:{p["value"]}
                        if xid is not None:
                            if xid in firsts:
                                continue
                            if not at_start:
                                raise Unsure
                            firsts[xid] = {p["at"]}
{p["sums"]}
                    elif xid is not None and xid not in firsts:
                        firsts[xid] = {p["at"]}
                    continue
                except (Unsure, ValueError, KeyError, TypeError):
                    pass
                # The scan's own verdict, after the sums so far (Rule 2).
                if count or ints:
                    chunk.add_counted(count, ints)
                    count = ints = 0
                index = {p["at"]}
                scan.next_index = index + 1
                if passed(e):
                    continue
                found = verdict(e, index, None)
                if found.kind in EFFECTS:
                    take(found.kind, found.value, found.view.external_id)
        finally:
            if count or ints:
                chunk.add_counted(count, ints)
            if it is not None:
                # The event being read when an error came is taken, as in the scan.
                index = end - length_hint(it) - 1
            scan.next_index = index + 1
    return fast_scan
"""


def _source_by(shape: tuple[Any, ...], sized: bool) -> str:
    """A fast scan for `usage.UsageByCustomer`: every customer's fold at once.

    ``pending[key]`` is ``[count, sum, firsts]`` of one customer, by its key as
    written in events: the counted events not yet handed to its chunk (``count``
    kept only where the aggregation reads it), and its scan's ``external_id``
    table (holding 0 for the first event's position: `usage.UsageByCustomer`
    never asks for it, and reading the position off a list costs a call per
    event). ``enroll(key)`` makes the entry of a customer's first event, once the
    event is checked (it raises `Unsure` for a key it cannot take). ``counts``
    gathers how many events were counted, duplicates and left out by the meter.
    """
    if shape[0] == "by_customer_id":
        # ``pending`` is keyed by the customer_id as written (checked before).
        first, id_tests = "cid", _ECID_TEST
        key = """
                    cid = e["customer_id"]"""
        written = "cid"
    else:
        first, id_tests = "ecid", _CID_TEST
        key = """
                    ecid = e["external_customer_id"]"""
        written = "ecid"
    p = _parts(shape, sized, first, id_tests)
    return f"""
def make({p["params"]}):
    def fast_scan(events, start, ids, pending, enroll, slow, counts):
        index = start - 1
        it = None
        counted = duplicates = left_out = 0
        try:
            {p["loop"]}
                try:
                    if type(e) is not dict:
                        raise Unsure{key}{p["body"]}
                    if {p["matches"]}:{p["value"]}
                        got = pending.get({written}) or enroll({written})
                        if xid is not None:
                            firsts = got[2]
                            if xid in firsts:
                                duplicates += 1
                                continue
                            firsts[xid] = 0
{p["tally"]}
                        counted += 1
                    else:
                        got = pending.get({written}) or enroll({written})
                        if xid is not None:
                            if xid in (firsts := got[2]):
                                duplicates += 1
                                continue
                            firsts[xid] = 0
                        left_out += 1
                    continue
                except (Unsure, ValueError, KeyError, TypeError):
                    pass
                index = {p["at"]}
                slow(e, index)
        finally:
            counts[0] += counted
            counts[1] += duplicates
            counts[2] += left_out
        if it is not None:
            return end
        return index + 1
    return fast_scan
"""


# Generated code by shape (Rule 4): bounded, and holding no user data.
_MADE: dict[tuple[Any, ...], Callable[..., FastScan]] = {}
_MAX_MADE = 256


def fast_scan(scan: Scan) -> FastScans | None:
    """The fast scans of ``scan``'s meter and scope, or None (Rule 3)."""
    if scan.customer_id is not None and scan.external_customer_id is not None:
        return None  # both keys: the scan alone
    scope = (
        "customer_id"
        if scan.customer_id is not None
        else "external_customer_id"
        if scan.external_customer_id is not None
        else "all"
    )
    customer = scan.customer_id or scan.external_customer_id
    return _both(scan.compiled, scope, customer, _source)


def fast_scan_by(compiled: CompiledMeter, by: str) -> FastScans | None:
    """The fast scans of `usage.UsageByCustomer` with key ``by``, or None."""
    return _both(compiled, f"by_{by}", None, _source_by)


def _both(
    compiled: CompiledMeter,
    scope: str,
    customer: str | None,
    write: Callable[[tuple[Any, ...], bool], str],
) -> FastScans | None:
    if not _FAST_ISO:
        return None  # every event would go to the scan, through an exception
    shape = _shape(compiled, scope)
    if shape is None:
        return None
    args = _arguments(compiled, customer)
    return (_make(shape, True, write)(*args), _make(shape, False, write)(*args))


def _make(
    shape: tuple[Any, ...], sized: bool, write: Callable[[tuple[Any, ...], bool], str]
) -> Callable[..., FastScan]:
    key = (*shape, sized)
    make = _MADE.get(key)
    if make is None:
        source = write(shape, sized)
        filename = f"<meterkit fastscan {len(_MADE)}: {shape[0]} {shape[1]}>"
        namespace: dict[str, Any] = {
            "Unsure": Unsure,
            "unsure": _unsure,
            "MISSING": MISSING,
            "NOT_NUMBERS": _NOT_NUMBERS,
            "NOT_TEXTS": _NOT_TEXTS,
            "NOT_BOOLS": _NOT_BOOLS,
            "EPOCH": _EPOCH,
            "SECOND": _SECOND,
            "INT_LIMIT": _INT_LIMIT,
            "EFFECTS": EFFECTS,
            "fromiso": datetime.fromisoformat,
            "length_hint": length_hint,
        }
        code = compile(source, filename, "exec")
        exec(code, namespace)
        lines = source.splitlines(True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        make = namespace["make"]
        if len(_MADE) >= _MAX_MADE:
            _MADE.pop(next(iter(_MADE)))
        _MADE[key] = make
    return make
