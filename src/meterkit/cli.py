"""The ``meterkit`` command line: a thin layer over the public functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .arithmetic import consume, credit
from .serialization import from_json, to_json
from .values import CustomerMeter

__all__ = ["main"]

_DEMO_METER = """{"id": "6b0d1d7e-1f0a-4c4e-9a53-2f6f2f1b8f10",
 "created_at": "2025-01-01T00:00:00Z", "modified_at": null,
 "customer_id": "992fae2a-2a17-4b7a-8d9e-e287cf90131b",
 "meter_id": "d498a884-e2cd-4d3e-8002-f536468a8b22",
 "consumed_units": 25, "credited_units": 100, "balance": 75,
 "meter": {"created_at": "2025-01-01T00:00:00Z", "modified_at": null,
           "id": "d498a884-e2cd-4d3e-8002-f536468a8b22", "name": "Tokens"}}"""


def _demo(_: argparse.Namespace) -> int:
    meter = from_json(CustomerMeter, _DEMO_METER)
    meter = credit(consume(meter, "90.5"), -20)
    print(to_json(meter))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meterkit", description=__doc__)
    parser.add_argument(
        "--version", action="version", version=f"meterkit {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the demo").set_defaults(run=_demo)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
