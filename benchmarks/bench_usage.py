"""usage() against a hand-written loop and against sqlite3, and how it scales.

Run: .venv/bin/python benchmarks/bench_usage.py  (or `make bench`)

The meter has two ``eq`` clauses (``name`` and a metadata key) and a ``sum``; the
events are wire dicts with timestamps 7 seconds apart. The baselines hard-code that
meter and check nothing. Every ratio is the median of paired repeats (ours, then
the baseline, alternately) in one run. Targets:

- issue 13: usage() over 200,000 events that all belong to the asked customer (the
  worst case: every event is read and checked in full) at most 4.0x the hand loop;
  over 300,000 events of 200 customers at most 2.0x; usage_by_customer() over the
  300,000 at most 4.0x a hand loop that routes by customer, same totals;
- issue 7: at least 5x faster than loading the events into in-memory sqlite3 and
  running the equivalent SUM (load plus query).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import _data
from _timing import paired

from meterkit import UsageAccumulator, usage, usage_by_customer


def sqlite_sum(evs: list[dict[str, Any]], customer_id: str) -> int:
    """Load the events into an in-memory table, then SUM like the meter does."""
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE events (customer_id TEXT, name TEXT, source TEXT,"
        " model TEXT, total_tokens INTEGER)"
    )
    db.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
        (
            (
                e["customer_id"],
                e["name"],
                e["source"],
                e["metadata"].get("model"),
                e["metadata"].get("total_tokens"),
            )
            for e in evs
        ),
    )
    (total,) = db.execute(
        "SELECT COALESCE(SUM(total_tokens), 0) FROM events WHERE customer_id = ?"
        " AND source = 'user' AND name = 'llm' AND model = 'gpt-4o'",
        (customer_id,),
    ).fetchone()
    db.close()
    return int(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--own", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    ids = _data.customers(200)
    evs = _data.events(args.events, ids)
    own = _data.events(args.own, ids[:1])
    meter = _data.meter()
    customer = ids[0]

    ours = usage(meter, evs, customer_id=customer).consumed_units
    assert ours == _data.hand_written(evs, customer) == sqlite_sum(evs, customer)
    assert usage(meter, own, customer_id=customer).consumed_units == (
        _data.hand_written(own, customer)
    )
    by_customer = usage_by_customer(meter, evs)
    assert {
        k: u.consumed_units for k, u in by_customer.items() if u.consumed_units
    } == (_data.hand_by_customer(evs))

    print(f"events: {len(evs):,} of 200 customers; meter: 2 eq clauses + sum")
    cases: list[tuple[str, Callable[[], object], Callable[[], object], str, float]] = [
        (
            f"usage(), {len(own):,} events all the customer's",
            lambda: usage(meter, own, customer_id=customer),
            lambda: _data.hand_written(own, customer),
            "hand loop",
            4.0,
        ),
        (
            "usage(), one customer of 200",
            lambda: usage(meter, evs, customer_id=customer),
            lambda: _data.hand_written(evs, customer),
            "hand loop",
            2.0,
        ),
        (
            "usage_by_customer(), all 200",
            lambda: usage_by_customer(meter, evs),
            lambda: _data.hand_by_customer(evs),
            "hand loop routing by customer",
            4.0,
        ),
    ]
    for name, ours_run, hand_run, baseline, target in cases:
        t_ours, t_hand, ratio = paired(ours_run, hand_run, repeats=args.repeats)
        print(
            f"{name}: {t_ours * 1e3:.1f} ms; {baseline} {t_hand * 1e3:.1f} ms;"
            f" ratio {ratio:.2f}x (target <= {target}x)"
        )
    t_ours, t_sql, ratio = paired(
        lambda: usage(meter, evs, customer_id=customer),
        lambda: sqlite_sum(evs, customer),
        repeats=max(3, args.repeats // 2),
    )
    print(
        f"usage() {t_ours * 1e3:.1f} ms; sqlite3 load+SUM {t_sql * 1e3:.1f} ms;"
        f" sqlite is {1 / ratio:.1f}x slower (target >= 5x)"
    )

    print("scaling (all events of one customer-scoped fold, median of 5):")
    for n in (10_000, 100_000, 1_000_000):
        scaled = (evs * (n // len(evs) + 1))[:n]
        t, _, _ = paired(
            lambda scaled=scaled: usage(meter, scaled, customer_id=customer),
            lambda: None,
            repeats=5,
        )
        print(f"  {n:>9,} events: {t * 1e3:8.1f} ms  ({t / n * 1e9:.0f} ns/event)")

    # Chunked and merged: 2 processes versus 1. Each worker reads its own JSON
    # Lines file, as a billing job over partitioned logs would; only the
    # accumulators travel between processes.
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        big = (evs * 4)[:1_000_000]
        paths = []
        for part in range(2):
            path = Path(tmp) / f"part-{part}.jsonl"
            half = big[part * 500_000 : (part + 1) * 500_000]
            path.write_text("".join(json.dumps(e) + "\n" for e in half))
            paths.append(str(path))
        t_one, t_two, ratio = paired(
            lambda: _fold_files(meter, customer, paths, processes=1),
            lambda: _fold_files(meter, customer, paths, processes=2),
            repeats=3,
        )
        one = _fold_files(meter, customer, paths, processes=1).usage()
        two = _fold_files(meter, customer, paths, processes=2).usage()
        assert one == two == usage(meter, big, customer_id=customer)
    print(
        f"chunked+merged, 1,000,000 events in 2 JSONL files (parse + fold):"
        f" 1 process {t_one * 1e3:.0f} ms; 2 processes {t_two * 1e3:.0f} ms;"
        f" speed-up {ratio:.2f}x"
    )


def _fold_file(args: tuple[Any, str, str]) -> UsageAccumulator:
    import json

    meter, customer, path = args
    accumulator = UsageAccumulator(meter, customer_id=customer, at_start=False)
    with open(path, encoding="utf-8") as lines:
        accumulator.update(map(json.loads, lines))
    return accumulator


def _fold_files(
    meter: Any, customer: str, paths: list[str], *, processes: int
) -> UsageAccumulator:
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(meter, customer, path) for path in paths]
    result = UsageAccumulator(meter, customer_id=customer)
    if processes == 1:
        for part in map(_fold_file, jobs):
            result = result.merge(part)
        return result
    with ProcessPoolExecutor(processes) as pool:
        for part in pool.map(_fold_file, jobs):
            result = result.merge(part)
    return result


if __name__ == "__main__":
    main()
