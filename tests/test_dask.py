"""The Dask recipe of docs/scale-out.md (examples/dask_usage.py) equals one fold.

A log of about 20 customers, with credits, resets, revocations, events of another
meter and ``external_id`` duplicates across files, is written as JSONL files; the
recipe's result for every customer must equal `usage` over the whole log read in
one process.
"""

from __future__ import annotations

import importlib
import itertools
import json
import random
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

dask = pytest.importorskip("dask")
db = pytest.importorskip("dask.bag")

from meterkit import (  # noqa: E402 (after the importorskip of the optional extra)
    Filter,
    FilterClause,
    Meter,
    MeterkitError,
    PropertyAggregation,
    UniqueAggregation,
    usage,
)

from .samples import METER_ID, T0  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))
dask_usage = importlib.import_module("dask_usage")

OTHER_METER_ID = "0b5e3bb4-5bd3-4b8d-9c39-8f7c1f3c1d2e"
CUSTOMERS = [f"cust-{n:02d}" for n in range(20)]
FILES = 5


def customer_id_of(external: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, external))


def tokens_meter(aggregation: Any = None) -> Meter:
    return Meter(
        id=METER_ID,
        name="LLM tokens",
        filter=Filter(
            clauses=[FilterClause(property="name", operator="eq", value="llm")]
        ),
        aggregation=aggregation
        or PropertyAggregation(func="sum", property="total_tokens"),
        created_at=T0,
    )


