"""`meterkit usage --engine duckdb` against a hand-written DuckDB query of one file.

Run: .venv/bin/python benchmarks/bench_sql.py  (or `make bench`)

The file: 1,000,000 JSON Lines events of 200 customers (`_data.events`, as in
`bench_cli.py`): every event has an ``external_id``, one in 50 repeating an earlier
one; one event in 5,000 is a ``meter.credited`` for the meter and one in 100,000 a
``meter.reset`` of a customer. The meter is `_data.meter` (``name eq`` and ``model
eq``, the ``sum`` of an int property). It is written once, deterministically, under
the system's temporary directory, and reused by later runs.

Three whole processes are timed, start-up included, in interleaved rounds (A B C A
B C ...), best and median of each: (a) ``meterkit usage --engine duckdb``, (b) a
hand-written DuckDB script (``read_json``, the first event of each ``external_id``
per customer in file order, the events after each customer's last reset, the
filter, ``GROUP BY`` and ``sum``: what a billing engineer would write for this one
meter, checking nothing), (c) ``meterkit usage`` with the default engine (the
Python fold). Every round checks that the three print the same per-customer
totals. Target (issue 16): (a) at least 0.8x the speed of (b), that is at most
1.25x its time: the ratio of the best of each, and the median of each round's
ratio of (a) to the (b) run just after it (pairs, as `farm-bench --vs` takes them).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _data
from _timing import process_env

from meterkit import to_json

#: Bump when the file's shape changes, so a cached file is not reused.
VERSION = 1

HAND = r"""
import sys
import duckdb

path, reset = sys.argv[1], sys.argv[2]
rows = duckdb.sql(
    '''
    WITH events AS (
        SELECT *, row_number() OVER () AS seq
        FROM read_json($path, format = 'newline_delimited')
    ),
    deduped AS (
        SELECT * FROM events
        QUALIFY row_number() OVER (PARTITION BY customer_id, external_id
                                   ORDER BY seq) = 1
    ),
    last_reset AS (
        SELECT customer_id, max(seq) AS seq FROM deduped
        WHERE name = $reset GROUP BY customer_id
    )
    SELECT d.customer_id, sum(d.metadata.total_tokens)
    FROM deduped AS d LEFT JOIN last_reset AS r USING (customer_id)
    WHERE d.name = 'llm' AND d.metadata.model = 'gpt-4o'
      AND (r.seq IS NULL OR d.seq > r.seq)
    GROUP BY d.customer_id ORDER BY d.customer_id
    ''',
    params={"path": path, "reset": reset},
).fetchall()
for customer, total in rows:
    print(customer, total)
"""


def write_events(path: Path, n: int) -> None:
    """The benchmark's JSON Lines file (deterministic for a given ``n``)."""
    ids = _data.customers(200)
    events = _data.events(n, ids)
    rng = random.Random(16)
    for i, event in enumerate(events):
        # Every event has an id; one in 50 repeats an earlier one.
        event["external_id"] = f"req-{i - 7 if i % 50 == 49 else i}"
        if i % 5_000 == 2_500:
            event.update(
                name="meter.credited",
                source="system",
                metadata={"meter_id": _data.METER_ID, "units": rng.randint(1, 10**6)},
            )
        elif i % 100_000 == 50_000:
            event.update(
                name="meter.reset",
                source="system",
                metadata={"meter_id": _data.METER_ID},
            )
    with open(path, "w") as out:
        out.writelines(json.dumps(e) + "\n" for e in events)


def inputs(n: int) -> tuple[Path, Path]:
    """The events file and the meter, made on first use and cached."""
    folder = Path(tempfile.gettempdir()) / "meterkit-bench-sql"
    folder.mkdir(exist_ok=True)
    events = folder / f"events-{n}-v{VERSION}.jsonl"
    if not events.exists():
        partial = events.with_suffix(".part")
        write_events(partial, n)
        partial.replace(events)
    meter = folder / "meter.json"
    meter.write_text(to_json(_data.meter()))
    return events, meter


def run(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, env=process_env()
    )
    return time.perf_counter() - start, done.stdout


def totals_of_ours(out: str) -> dict[str, int]:
    records = [json.loads(line) for line in out.splitlines()]
    return {
        r["customer_id"]: int(r["consumed_units"])
        for r in records
        if r["consumed_units"]
    }


def totals_of_hand(out: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def has_engine_flag(meterkit: str) -> bool:
    done = subprocess.run(
        [meterkit, "usage", "--help"], capture_output=True, text=True, check=True
    )
    return "--engine" in done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-fold", action="store_true", help="skip (c), the default engine"
    )
    args = parser.parse_args()
    python = sys.executable
    meterkit = str(Path(python).with_name("meterkit"))
    events, meter = inputs(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        hand = Path(tmp) / "hand.py"
        hand.write_text(HAND)
        usage = [meterkit, "usage", "--meter", str(meter), "--events", str(events)]
        usage += ["--format", "json", "--quiet"]
        cases = [
            ("duckdb engine", [*usage, "--engine", "duckdb"], totals_of_ours),
            ("hand DuckDB", [python, str(hand), str(events), "meter.reset"], None),
        ]
        if not has_engine_flag(meterkit):
            raise SystemExit("`meterkit usage` has no --engine flag yet")
        if not args.no_fold:
            cases.append(("default engine", usage, totals_of_ours))
        times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        for _, command, _ in cases:
            run(command)  # warm-up: caches, bytecode
        for _ in range(args.rounds):
            found = []
            for name, command, read in cases:
                took, out = run(command)
                times[name].append(took)
                found.append((read or totals_of_hand)(out))
            assert all(totals == found[0] for totals in found), "totals differ"
        best = {name: min(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{name}: best {min(t):.2f} s, median {statistics.median(t):.2f} s")
        ours, hand_best = best["duckdb engine"], best["hand DuckDB"]
        print(
            f"duckdb engine / hand DuckDB: {ours / hand_best:.2f}x the time,"
            f" {hand_best / ours:.2f}x the speed (target: at least 0.8x the speed)"
        )
        # Each round's (a) and (b) ran back to back: their ratio is less moved by a
        # machine whose speed drifts than the ratio of two bests taken apart.
        paired = statistics.median(
            a / b
            for a, b in zip(times["duckdb engine"], times["hand DuckDB"], strict=True)
        )
        print(
            f"  paired, median of {args.rounds} rounds: {paired:.2f}x the time,"
            f" {1 / paired:.2f}x the speed"
        )
        if "default engine" in best:
            fold = best["default engine"]
            print(
                f"duckdb engine / default engine: {ours / fold:.2f}x the time"
                f" ({fold / ours:.1f}x faster)"
            )
        print(f"({len(found[0])} customers, totals equal in every round; {events})")


if __name__ == "__main__":
    main()
