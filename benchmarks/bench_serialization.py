"""to_dict / from_dict against the Polar SDK's pydantic models, and msgspec.

Run: .venv/bin/python benchmarks/bench_serialization.py  (needs `.[bench]`)

Targets (issue 7): `to_dict(customer_meter)` at most 0.5x the time of the Polar
SDK's `CustomerCustomerMeter.model_dump(mode="json", by_alias=True)`, and
`from_dict(CustomerMeter, wire)` at most 1.0x its `model_validate(wire)`. msgspec's
encode/decode of an equivalent Struct is reported as the practical floor. Each
figure is the median of paired repeats of 20,000 calls.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

import msgspec
from polar_sdk.models import CustomerCustomerMeter

sys.path.insert(0, str(Path(__file__).parent))

import _data
from _timing import paired

from meterkit import CustomerMeter, from_dict, to_dict


class MeterStruct(msgspec.Struct):
    created_at: datetime
    modified_at: datetime | None
    id: str
    name: str


class CustomerMeterStruct(msgspec.Struct):
    id: str
    created_at: datetime
    modified_at: datetime | None
    customer_id: str
    meter_id: str
    consumed_units: float
    credited_units: int
    balance: float
    meter: MeterStruct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n, r = args.number, args.repeats

    value = _data.customer_meter()
    wire = to_dict(value)
    model = CustomerCustomerMeter.model_validate(wire)
    assert model.model_dump(mode="json", by_alias=True).keys() == wire.keys()
    struct = msgspec.convert(wire, CustomerMeterStruct)
    decoder = msgspec.json.Decoder(CustomerMeterStruct)
    encoded = msgspec.json.encode(struct)

    ours, polar, ratio = paired(
        lambda: to_dict(value),
        lambda: model.model_dump(mode="json", by_alias=True),
        number=n,
        repeats=r,
    )
    _, floor, floor_ratio = paired(
        lambda: to_dict(value), lambda: msgspec.to_builtins(struct), number=n, repeats=r
    )
    print(
        f"to_dict {ours * 1e6:.2f} us; polar model_dump {polar * 1e6:.2f} us;"
        f" ratio {ratio:.2f}x (target <= 0.5x); msgspec.to_builtins {floor * 1e6:.2f}"
        f" us, ours {floor_ratio:.1f}x it"
    )
    ours, polar, ratio = paired(
        lambda: from_dict(CustomerMeter, wire),
        lambda: CustomerCustomerMeter.model_validate(wire),
        number=n,
        repeats=r,
    )
    _, floor, floor_ratio = paired(
        lambda: from_dict(CustomerMeter, wire),
        lambda: msgspec.convert(wire, CustomerMeterStruct),
        number=n,
        repeats=r,
    )
    print(
        f"from_dict {ours * 1e6:.2f} us; polar model_validate {polar * 1e6:.2f} us;"
        f" ratio {ratio:.2f}x (target <= 1.0x); msgspec.convert {floor * 1e6:.2f} us,"
        f" ours {floor_ratio:.1f}x it"
    )
    _, enc, _ = paired(lambda: None, lambda: msgspec.json.encode(struct), number=n)
    _, dec, _ = paired(lambda: None, lambda: decoder.decode(encoded), number=n)
    print(f"msgspec JSON bytes: encode {enc * 1e6:.2f} us, decode {dec * 1e6:.2f} us")


if __name__ == "__main__":
    main()