def make_log(seed: int, count: int = 1500) -> list[list[dict[str, Any]]]:
    """``FILES`` chunks of the log, in order; the third chunk is empty."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for n in range(count):
        customer = rng.choice(CUSTOMERS)
        event: dict[str, Any] = {
            "timestamp": f"2025-01-{1 + n // 100:02d}T{n % 24:02d}:00:00Z",
            "external_customer_id": customer,
            "customer_id": customer_id_of(customer),
        }
        if rng.random() < 0.1:
            del event[rng.choice(("external_customer_id", "customer_id"))]
        roll = rng.random()
        if roll < 0.7:
            event["name"] = rng.choice(("llm", "llm", "llm", "embedding"))
            event["metadata"] = {
                "total_tokens": rng.choice((rng.randint(0, 500), 2.5, 0.1)),
                "model": rng.choice(("gpt-4o", "gpt-4", "claude")),
            }
        elif roll < 0.9:
            event["name"] = "meter.credited"
            event["source"] = "system"
            event["metadata"] = {
                "meter_id": rng.choice((METER_ID, METER_ID, OTHER_METER_ID)),
                "units": rng.randint(-300, 1000),
                "rollover": rng.random() < 0.5,
            }
        else:
            event["name"] = "meter.reset"
            event["source"] = "system"
            event["metadata"] = {"meter_id": rng.choice((METER_ID, OTHER_METER_ID))}
        # Retried deliveries: ids repeat across the whole log, so across files.
        if rng.random() < 0.4:
            event["external_id"] = f"delivery-{rng.randint(0, 150)}"
        events.append(event)
    bounds = sorted(rng.sample(range(1, count), FILES - 2))
    bounds = [0, bounds[0], bounds[1], bounds[1], bounds[2], count]
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


def write_files(tmp_path: Path, chunks: list[list[dict[str, Any]]]) -> list[str]:
    paths = []
    for number, chunk in enumerate(chunks):
        path = tmp_path / f"events-{number:03d}.jsonl"
        path.write_text("".join(json.dumps(event) + "\n" for event in chunk))
        paths.append(str(path))
    return paths


def expected_usage(
    meter: Meter, chunks: list[list[dict[str, Any]]], key: str, customers: list[str]
) -> dict[str, Any]:
    log = [event for chunk in chunks for event in chunk]
    return {c: usage(meter, log, **{key: c}) for c in customers}


@pytest.fixture(scope="module")
def chunks() -> list[list[dict[str, Any]]]:
    return make_log(seed=4)


@pytest.fixture
def paths(tmp_path: Path, chunks: list[list[dict[str, Any]]]) -> list[str]:
    return write_files(tmp_path, chunks)


def test_the_log_is_interesting(chunks: list[list[dict[str, Any]]]) -> None:
    # Guards the generator: duplicates across files, resets, and an empty file.
    ids = [{e["external_id"] for e in chunk if "external_id" in e} for chunk in chunks]
    assert ids[0] & ids[3]
    assert [] in chunks
    assert sum(e["name"] == "meter.reset" for c in chunks for e in c) > 20
    result = expected_usage(tokens_meter(), chunks, "external_customer_id", CUSTOMERS)
    assert sum(1 for u in result.values() if u.consumed_units and u.credited_units) > 5


@pytest.mark.parametrize(
    ("blocksize", "split_every"),
    [
        pytest.param(None, 8, id="one-partition-a-file"),
        pytest.param(None, 2, id="deep-tree"),
        pytest.param(2048, 3, id="files-split-in-blocks"),
    ],
)
@pytest.mark.parametrize(
    "aggregation",
    [
        pytest.param(None, id="sum"),
        pytest.param(
            PropertyAggregation(func="avg", property="total_tokens"), id="avg"
        ),
        pytest.param(UniqueAggregation(property="model"), id="unique"),
    ],
)
def test_recipe_equals_one_fold(
    paths: list[str],
    chunks: list[list[dict[str, Any]]],
    blocksize: int | None,
    split_every: int,
    aggregation: Any,
) -> None:
    meter = tokens_meter(aggregation)
    bag = db.read_text(paths, blocksize=blocksize).map(json.loads)
    if blocksize is not None:
        assert bag.npartitions > 2 * FILES
    with dask.config.set(scheduler="synchronous"):
        result = dask_usage.usage_by_customer(
            bag, meter, CUSTOMERS, split_every=split_every
        )
    assert result == expected_usage(meter, chunks, "external_customer_id", CUSTOMERS)


def test_recipe_by_customer_id(
    paths: list[str], chunks: list[list[dict[str, Any]]]
) -> None:
    meter = tokens_meter()
    customers = [customer_id_of(c).upper() for c in CUSTOMERS[:8]]
    bag = db.read_text(paths).map(json.loads)
    with dask.config.set(scheduler="synchronous"):
        result = dask_usage.usage_by_customer(bag, meter, customers, key="customer_id")
    assert result == expected_usage(meter, chunks, "customer_id", customers)


def test_recipe_across_processes(
    paths: list[str],
    chunks: list[list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Worker processes pickle the accumulators and import the recipe by name.
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES))
    meter = tokens_meter()
    bag = db.read_text(paths).map(json.loads)
    with dask.config.set(scheduler="processes", num_workers=2):
        result = dask_usage.usage_by_customer(bag, meter, CUSTOMERS, split_every=2)
    assert result == expected_usage(meter, chunks, "external_customer_id", CUSTOMERS)


def test_order_matters(paths: list[str], chunks: list[list[dict[str, Any]]]) -> None:
    # The same files in another order are another log: the recipe is not fooled
    # into agreeing with the original order (it agrees with the reversed one).
    meter = tokens_meter()
    bag = db.read_text(paths[::-1]).map(json.loads)
    with dask.config.set(scheduler="synchronous"):
        result = dask_usage.usage_by_customer(bag, meter, CUSTOMERS)
    assert result == expected_usage(
        meter, chunks[::-1], "external_customer_id", CUSTOMERS
    )
    assert result != expected_usage(meter, chunks, "external_customer_id", CUSTOMERS)


def test_a_bad_line_names_its_position(tmp_path: Path) -> None:
    lines = [
        {"name": "llm", "timestamp": "2025-01-01T00:00:00Z",
         "external_customer_id": "cust-00", "metadata": {"total_tokens": 1}},
        {"name": "llm", "timestamp": "2025-01-01T00:00:00Z",
         "external_customer_id": "cust-01", "metadata": {"total_tokens": 1}},
        {"name": "meter.credited", "timestamp": "2025-01-01T00:00:00Z",
         "source": "system", "external_customer_id": "cust-01",
         "metadata": {"meter_id": METER_ID, "units": "ten"}},
    ]  # fmt: skip
    paths = write_files(tmp_path, [lines[:1], lines])
    bag = db.read_text(paths).map(json.loads)
    with (
        dask.config.set(scheduler="synchronous"),
        pytest.raises(MeterkitError) as info,
    ):
        dask_usage.usage_by_customer(bag, tokens_meter(), CUSTOMERS)
    # The third line of its file (the file is one partition).
    assert info.value.path == "events[2].metadata.units"
    assert "'ten'" in str(info.value)


def test_a_line_that_is_not_an_object_is_an_error(tmp_path: Path) -> None:
    paths = write_files(tmp_path, [[{"name": "llm"}]])
    Path(paths[0]).write_text(
        '{"name": "llm", "timestamp": "2025-01-01T00:00:00Z"}\n7\n'
    )
    bag = db.read_text(paths).map(json.loads)
    with (
        dask.config.set(scheduler="synchronous"),
        pytest.raises(MeterkitError) as info,
    ):
        dask_usage.usage_by_customer(bag, tokens_meter(), CUSTOMERS)
    assert info.value.path == "events[1]"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"key": "name"}, "'name'", id="key"),
        pytest.param({"split_every": 1}, "1", id="split-every"),
    ],
)
def test_bad_recipe_arguments(kwargs: dict[str, Any], message: str) -> None:
    bag = db.from_sequence([], npartitions=1)
    with pytest.raises(ValueError, match=message):
        dask_usage.usage_by_customer(bag, tokens_meter(), CUSTOMERS, **kwargs)


def test_docs_show_the_recipe_as_it_is() -> None:
    # Every code block of docs/scale-out.md that is not a doctest is a verbatim
    # excerpt of examples/dask_usage.py, so the page cannot drift from the code.
    page = (ROOT / "docs" / "scale-out.md").read_text()
    source = (EXAMPLES / "dask_usage.py").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    excerpts = [b for b in blocks if not b.lstrip().startswith(">>>")]
    assert len(excerpts) >= 3
    for excerpt in excerpts:
        assert excerpt in source, excerpt
