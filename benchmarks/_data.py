"""Deterministic benchmark inputs: wire-dict events and the meter the issue names."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from meterkit import (
    CustomerMeter,
    Filter,
    FilterClause,
    Meter,
    MeterRef,
    PropertyAggregation,
)

METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"
MODELS = ("gpt-4o", "gpt-4o-mini", "claude", "llama")


def customers(n: int = 200, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def meter() -> Meter:
    """Two ``eq`` clauses (one on ``name``, one on a metadata key) and a ``sum``."""
    return Meter(
        id=METER_ID,
        name="gpt-4o tokens",
        filter=Filter(
            clauses=[
                FilterClause(property="name", operator="eq", value="llm"),
                FilterClause(property="model", operator="eq", value="gpt-4o"),
            ]
        ),
        aggregation=PropertyAggregation(func="sum", property="total_tokens"),
        created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )


def events(n: int, ids: list[str], seed: int = 11) -> list[dict[str, Any]]:
    """``n`` wire events spread over ``ids``; about half are gpt-4o LLM calls."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        moment = start + timedelta(seconds=i * 7)
        out.append(
            {
                "name": "llm" if rng.random() < 0.8 else "embedding",
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "customer_id": rng.choice(ids),
                "external_customer_id": None,
                "external_id": None,
                "source": "user",
                "metadata": {
                    "model": rng.choice(MODELS[:2]) if rng.random() < 0.9 else "x",
                    "total_tokens": rng.randint(1, 4000),
                },
            }
        )
    return out


def hand_written(evs: list[dict[str, Any]], customer_id: str) -> int:
    """The baseline: the same meter hard-coded as a plain loop over the dicts."""
    total = 0
    for e in evs:
        if e["customer_id"] != customer_id or e["name"] != "llm":
            continue
        metadata = e["metadata"]
        if metadata.get("model") != "gpt-4o":
            continue
        tokens = metadata.get("total_tokens")
        if type(tokens) is int:
            total += tokens
    return total


def hand_by_customer(evs: list[dict[str, Any]]) -> dict[str, int]:
    """The baseline of usage_by_customer: the same meter, routed by customer_id."""
    totals: dict[str, int] = {}
    for e in evs:
        if e["name"] != "llm":
            continue
        metadata = e["metadata"]
        if metadata.get("model") != "gpt-4o":
            continue
        tokens = metadata.get("total_tokens")
        if type(tokens) is int:
            customer = e["customer_id"]
            totals[customer] = totals.get(customer, 0) + tokens
    return totals


def customer_meter() -> CustomerMeter:
    """The customer meter the serialization benchmarks read and write."""
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    t1 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    meter = MeterRef(
        id="d498a884-e2cd-4d3e-8002-f536468a8b22", name="Tokens", created_at=t0
    )
    return CustomerMeter(
        id="6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10",
        created_at=t0,
        modified_at=t1,
        customer_id="992fae2a-2a17-4b7a-8d9e-e287cf90131b",
        meter_id=meter.id,
        consumed_units="25.5",
        credited_units=100,
        meter=meter,
    )
