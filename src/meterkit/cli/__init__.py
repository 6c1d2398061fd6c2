"""The ``meterkit`` command line: a thin layer over the public functions.

Rule 1: no metering here. Numbers come from `UsageAccumulator`, `amount_due` and
`quantities`; the CLI reads files, groups events by customer, checks lines, and
writes what the library returns, units as `to_dict` writes them.
Rule 2: stdout carries results only. Errors, the ``--skip-invalid`` report, notes and
the progress line go to stderr (``validate``'s report is its result: stdout).
Rule 3: a user's mistake never shows a traceback. Bad flags exit 2 (argparse); bad
data, a missing or unreadable file exit 1 with one line naming the file, the 1-based
line number for events, and the field as a JSON path (``events.jsonl:18:
$.timestamp: ...``).
Rule 4: events stream: each line is read, checked, folded and dropped; memory grows
with the number of customers and of distinct ``external_id`` values (the library's
dedup), not with the file.
Rule 5: ``--skip-invalid`` drops a bad line whole, as if it were not in the file, and
reports the count and the first line numbers at the end: nothing is dropped
silently.

Standard library only (argparse). See docs/cli.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import MeterkitError
from ..timeseries import DEFAULT_MAX_BUCKETS, INTERVALS
from ._explain import run_explain
from ._io import Stop
from ._quantities import run_quantities
from ._usage import run_demo, run_usage
from ._validate import run_validate

__all__ = ["main"]

_EPILOG = """\
exit status: 0 done; 1 bad data, or a file that cannot be read; 2 bad flags;
130 interrupted; 141 output pipe closed early. See docs/cli.md."""

Run = Callable[[argparse.Namespace], int]


def _customer(text: str) -> str:
    # Customer ids are UUIDs and external ids non-empty text; the one id no
    # customer can have is the empty one.
    if not text:
        raise argparse.ArgumentTypeError("a customer id must not be empty")
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meterkit",
        description="Usage metering of JSON Lines event logs: usage and amounts due "
        "per customer, time series, validation.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"meterkit {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, run: Run) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=text,
            description=text,
            epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(run=run, parser=sub)
        return sub

    def meter(sub: argparse.ArgumentParser, required: bool = True) -> None:
        sub.add_argument(
            "--meter",
            required=required,
            metavar="METER.json",
            help="the Meter, as wire JSON"
            + ("" if required else "; also check events as this meter reads them"),
        )

    def events(sub: argparse.ArgumentParser, skip: bool = True) -> None:
        sub.add_argument(
            "--events",
            required=True,
            metavar="EVENTS.jsonl",
            help="events as JSON Lines; '-' is stdin; gzip is read transparently",
        )
        if skip:
            sub.add_argument(
                "--skip-invalid",
                action="store_true",
                help="skip bad lines and report them on stderr at the end, "
                "instead of stopping at the first",
            )

    def quiet(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--quiet", action="store_true", help="no progress line on stderr"
        )

    sub = command("usage", "usage and amount due per customer", run_usage)
    meter(sub)
    events(sub)
    sub.add_argument(
        "--price",
        metavar="PRICE.json",
        help="a price of the meter (amount_type metered_unit, graduated, volume "
        "or package), as wire JSON: adds 'amount' (cents)",
    )
    sub.add_argument(
        "--customer",
        action="extend",
        nargs="+",
        type=_customer,
        metavar="ID",
        help="only these customers (a customer_id or an external_customer_id)",
    )
    sub.add_argument("--format", choices=("json", "table", "csv"), default="table")
    quiet(sub)

    sub = command("quantities", "the meter's time series", run_quantities)
    meter(sub)
    events(sub)
    sub.add_argument(
        "--start",
        required=True,
        help="the first instant: RFC 3339, or a date or time without offset, "
        "taken in --timezone",
    )
    sub.add_argument("--end", required=True, help="the last instant, same forms")
    sub.add_argument("--interval", required=True, choices=INTERVALS)
    sub.add_argument("--timezone", default="UTC", help="an IANA name (default UTC)")
    who = sub.add_mutually_exclusive_group()
    who.add_argument(
        "--customer",
        type=_customer,
        metavar="ID",
        help="one customer: a UUID is a customer_id, anything else an "
        "external_customer_id",
    )
    who.add_argument(
        "--external-customer",
        type=_customer,
        metavar="ID",
        help="one customer, by external_customer_id",
    )
    sub.add_argument(
        "--max-buckets",
        type=int,
        default=DEFAULT_MAX_BUCKETS,
        metavar="N",
        help=f"the most buckets to build (default {DEFAULT_MAX_BUCKETS})",
    )
    sub.add_argument("--format", choices=("json", "table"), default="table")
    quiet(sub)

    sub = command(
        "explain",
        "what usage did with each event for one customer, and why",
        run_explain,
    )
    meter(sub)
    events(sub, skip=False)
    who = sub.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--customer",
        type=_customer,
        metavar="ID",
        help="the customer: a UUID is a customer_id, anything else an "
        "external_customer_id",
    )
    who.add_argument(
        "--external-customer",
        type=_customer,
        metavar="ID",
        help="the customer, by external_customer_id",
    )
    sub.add_argument(
        "--grants",
        metavar="GRANTS.json",
        help="credit grants, a JSON array of wire CreditGrants: says which grant "
        "each unit came from",
    )
    sub.add_argument(
        "--at",
        metavar="TIME",
        help="with --grants, the instant of the burn-down: RFC 3339, or a date or "
        "time without offset, taken as UTC (default: the last event's)",
    )
    sub.add_argument("--format", choices=("json", "table"), default="table")
    quiet(sub)

    sub = command("validate", "check every line of an events file", run_validate)
    events(sub, skip=False)
    meter(sub, required=False)
    quiet(sub)

    sub = command("demo", "usage of the bundled sample data", run_demo)
    sub.add_argument("--format", choices=("json", "table", "csv"), default="table")
    sub.add_argument(
        "--export",
        metavar="DIR",
        help="write the sample meter, price and events to DIR instead",
    )
    quiet(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``meterkit`` command with ``argv`` (default ``sys.argv[1:]``)."""
    args = _parser().parse_args(argv)
    run: Run = args.run
    try:
        return run(args)
    except Stop as exc:
        print(exc, file=sys.stderr)
    except MeterkitError as exc:
        print(f"meterkit: error: {exc}", file=sys.stderr)
    except BrokenPipeError:
        # The reader went away (`| head`): say nothing, and keep Python from
        # complaining when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stdout = sys.stdout.fileno()
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout)
        return 141
    except OSError as exc:
        print(f"meterkit: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    return 1
