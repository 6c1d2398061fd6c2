"""How fast can pure Python read a CustomerMeter at all? The floor under from_dict.

Run: .venv/bin/python benchmarks/bench_read_floor.py  (needs `.[bench]`)

Issue 7 asks for `from_dict(CustomerMeter, wire)` at most 1.0x the Polar SDK's
`CustomerCustomerMeter.model_validate(wire)`, which runs compiled (pydantic-core).
This script measures two hand-written readers of that one shape, each built the
fastest way we found (one function, no loop, slots stored through their
descriptors, no attrs converters), against `model_validate` in the same run:

- ``checked``: every check the spec requires of the document, each at its
  cheapest: lower-case UUIDs (one compiled regex each; ``meter_id`` only by
  equality with the checked ``meter.id``), timestamps in the API's ``...Z`` layout,
  unit counts in range, and ``balance`` agreeing with ``credited - consumed``.
- ``unchecked``: no checks at all: it converts the values (``fromisoformat``,
  ``Decimal(repr(float))``, the balance) and builds the two objects, nothing else.

Both are asserted to build exactly what `from_dict` builds before any timing. If
``unchecked`` alone is near 1.0x, no pure-Python reader that checks its input can
meet the target; see docs/performance.md. The readers are specialised by hand to
this document and are not part of meterkit.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from polar_sdk.models import CustomerCustomerMeter

sys.path.insert(0, str(Path(__file__).parent))

import _data
from _timing import paired

from meterkit import CustomerMeter, MeterRef, from_dict, to_dict
from meterkit._units import UNITS, ZERO

_F: Any = object()
_uuid = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
).fullmatch
_iso = datetime.fromisoformat
_new = object.__new__
_sub = UNITS.subtract
_CM = CustomerMeter
_MR = MeterRef
(_c_id, _c_created, _c_modified, _c_customer, _c_meter_id) = (
    _CM.__dict__[name].__set__
    for name in ("id", "created_at", "modified_at", "customer_id", "meter_id")
)
(_c_consumed, _c_credited, _c_balance, _c_meter) = (
    _CM.__dict__[name].__set__
    for name in ("consumed_units", "credited_units", "balance", "meter")
)
(_m_id, _m_created, _m_modified, _m_name) = (
    _MR.__dict__[name].__set__ for name in ("id", "created_at", "modified_at", "name")
)


def _moment(v: Any) -> Any:
    if type(v) is str and len(v) == 20 and v[4:20:3] == "--T::Z":
        try:
            return _iso(v)
        except ValueError:
            return _F
    return _F


def checked_meter(d: Any) -> Any:
    if type(d) is not dict:
        return _F
    get = d.get
    i, n, c, m = get("id"), get("name"), _moment(get("created_at")), get("modified_at")
    if type(i) is not str or not _uuid(i) or type(n) is not str or not n or c is _F:
        return _F
    if m is not None:
        m = _moment(m)
        if m is _F:
            return _F
    o = _new(_MR)
    _m_id(o, i), _m_created(o, c), _m_modified(o, m), _m_name(o, n)
    return o


def checked(d: Any) -> Any:
    if type(d) is not dict:
        return _F
    get = d.get
    meter = checked_meter(get("meter"))
    if meter is _F:
        return _F
    i, cid, mid = get("id"), get("customer_id"), get("meter_id")
    if mid != meter.id or type(i) is not str or not _uuid(i):
        return _F
    if type(cid) is not str or not _uuid(cid):
        return _F
    c, m = _moment(get("created_at")), get("modified_at")
    if c is _F:
        return _F
    if m is not None:
        m = _moment(m)
        if m is _F:
            return _F
    cu, cr = get("consumed_units"), get("credited_units")
    if type(cu) is float and 1e-20 <= cu < 1e28:
        cu = Decimal(repr(cu))
    elif type(cu) is int and 0 <= cu < 10**28:
        cu = Decimal(cu)
    else:
        return _F
    if type(cr) is not int or not 0 <= cr < 10**29:
        return _F
    balance = _sub(cr, cu)
    if balance < ZERO:
        balance = ZERO
    b = get("balance")
    if type(b) is not float or b != float(balance):
        return _F
    o = _new(_CM)
    _c_id(o, i), _c_created(o, c), _c_modified(o, m), _c_customer(o, cid)
    _c_meter_id(o, mid), _c_consumed(o, cu), _c_credited(o, cr)
    _c_balance(o, balance), _c_meter(o, meter)
    return o


def unchecked_meter(d: Any) -> Any:
    get = d.get
    m = get("modified_at")
    o = _new(_MR)
    _m_id(o, get("id")), _m_created(o, _iso(get("created_at")))
    _m_modified(o, None if m is None else _iso(m)), _m_name(o, get("name"))
    return o


def unchecked(d: Any) -> Any:
    get = d.get
    meter = unchecked_meter(get("meter"))
    m = get("modified_at")
    cu, cr = Decimal(repr(get("consumed_units"))), get("credited_units")
    balance = _sub(cr, cu)
    o = _new(_CM)
    _c_id(o, get("id")), _c_created(o, _iso(get("created_at")))
    _c_modified(o, None if m is None else _iso(m)), _c_customer(o, get("customer_id"))
    _c_meter_id(o, get("meter_id")), _c_consumed(o, cu), _c_credited(o, cr)
    _c_balance(o, balance if balance > ZERO else ZERO), _c_meter(o, meter)
    return o


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    wire = to_dict(_data.customer_meter())
    expected = from_dict(CustomerMeter, wire)
    for reader in (checked, unchecked):
        got = reader(wire)
        assert repr(got) == repr(expected), reader.__name__  # balance too

    def polar() -> Any:
        return CustomerCustomerMeter.model_validate(wire)

    for name, reader in (
        ("from_dict", lambda: from_dict(CustomerMeter, wire)),
        ("checked", lambda: checked(wire)),
        ("unchecked", lambda: unchecked(wire)),
    ):
        ours, base, ratio = paired(
            reader, polar, number=args.number, repeats=args.repeats
        )
        print(
            f"{name:9} {ours * 1e6:.2f} us; polar model_validate {base * 1e6:.2f} us;"
            f" ratio {ratio:.2f}x"
        )


if __name__ == "__main__":
    main()
