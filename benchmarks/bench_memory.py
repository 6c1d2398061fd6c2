"""Resident memory while streaming 10 million events through usage().

Run: .venv/bin/python benchmarks/bench_memory.py [--events N]

Target (issue 7): streaming 10,000,000 events from a generator through `usage()`
keeps resident memory growth under 50 MB, for count/sum/min/max/avg. Each
aggregation runs in a fresh subprocess; growth is the peak RSS of the process
(`resource.getrusage(...).ru_maxrss`) minus its RSS just before the fold, when the
meter and the generator exist but no event has been made.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Any

FUNCS = ("count", "sum", "min", "max", "avg")


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # pragma: no cover


def _events(n: int) -> Any:
    for i in range(n):
        yield {
            "name": "llm",
            "timestamp": "2025-01-01T00:00:00Z",
            "customer_id": None,
            "external_customer_id": "acme" if i % 4 else "other",
            "source": "user",
            "metadata": {"total_tokens": i % 4000, "model": "gpt-4o"},
        }


def child(func: str, n: int) -> None:
    from meterkit import (
        CountAggregation,
        Filter,
        FilterClause,
        Meter,
        PropertyAggregation,
        usage,
    )

    aggregation = (
        CountAggregation()
        if func == "count"
        else PropertyAggregation(func=func, property="total_tokens")
    )
    meter = Meter(
        id="d498a884-e2cd-4d3e-8002-f536468a8b22",
        name="tokens",
        filter=Filter(
            clauses=[FilterClause(property="name", operator="eq", value="llm")]
        ),
        aggregation=aggregation,
        created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )
    stream = _events(n)
    before = _rss_kib()
    start = time.perf_counter()
    result = usage(meter, stream, external_customer_id="acme")
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "func": func,
                "events": n,
                "growth_mb": (peak - before) / 1024,
                "seconds": elapsed,
                "consumed": str(result.consumed_units),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--child", choices=FUNCS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.events)
        return
    print(
        f"streaming {args.events:,} generated events through usage() (target < 50 MB)"
    )
    for func in FUNCS:
        out = subprocess.run(
            [sys.executable, __file__, "--child", func, "--events", str(args.events)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        row = json.loads(out)
        print(
            f"  {func:>5}: RSS growth {row['growth_mb']:6.2f} MB"
            f" in {row['seconds']:.1f} s (consumed {row['consumed']})"
        )


if __name__ == "__main__":
    main()
