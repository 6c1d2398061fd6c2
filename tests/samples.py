"""Fixed sample values shared by the example tests."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from meterkit import CustomerMeter, MeterRef, SubscriptionMeter

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"
CUSTOMER_ID = "992fae2a-2a17-4b7a-8d9e-e287cf90131b"
OBJECT_ID = "6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10"


def meter_ref(**changes: Any) -> MeterRef:
    fields: dict[str, Any] = {"id": METER_ID, "name": "Tokens", "created_at": T0}
    fields.update(changes)
    return MeterRef(**fields)


def customer_meter(**changes: Any) -> CustomerMeter:
    fields: dict[str, Any] = {
        "id": OBJECT_ID,
        "created_at": T0,
        "modified_at": None,
        "customer_id": CUSTOMER_ID,
        "meter_id": METER_ID,
        "consumed_units": Decimal(25),
        "credited_units": 100,
        "meter": meter_ref(),
    }
    fields.update(changes)
    return CustomerMeter(**fields)


def subscription_meter(**changes: Any) -> SubscriptionMeter:
    fields: dict[str, Any] = {
        "created_at": T0,
        "modified_at": None,
        "id": OBJECT_ID,
        "consumed_units": Decimal(25),
        "credited_units": 100,
        "amount": 0,
        "meter_id": METER_ID,
    }
    fields.update(changes)
    return SubscriptionMeter(**fields)


def customer_meter_wire() -> dict[str, Any]:
    return {
        "id": OBJECT_ID,
        "created_at": "2025-01-01T00:00:00Z",
        "modified_at": None,
        "customer_id": CUSTOMER_ID,
        "meter_id": METER_ID,
        "consumed_units": 25,
        "credited_units": 100,
        "balance": 75,
        "meter": {
            "created_at": "2025-01-01T00:00:00Z",
            "modified_at": None,
            "id": METER_ID,
            "name": "Tokens",
        },
    }


def subscription_meter_wire() -> dict[str, Any]:
    return {
        "created_at": "2025-01-01T00:00:00Z",
        "modified_at": None,
        "id": OBJECT_ID,
        "consumed_units": 25,
        "credited_units": 100,
        "amount": 0,
        "meter_id": METER_ID,
    }
