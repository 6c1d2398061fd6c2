"""Root conftest: names shared by the doctests in src/ and the Markdown docs."""

from __future__ import annotations

from typing import Any

import pytest

import meterkit

EXAMPLE_CUSTOMER_METER_JSON = """{
  "id": "6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10",
  "created_at": "2025-01-01T00:00:00Z",
  "modified_at": null,
  "customer_id": "992fae2a-2a17-4b7a-8d9e-e287cf90131b",
  "meter_id": "d498a884-e2cd-4d3e-8002-f536468a8b22",
  "consumed_units": 25,
  "credited_units": 100,
  "balance": 75,
  "meter": {
    "created_at": "2025-01-01T00:00:00Z",
    "modified_at": null,
    "id": "d498a884-e2cd-4d3e-8002-f536468a8b22",
    "name": "Tokens"
  }
}"""


def example_customer_meter() -> meterkit.CustomerMeter:
    """The customer meter of docs/serialization.md: consumed 25, credited 100."""
    return meterkit.from_json(meterkit.CustomerMeter, EXAMPLE_CUSTOMER_METER_JSON)


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict[str, Any]) -> None:
    doctest_namespace["example_customer_meter"] = example_customer_meter
    doctest_namespace["EXAMPLE_CUSTOMER_METER_JSON"] = EXAMPLE_CUSTOMER_METER_JSON
