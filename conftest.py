"""Root conftest: names for the docstring examples of src/, and none for the docs.

The examples in README.md and docs/*.md are read as a newcomer pastes them: into a
fresh interpreter started at the repository's root. So their doctests get an empty
namespace (not even pytest's ``getfixture``), and each file defines what it uses.
The docstrings in src/ may use the helpers below. tests/test_docs.py runs the
Markdown files again with plain `doctest`, without pytest's doctest plugin.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from datetime import datetime, timezone
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


EXAMPLE_METER_ID = "d498a884-e2cd-4d3e-8002-f536468a8b22"


def example_meter() -> meterkit.Meter:
    """A meter of LLM tokens: events named "llm", sum of ``total_tokens``."""
    return meterkit.Meter(
        id=EXAMPLE_METER_ID,
        name="LLM tokens",
        filter=meterkit.Filter(
            clauses=[meterkit.FilterClause(property="name", operator="eq", value="llm")]
        ),
        aggregation=meterkit.PropertyAggregation(func="sum", property="total_tokens"),
        created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )


def example_use(tokens: int, customer: str = "acme", **extra: Any) -> dict[str, Any]:
    """A wire event of ``tokens`` LLM tokens for the external customer ``customer``."""
    return {
        "name": "llm",
        "timestamp": "2025-01-02T10:00:00Z",
        "external_customer_id": customer,
        "metadata": {"total_tokens": tokens},
        **extra,
    }


def example_credit(
    units: int, rollover: bool = False, customer: str = "acme"
) -> dict[str, Any]:
    """A ``meter.credited`` system event for `example_meter`."""
    return {
        "name": "meter.credited",
        "timestamp": "2025-01-02T09:00:00Z",
        "source": "system",
        "external_customer_id": customer,
        "metadata": {
            "meter_id": EXAMPLE_METER_ID,
            "units": units,
            "rollover": rollover,
        },
    }


def example_reset(customer: str = "acme") -> dict[str, Any]:
    """A ``meter.reset`` system event for `example_meter`."""
    return {
        "name": "meter.reset",
        "timestamp": "2025-01-02T09:30:00Z",
        "source": "system",
        "external_customer_id": customer,
        "metadata": {"meter_id": EXAMPLE_METER_ID},
    }


def _is_markdown(item: pytest.Item) -> bool:
    return item.path.suffix == ".md"


@pytest.fixture(autouse=True)
def _doctest_names(
    request: pytest.FixtureRequest, doctest_namespace: dict[str, Any]
) -> None:
    if _is_markdown(request.node):
        # A fresh interpreter at the repository's root; what the file imports or
        # puts on sys.path is undone afterwards.
        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.chdir(request.config.rootpath)
        monkeypatch.setattr(sys, "path", list(sys.path))
        monkeypatch.delitem(sys.modules, "dask_usage", raising=False)
        return
    doctest_namespace["example_customer_meter"] = example_customer_meter
    doctest_namespace["EXAMPLE_CUSTOMER_METER_JSON"] = EXAMPLE_CUSTOMER_METER_JSON
    doctest_namespace["example_meter"] = example_meter
    doctest_namespace["example_use"] = example_use
    doctest_namespace["example_credit"] = example_credit
    doctest_namespace["example_reset"] = example_reset


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Empty the namespace of a Markdown file's doctest once pytest has filled it.

    pytest adds ``getfixture`` and the session-wide ``doctest_namespace`` (filled
    by the docstrings of src/) to every doctest; a README example that used them
    would pass here and fail when pasted.
    """
    yield
    dtest = getattr(item, "dtest", None)
    if dtest is not None and _is_markdown(item):
        dtest.globs.clear()
        dtest.globs["__name__"] = "__main__"
