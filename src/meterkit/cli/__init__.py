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
Rule 6: output is built whole, then written in full (`_output`): table cells show
control characters escaped, nothing is lost to stdout's encoding, a closed pipe
exits 141 wherever it is met, Ctrl-C exits 130 with one line, never a traceback.

Standard library only (argparse). See docs/cli.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .. import __version__

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

__all__ = ["main"]

_EPILOG = """\
exit status: 0 done; 1 bad data, or a file that cannot be read; 2 bad flags;
130 interrupted; 141 output pipe closed early.
To try it: 'meterkit demo --export DIR' writes a sample meter, price and events.
Manual: "The meterkit command line", in the meterkit documentation."""

Run = Callable[[argparse.Namespace], int]

# Each command's module and function, imported only when the command runs, so
# that a Ctrl-C while they load is handled like any other (`main`).
_COMMANDS = {
    "usage": ("_usage", "run_usage"),
    "quantities": ("_quantities", "run_quantities"),
    "explain": ("_explain", "run_explain"),
    "validate": ("_validate", "run_validate"),
    "demo": ("_usage", "run_demo"),
}


class _Parser(argparse.ArgumentParser):
    """argparse's parser, but help and ``--version`` written to a closed pipe raise
    `BrokenPipeError` (exit 141, as for every output) instead of being dropped."""

    def _print_message(
        self, message: str, file: SupportsWrite[str] | None = None
    ) -> None:
        if message and file is not None and file is sys.stdout:
            file.write(message)
        else:
            super()._print_message(message, file)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with each option's default: ``(default: X)`` is added to the help of
    an option that has a default value; an option whose absence means something
    else says so in its own help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "(default" not in text
            and action.option_strings
            and action.default not in (None, False, argparse.SUPPRESS)
        ):
            text += " (default: %(default)s)"
        return text


def _customer(text: str) -> str:
    # Customer ids are UUIDs and external ids non-empty text; the one id no
    # customer can have is the empty one.
    if not text:
        raise argparse.ArgumentTypeError("a customer id must not be empty")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number (got {text!r})"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {text!r})")
    return value


def _parser() -> argparse.ArgumentParser:
    from .._calendar import DEFAULT_MAX_BUCKETS, INTERVALS
    from ._io import MAX_LINE_BYTES

    parser = _Parser(
        prog="meterkit",
        description="Usage metering of JSON Lines event logs: usage and amounts due "
        "per customer, time series, validation.",
        epilog=_EPILOG,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"meterkit {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=text,
            description=text,
            epilog=_EPILOG,
            formatter_class=_HelpFormatter,
        )
        sub.set_defaults(parser=sub)
        return sub

    def meter(sub: argparse.ArgumentParser, required: bool = True) -> None:
        sub.add_argument(
            "--meter",
            required=required,
            metavar="METER.json",
            help="the Meter, as wire JSON"
            + (
                ""
                if required
                else "; also check events as this meter reads them (default: "
                "none, the events are checked on their own)"
            ),
        )

    def events(sub: argparse.ArgumentParser, skip: bool = True) -> None:
        sub.add_argument(
            "--events",
            required=True,
            metavar="EVENTS.jsonl",
            help="events as JSON Lines; '-' is stdin; gzip is read transparently",
        )
        sub.add_argument(
            "--max-line-bytes",
            type=_positive,
            default=MAX_LINE_BYTES,
            metavar="N",
            help="the longest line read, in bytes; a longer line is an invalid line",
        )
        if skip:
            sub.add_argument(
                "--skip-invalid",
                action="store_true",
                help="skip bad lines and report them on stderr at the end, "
                "instead of stopping at the first",
            )

    def output(sub: argparse.ArgumentParser, json: str, csv: bool = False) -> None:
        forms = ["table (an aligned table)", f"json ({json})"]
        if csv:
            forms.append("csv (a header row, then a row per customer)")
        sub.add_argument(
            "--format",
            choices=("table", "json", "csv") if csv else ("table", "json"),
            default="table",
            help="the output: " + ", ".join(forms),
        )

    def quiet(sub: argparse.ArgumentParser, summary: bool = True) -> None:
        sub.add_argument(
            "--quiet",
            action="store_true",
            help="no progress line"
            + (" and no summary" if summary else "")
            + " on stderr",
        )

    sub = command("usage", "usage and amount due per customer")
    meter(sub)
    events(sub)
    sub.add_argument(
        "--price",
        metavar="PRICE.json",
        help="a price of the meter (amount_type metered_unit, graduated, volume "
        "or package), as wire JSON: adds 'amount' (cents) (default: none, no "
        "amount)",
    )
    sub.add_argument(
        "--customer",
        action="extend",
        nargs="+",
        type=_customer,
        metavar="ID",
        help="only these customers (a customer_id or an external_customer_id); "
        "can be repeated (default: every customer)",
    )
    sub.add_argument(
        "--engine",
        choices=("python", "duckdb"),
        default="python",
        help="what computes the usage: python (the library's fold) or duckdb "
        "(meterkit[duckdb]: DuckDB reads the file, JSON Lines or .parquet; a file "
        "it refuses is read again by python, for the same error)",
    )
    output(sub, "a JSON object per line, per customer", csv=True)
    quiet(sub)

    sub = command("quantities", "the meter's time series")
    meter(sub)
    events(sub)
    sub.add_argument(
        "--start",
        required=True,
        help="the first instant: RFC 3339, or a date or time without offset, "
        "taken in --timezone",
    )
    sub.add_argument("--end", required=True, help="the last instant, same forms")
    sub.add_argument(
        "--interval",
        required=True,
        choices=INTERVALS,
        help="the length of a bucket, in the local calendar of --timezone",
    )
    sub.add_argument(
        "--timezone",
        default="UTC",
        help="an IANA time zone name: the buckets' calendar, and the zone of "
        "--start and --end without offset",
    )
    who = sub.add_mutually_exclusive_group()
    who.add_argument(
        "--customer",
        type=_customer,
        metavar="ID",
        help="one customer: a UUID is a customer_id, anything else an "
        "external_customer_id (default: every customer)",
    )
    who.add_argument(
        "--external-customer",
        type=_customer,
        metavar="ID",
        help="one customer, by external_customer_id (default: every customer)",
    )
    sub.add_argument(
        "--max-buckets",
        type=int,
        default=DEFAULT_MAX_BUCKETS,
        metavar="N",
        help="the most buckets to build",
    )
    sub.add_argument(
        "--group-by",
        metavar="PATH",
        help="one series per JSON value of this property: name, source, timestamp "
        "or a dot path into metadata such as model (default: one series)",
    )
    output(
        sub,
        "one JSON document, to_json of the series; with --group-by, one line per "
        "group, to_json of its GroupQuantities",
    )
    quiet(sub)

    sub = command("explain", "what usage did with each event for one customer, and why")
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
        "each unit came from (default: none, no drawn column)",
    )
    sub.add_argument(
        "--at",
        metavar="TIME",
        help="with --grants, the instant of the burn-down: RFC 3339, or a date or "
        "time without offset, taken as UTC (default: the last event's)",
    )
    output(sub, "a JSON object per line, per event")
    quiet(sub, summary=False)

    sub = command("validate", "check every line of an events file")
    events(sub, skip=False)
    meter(sub, required=False)
    sub.add_argument(
        "--strict",
        action="store_true",
        help="also check what only an Event checks: the id a UUID, every metadata "
        "value JSON (finite numbers, string keys, at most 64 levels deep), read "
        "or not (default: off, the lines usage refuses)",
    )
    quiet(sub, summary=False)

    sub = command("demo", "usage of the bundled sample data")
    output(sub, "a JSON object per line, per customer", csv=True)
    sub.add_argument(
        "--export",
        metavar="DIR",
        help="write the sample meter, price and events to DIR instead (default: "
        "none, show the sample's usage)",
    )
    quiet(sub)
    return parser


