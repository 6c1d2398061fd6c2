"""`meterkit usage` on a JSON Lines file against hand-written loops over the same file.

Run: .venv/bin/python benchmarks/bench_cli.py  (or `make bench`)

The file: 300,000 events of 200 customers, every event with an ``external_id`` (a
few repeated), timestamps 7 seconds apart; the meter of `_data.meter` (two ``eq``
clauses and a ``sum``). The baselines read the same file line by line, parse each
line (`json.loads`, or `orjson.loads` when installed), keep the first event of each
``external_id`` per customer, apply the same filter and sum per customer, checking
nothing else; both print totals that must equal ours. Whole processes are timed
(start-up included), A B A B ..., best and median of each. Targets (issue 14):
`meterkit usage` at most 1.25x the `json.loads` loop without orjson, and at most
2.0x the orjson loop with it; and `meterkit validate --meter` at least as fast as
`meterkit usage` on the same file.
"""

from __future__ import annotations

import argparse
import json
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

HAND = r"""
import sys
try:
    from orjson import loads
except ImportError:
    loads = None
if sys.argv[2] == "json" or loads is None:
    from json import loads
totals = {}
seen = {}
with open(sys.argv[1], "rb") as lines:
    for line in lines:
        e = loads(line)
        customer = e["customer_id"]
        ids = seen.get(customer)
        if ids is None:
            ids = seen[customer] = set()
        xid = e["external_id"]
        if xid is not None:
            if xid in ids:
                continue
            ids.add(xid)
        if e["name"] != "llm" or e["source"] != "user":
            continue
        metadata = e["metadata"]
        if metadata.get("model") != "gpt-4o":
            continue
        tokens = metadata.get("total_tokens")
        if type(tokens) is int:
            totals[customer] = totals.get(customer, 0) + tokens
for customer in sorted(totals):
    print(customer, totals[customer])
"""


def write_inputs(folder: Path, n: int) -> tuple[Path, Path]:
    events = _data.events(n, _data.customers(200))
    for i, event in enumerate(events):
        # Every event has an id; one in 50 repeats an earlier one.
        event["external_id"] = f"req-{i - 7 if i % 50 == 49 else i}"
    path = folder / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    meter = folder / "meter.json"
    meter.write_text(to_json(_data.meter()))
    return path, meter


def run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - start, done.stdout


def totals_of_ours(out: str) -> dict[str, int]:
    records = [json.loads(line) for line in out.splitlines()]
    return {
        r["customer_id"]: r["consumed_units"] for r in records if r["consumed_units"]
    }


def totals_of_hand(out: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    meterkit = str(Path(python).with_name("meterkit"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        events, meter = write_inputs(folder, args.events)
        hand = folder / "hand.py"
        hand.write_text(HAND)
        ours = [meterkit, "usage", "--meter", str(meter), "--events", str(events)]
        ours += ["--format", "json", "--quiet"]
        plain = process_env(METERKIT_JSON="json")
        fast = process_env()
        cases = [
            (
                "without orjson",
                ours,
                plain,
                [python, str(hand), str(events), "json"],
                1.25,
            ),
        ]
        try:
            import orjson  # noqa: F401

            cases.append(
                (
                    "with orjson",
                    ours,
                    fast,
                    [python, str(hand), str(events), "orjson"],
                    2.0,
                )
            )
        except ImportError:
            print("orjson is not installed: `pip install 'meterkit[fast]'` for case 2")
        for name, a, env, b, target in cases:
            run(a, env), run(b, env)  # warm-up: caches, bytecode
            ta, tb, ratios = [], [], []
            for _ in range(args.rounds):
                t1, out_a = run(a, env)
                t2, out_b = run(b, env)
                assert totals_of_ours(out_a) == totals_of_hand(out_b)
                ta.append(t1)
                tb.append(t2)
                ratios.append(t1 / t2)
            median_a, median_b = statistics.median(ta), statistics.median(tb)
            print(
                f"{name}: meterkit usage {min(ta):.2f} s (median {median_a:.2f});"
                f" hand loop {min(tb):.2f} s (median {median_b:.2f});"
                f" ratio best {min(ta) / min(tb):.2f}x, median of pairs"
                f" {statistics.median(ratios):.2f}x (target <= {target}x)"
            )
        # Target 3: `validate --meter` at least as fast as `usage` (with orjson
        # when installed), both checking every event of the same file.
        check = [meterkit, "validate", "--meter", str(meter), "--events", str(events)]
        check.append("--quiet")
        run(check, fast)
        tu, tv, ratios = [], [], []
        for _ in range(args.rounds):
            t1, _ = run(check, fast)
            t2, _ = run(ours, fast)
            tv.append(t1)
            tu.append(t2)
            ratios.append(t1 / t2)
        print(
            f"validate --meter {min(tv):.2f} s (median {statistics.median(tv):.2f});"
            f" usage {min(tu):.2f} s (median {statistics.median(tu):.2f});"
            f" ratio best {min(tv) / min(tu):.2f}x, median of pairs"
            f" {statistics.median(ratios):.2f}x (target <= 1.0x)"
        )


if __name__ == "__main__":
    main()
