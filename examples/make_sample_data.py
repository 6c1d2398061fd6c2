"""Generate the sample data that ``meterkit demo`` reads (``src/meterkit/data/``).

The output is a function of the seed alone: running this script again rewrites the
same three files, and ``tests/test_cli.py`` checks that it does.

- ``llm-meter.json``: a `Meter` (wire JSON) summing ``_llm.total_tokens`` over
  ``llm.completion`` events of every vendor but the self-hosted one.
- ``llm-price.json``: a `MeteredUnitPrice` of 0.0004 cents per token ($4 per million
  tokens) capped at 1000 cents.
- ``llm-events.jsonl.gz``: a month of events in log (time) order for five customers:
  LLM completions from several vendors and models, events the meter filters out
  (page views, embeddings, a self-hosted model), retried deliveries that repeat an
  ``external_id``, and ``system`` events carrying credits (with and without rollover,
  one revocation, one for another meter) and a reset.

Usage: ``python examples/make_sample_data.py [OUTPUT_DIR]`` (default: the package's
``data`` folder).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

SEED = 20250301
METER_ID = "5c1e9a3b-7d2f-4e6a-9b8c-0f1d2e3a4b5c"
OTHER_METER_ID = "a7e3c2d1-0b9f-4c8e-8d7a-6f5e4d3c2b1a"
START = datetime(2025, 3, 1, tzinfo=timezone.utc)
DAYS = 31

METER: dict[str, Any] = {
    "created_at": "2025-02-01T09:00:00Z",
    "modified_at": None,
    "id": METER_ID,
    "name": "LLM tokens",
    "filter": {
        "conjunction": "and",
        "clauses": [
            {"property": "name", "operator": "eq", "value": "llm.completion"},
            {"property": "_llm.vendor", "operator": "ne", "value": "self-hosted"},
        ],
    },
    "aggregation": {"func": "sum", "property": "_llm.total_tokens"},
}

PRICE: dict[str, Any] = {
    "amount_type": "metered_unit",
    "unit_amount": "0.0004",
    "cap_amount": 1000,
    "meter_id": METER_ID,
}

MODELS = (
    ("openai", "gpt-4o", 5),
    ("openai", "gpt-4o-mini", 8),
    ("anthropic", "claude-3-5-sonnet", 4),
    ("anthropic", "claude-3-5-haiku", 3),
    ("self-hosted", "llama-3.1-8b", 2),
)


# Who the customers are and how each behaves: the key they are known by, how many
# completions a day, the typical prompt size, and their credit history as
# (day, units, rollover) steps; a "reset" step empties the meter that day.
CUSTOMERS: tuple[dict[str, Any], ...] = (
    {
        "key": ("external_customer_id", "acme-corp"),
        "per_day": 60,
        "prompt": 2400,
        "credits": [(0, 1_000_000, False)],
    },
    {
        "key": ("external_customer_id", "globex"),
        "per_day": 28,
        "prompt": 900,
        "credits": [(0, 600_000, False), (0, 400_000, True)],
    },
    {
        "key": ("external_customer_id", "initech"),
        "per_day": 24,
        "prompt": 1500,
        "credits": [(0, 200_000, False), (14, "reset", False), (14, 150_000, True)],
    },
    {
        "key": ("external_customer_id", "umbrella"),
        "per_day": 6,
        "prompt": 700,
        "credits": [(0, 300_000, False), (9, -50_000, False)],
    },
    {
        "key": ("customer_id", "0c8f3e52-4b1d-4a7e-9f26-3d5b8a1c7e90"),
        "per_day": 16,
        "prompt": 1200,
        "credits": [],
    },
)


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _completion(rng: random.Random, prompt: int) -> dict[str, Any]:
    vendor, model = rng.choices(
        [(v, m) for v, m, _ in MODELS], weights=[w for _, _, w in MODELS]
    )[0]
    input_tokens = max(20, int(rng.lognormvariate(0, 0.8) * prompt))
    output_tokens = max(1, int(rng.lognormvariate(0, 0.9) * 350))
    return {
        "_llm": {
            "vendor": vendor,
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
    }


def make_events(seed: int = SEED) -> list[dict[str, Any]]:
    """The sample event log, in time order; a function of ``seed`` only."""
    rng = random.Random(seed)
    timed: list[tuple[datetime, int, dict[str, Any]]] = []
    serial = 0

    def emit(moment: datetime, event: dict[str, Any]) -> None:
        nonlocal serial
        serial += 1
        timed.append((moment, serial, event))

    for customer in CUSTOMERS:
        key, value = customer["key"]
        who = {key: value}
        slug = value[:8]
        for number, (day, units, rollover) in enumerate(customer["credits"]):
            moment = START + timedelta(days=day, minutes=5 + number)
            if units == "reset":
                emit(
                    moment,
                    {
                        "name": "meter.reset",
                        "timestamp": _timestamp(moment),
                        **who,
                        "external_id": f"reset-{slug}-{day:02d}",
                        "source": "system",
                        "metadata": {"meter_id": METER_ID},
                    },
                )
                continue
            emit(
                moment,
                {
                    "name": "meter.credited",
                    "timestamp": _timestamp(moment),
                    **who,
                    "external_id": f"credit-{slug}-{day:02d}-{number}",
                    "source": "system",
                    "metadata": {
                        "meter_id": METER_ID,
                        "units": units,
                        "rollover": rollover,
                    },
                },
            )
        for day in range(DAYS):
            for _ in range(rng.randint(customer["per_day"] // 2, customer["per_day"])):
                moment = START + timedelta(
                    days=day, seconds=rng.randrange(600, 24 * 3600)
                )
                kind = rng.random()
                if kind < 0.82:
                    name = "llm.completion"
                    metadata = _completion(rng, customer["prompt"])
                elif kind < 0.92:
                    name = "llm.embedding"
                    metadata = {"_llm": {"vendor": "openai", "total_tokens": 512}}
                else:
                    name = "page.view"
                    metadata = {"path": rng.choice(["/", "/usage"])}
                external_id = f"evt-{serial:06d}"
                event = {
                    "name": name,
                    "timestamp": _timestamp(moment),
                    **who,
                    "external_id": external_id,
                    "source": "user",
                    "metadata": metadata,
                }
                emit(moment, event)
                if rng.random() < 0.03:
                    # A retried delivery: same external_id, a few seconds later.
                    emit(moment + timedelta(seconds=rng.randint(2, 30)), dict(event))
    # A credit for another meter, which this meter ignores.
    other = START + timedelta(days=2)
    emit(
        other,
        {
            "name": "meter.credited",
            "timestamp": _timestamp(other),
            "external_customer_id": "acme-corp",
            "external_id": "credit-other-meter",
            "source": "system",
            "metadata": {
                "meter_id": OTHER_METER_ID,
                "units": 999_999,
                "rollover": False,
            },
        },
    )
    timed.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in timed]


def write(directory: Path, seed: int = SEED) -> None:
    """Write the meter, the price and the events under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "llm-meter.json").write_text(json.dumps(METER, indent=2) + "\n")
    (directory / "llm-price.json").write_text(json.dumps(PRICE, indent=2) + "\n")
    lines = "".join(
        json.dumps(event, separators=(",", ":")) + "\n" for event in make_events(seed)
    )
    # mtime=0 and no file name in the header keep the bytes a function of the data.
    with (
        (directory / "llm-events.jsonl.gz").open("wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9
        ) as packed,
    ):
        packed.write(lines.encode())


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent / "src" / "meterkit" / "data"
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