def _say(text: str) -> None:
    """A line on stderr; a stderr that cannot be written is not an error too."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _os_error(exc: OSError) -> str:
    """An `OSError` in words: the file and the reason, without ``[Errno N]``."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def _run(argv: Sequence[str] | None) -> int:
    from ..errors import MeterkitError
    from ._io import Stop
    from ._output import OutputError, flush_out, stdout_errors

    with stdout_errors():
        try:
            parser = _parser()
            args, extra = parser.parse_known_args(argv)
            if extra:
                # The subcommand's usage, not the top-level one.
                sub: argparse.ArgumentParser = getattr(args, "parser", parser)
                sub.error(f"unrecognized arguments: {' '.join(extra)}")
        except SystemExit:  # --help, --version, a usage error
            flush_out()
            raise
        module, name = _COMMANDS[args.command]
        run: Run = getattr(importlib.import_module(f".{module}", __name__), name)
        try:
            status = run(args)
            flush_out()  # a closed pipe met here is one like any other
            return status
        except (Stop, OutputError) as exc:
            _say(str(exc))
        except MeterkitError as exc:
            _say(f"meterkit: error: {exc}")
        except BrokenPipeError:
            raise
        except OSError as exc:
            _say(f"meterkit: error: {_os_error(exc)}")
        return 1


def _drop_stdout() -> None:
    """Point stdout at the null device, so that flushing what is left in its
    buffer at exit does not complain about the closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        stdout = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, stdout)
        finally:
            os.close(null)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``meterkit`` command with ``argv`` (default ``sys.argv[1:]``) and
    return its exit status; bad flags, ``--help`` and ``--version`` raise
    `SystemExit` (argparse's).

    A closed stdout pipe (``| head``) ends the run silently with 141, wherever
    it is met, the last flush included; Ctrl-C ends it with 130 and one line on
    stderr. Neither prints a traceback.
    """
    try:
        return _run(argv)
    except BrokenPipeError:
        _drop_stdout()
        return 141
    except KeyboardInterrupt:
        _interrupted()
        return 130


def _interrupted() -> None:
    erase = ""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if sys.stderr.isatty():
            erase = "\r\x1b[K"  # the progress line, and the terminal's ^C
    _say(f"{erase}meterkit: interrupted")
