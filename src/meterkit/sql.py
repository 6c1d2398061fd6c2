"""Meters compiled to SQL for DuckDB and Postgres, with the fold's results.

`compile_sql` turns a `Meter` and a query (``aggregate``, ``usage``,
``usage_by_customer``, ``quantities``) into SQL text and named parameters for an
events table or view (the contract: docs/sql.md). The runners `sql_aggregate`,
`sql_usage`, `sql_usage_by_customer` and `sql_quantities` execute it on a
connection the caller owns (a ``duckdb`` connection or a ``psycopg`` 3 one) and
return what `aggregate`, `usage`, `usage_by_customer` and `quantities` return.
meterkit imports no database library: the runners use the connection they get.

Rule 1 (semantics): the SQL is the fold's table of verdicts (`_verdicts`), step
by step (`_sql_plan`): scope, checks, classification, dedup on ``external_id``
in ``seq`` order, the window after the last reset, and the clamped running sum
of credits as ``S_n - min(0, min S_k)`` over prefix sums.
Rule 2 (exactness): the engine counts, sums and picks extremes exactly (Postgres
``numeric``; DuckDB ``HUGEINT`` for integers and ``DECIMAL(38,20)`` for other
numbers, each of which is checked to fit); Python divides ``avg`` and keys
``unique`` values on the small per-group result, as the fold does. A value or a
sum an engine cannot hold exactly is an `InexactError`, never a rounded number.
Rule 3 (errors): every event in scope is checked in SQL (before dedup and
resets); the first failing event is read again through the fold's own checks, so
the error is the fold's, with the event named by its ``seq``. Where the fold
accepts it, the error says what the engine could not do: on DuckDB, a repeated
metadata key the meter reads (`_refuse_repeated_key`), else a number it cannot
hold exactly. What the SQL path does not check is listed in docs/sql.md.
Rule 4 (buckets): `sql_quantities` cuts time into segments in Python with the
fold's own calendar (`_sql_segments`: the time zone database is Python's); the
engine only finds each event's segment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from ._calendar import DEFAULT_MAX_BUCKETS, series_buckets
from ._chunks import usage_numbers
from ._fields import UTC, format_timestamp
from ._sql_dialects import DUCKDB_DECIMAL, Params, dialect_for, literal
from ._sql_plan import QUOTED_COLUMNS, Plan, credits_of, string_constant, tally_of
from ._sql_segments import segments
from ._tally import Tally
from ._verdicts import Scan, check_by, check_meter, customer_keys
from .errors import InexactError, InvalidTypeError, MeterkitError, ValidationError
from .events import read_event
from .matching import CompiledMeter
from .meters import Meter
from .usage import Usage

if TYPE_CHECKING:
    from .timeseries import MeterQuantities

__all__ = [
    "DIALECTS",
    "QUERIES",
    "SqlQuery",
    "compile_sql",
    "create_table_sql",
    "jsonl_table_sql",
    "jsonl_view_sql",
    "load_events",
    "parquet_view_sql",
    "sql_aggregate",
    "sql_quantities",
    "sql_usage",
    "sql_usage_by_customer",
]

#: The SQL engines meterkit compiles for.
DIALECTS = ("duckdb", "postgres")
#: The queries `compile_sql` compiles.
QUERIES = ("aggregate", "usage", "usage_by_customer", "quantities")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@attrs.frozen(kw_only=True)
class SqlQuery:
    """A compiled query: SQL ``text`` and its named ``params`` for ``dialect``.

    DuckDB placeholders are ``$p0``, Postgres (psycopg) ones ``%(p0)s``; run it
    with ``connection.execute(query.text, query.params)``.
    """

    dialect: str
    query: str
    text: str
    params: Mapping[str, Any] = attrs.field(repr=False)


def _dialect(value: object) -> str:
    if value not in DIALECTS:
        raise ValidationError(
            f"must be one of {', '.join(map(repr, DIALECTS))}",
            path="dialect",
            value=value,
        )
    return str(value)


def _table(value: object, path: str = "table") -> str:
    """A table or view name, ``name`` or ``schema.name``, quoted."""
    if not isinstance(value, str):
        raise InvalidTypeError("must be a table name", path=path, value=value)
    parts = value.split(".")
    if not (1 <= len(parts) <= 2 and all(_IDENTIFIER.fullmatch(p) for p in parts)):
        raise ValidationError(
            "must be a table or view name such as 'events' or 'billing.events'"
            " (letters, digits and underscores, not starting with a digit)",
            path=path,
            value=value,
        )
    return ".".join(f'"{part}"' for part in parts)


class _Compiled:
    """A compiled query with what decoding its rows needs."""

    def __init__(self, query: SqlQuery, plan: Plan, table: str) -> None:
        self.query = query
        self.plan = plan
        self.table = table
        self.buckets: list[tuple[Any, datetime]] = []
        self.by = ""


def _scope(
    plan: Plan, customer_id: str | None, external_customer_id: str | None
) -> str:
    d = plan.d
    tests = []
    if customer_id is not None:
        tests.append(f"{d.lower_text('customer_id')} = {d.p(customer_id)}")
    if external_customer_id is not None:
        tests.append(f"external_customer_id = {d.p(external_customer_id)}")
    return " OR ".join(tests) or "TRUE"


def _compile(
    meter: object,
    query: object,
    *,
    dialect: object,
    table: object,
    customer_id: object = None,
    external_customer_id: object = None,
    by: object = "customer_id",
    start: object = None,
    end: object = None,
    interval: object = None,
    timezone: object = "UTC",
    max_buckets: object = DEFAULT_MAX_BUCKETS,
    quoted: bool = False,
) -> _Compiled:
    """``quoted``: the table's string columns hold JSON texts (`_jsonl_table`),
    for ``aggregate`` and ``usage_by_customer`` (what `cli._engine` runs)."""
    meter = check_meter(meter)
    name = _dialect(dialect)
    table_name = _table(table)
    if query not in QUERIES:
        raise ValidationError(
            f"must be one of {', '.join(map(repr, QUERIES))}", path="query", value=query
        )
    if quoted and query not in ("aggregate", "usage_by_customer"):
        raise AssertionError(f"no quoted mode for {query}")  # pragma: no cover
    params = Params(name)
    plan = Plan(meter, dialect_for(name, params), table_name, quoted=quoted)
    single = "SELECT 0 AS g"
    buckets: list[tuple[Any, datetime]] = []
    chosen = ""
    if query == "aggregate":
        text = plan.query(
            group="0", scope="TRUE", groups=single, windowed=False, credits=False
        )
    elif query == "usage":
        keys = customer_keys(customer_id, external_customer_id)
        text = plan.query(
            group="0",
            scope=_scope(plan, *keys),
            groups=single,
            windowed=True,
            credits=True,
        )
    elif query == "usage_by_customer":
        chosen = check_by(by)
        text = plan.query(
            group=plan.group_key(chosen),
            scope=f"{chosen} IS NOT NULL",
            groups="SELECT DISTINCT g FROM src",
            windowed=True,
            credits=True,
            key=plan.text(chosen, "groups.g"),
            by=chosen,
        )
    else:
        keys = customer_keys(customer_id, external_customer_id)
        calendar, buckets = series_buckets(start, end, interval, timezone, max_buckets)
        bounds, indexes = segments(calendar, buckets)
        p = plan.d.p
        if name == "duckdb":
            starts = [b for b, i in zip(bounds, indexes, strict=False) if i is not None]
            ends = [bounds[n + 1] for n, i in enumerate(indexes) if i is not None]
            kept = [i for i in indexes if i is not None]
            join = (
                f" ASOF JOIN (SELECT unnest(CAST({p(starts)} AS TIMESTAMPTZ[])) AS lo,"
                f" unnest(CAST({p(ends)} AS TIMESTAMPTZ[])) AS hi,"
                f" unnest(CAST({p(kept)} AS INTEGER[])) AS bk) AS seg ON ts >= seg.lo"
            )
            bucket = "(CASE WHEN ts < seg.hi THEN seg.bk END)"
        else:
            join = ""
            bucket = (
                f"(CAST({p(indexes)} AS integer[]))"
                f"[width_bucket(ts, CAST({p(bounds)} AS timestamptz[]))]"
            )
        text = plan.query(
            group="0",
            scope=_scope(plan, *keys),
            groups=single,
            windowed=False,
            credits=False,
            bucket=bucket,
            bucket_join=join,
        )
    compiled = _Compiled(
        SqlQuery(dialect=name, query=str(query), text=text, params=params.values),
        plan,
        table_name,
    )
    compiled.buckets = buckets
    compiled.by = chosen
    return compiled


def compile_sql(
    meter: Meter,
    query: str,
    *,
    dialect: str,
    table: str = "events",
    customer_id: object = None,
    external_customer_id: object = None,
    by: str = "customer_id",
    start: datetime | None = None,
    end: datetime | None = None,
    interval: str | None = None,
    timezone: str = "UTC",
    max_buckets: int = DEFAULT_MAX_BUCKETS,
) -> SqlQuery:
    """The SQL of ``query`` (one of `QUERIES`) on ``meter`` for ``dialect``.

    The keyword arguments are those of the matching fold function (``by`` for
    ``usage_by_customer``; ``start``, ``end``, ``interval``, ``timezone`` and
    ``max_buckets`` for ``quantities``). The query returns one row per group
    (customer or bucket) with a ``bad_seq`` column: the ``seq`` of the first event
    that failed a check, which the runners turn into the fold's error.

    >>> query = compile_sql(example_meter(), "usage", dialect="duckdb",
    ...                     external_customer_id="acme")
    >>> query.text.startswith("WITH "), query.params["p0"]
    (True, 'acme')
    """
    return _compile(
        meter,
        query,
        dialect=dialect,
        table=table,
        customer_id=customer_id,
        external_customer_id=external_customer_id,
        by=by,
        start=start,
        end=end,
        interval=interval,
        timezone=timezone,
        max_buckets=max_buckets,
    ).query


# -- running -----------------------------------------------------------------------


def _detect(connection: object, dialect: object) -> str:
    if dialect is not None:
        return _dialect(dialect)
    module = type(connection).__module__
    if module.startswith(("duckdb", "_duckdb")):
        return "duckdb"
    if module.startswith("psycopg"):
        return "postgres"
    raise InvalidTypeError(
        "must be a duckdb or psycopg 3 connection (or pass dialect=...); install "
        "meterkit[duckdb] or meterkit[postgres]",
        path="connection",
        value=connection,
    )


def _engine_errors(dialect: str) -> tuple[type[BaseException], ...]:
    """The engine's exception classes for data errors (its module is imported by
    the caller, who made the connection)."""
    try:
        if dialect == "duckdb":
            import duckdb

            return (
                duckdb.OutOfRangeException,
                duckdb.ConversionException,
                duckdb.InvalidInputException,
            )
        import psycopg

        return (psycopg.errors.DataException,)
    except ImportError:  # pragma: no cover  # a connection implies its module
        raise MeterkitError(
            f"running SQL on {dialect} needs meterkit[{dialect}]"
        ) from None


def _execute(
    connection: Any, dialect: str, text: str, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Run ``text``; rows as dicts. Engine data errors become `MeterkitError`s."""
    errors = _engine_errors(dialect)
    try:
        if dialect == "duckdb":
            cursor = connection.execute(text, dict(params))
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        else:
            with connection.cursor() as cursor:
                cursor.execute(text, dict(params))
                names = [column.name for column in cursor.description]
                rows = cursor.fetchall()
    except errors as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "overflow" in message.lower() or "out of range" in message.lower():
            limit = f"HUGEINT or {DUCKDB_DECIMAL}" if dialect == "duckdb" else "numeric"
            raise InexactError(
                f"does not fit the engine's exact numbers ({message}); a sum beyond "
                f"{limit} cannot be computed exactly in SQL: use the fold",
                path="events",
            ) from None
        raise ValidationError(
            f"cannot be read by {dialect}: {message}", path="events"
        ) from None
    except UnicodeDecodeError:
        # DuckDB's message can cut a line's UTF-8 text in the middle of a
        # character, which its Python module then fails to decode.
        raise ValidationError(
            f"cannot be read by {dialect} (its error message is not UTF-8 text)",
            path="events",
        ) from None
    return [dict(zip(names, row, strict=True)) for row in rows]


def _run(connection: Any, compiled: _Compiled) -> list[dict[str, Any]]:
    query = compiled.query
    rows = _execute(connection, query.dialect, query.text, query.params)
    bad = [row["bad_seq"] for row in rows if row.get("bad_seq") is not None]
    if bad:
        _refusal(connection, compiled, min(bad))
    return rows


def _refusal(connection: Any, compiled: _Compiled, seq: Any) -> None:
    """Raise the fold's error for the event ``seq``; where the fold accepts it,
    (DuckDB) a repeated key's `ValidationError`, else an `InexactError`."""
    dialect = compiled.query.dialect
    params = Params(dialect)
    text_type = "VARCHAR" if dialect == "duckdb" else "text"
    strings = {c: f"{compiled.plan.text(c)} AS {c}" for c in _TEXTS}
    text = (
        f'SELECT {strings["name"]}, "timestamp", {strings["customer_id"]},'
        f" {strings['external_customer_id']}, {strings['external_id']},"
        f" {strings['source']}, CAST(metadata AS {text_type}) AS metadata"
        f" FROM {compiled.table} WHERE seq = {params(seq)}"
    )
    rows = _execute(connection, dialect, text, params.values)
    index = int(seq)
    if rows:
        row = rows[0]
        event = dict(row)
        moment = row["timestamp"]
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            event["timestamp"] = format_timestamp(moment.astimezone(UTC))
        if row["customer_id"] is not None:
            event["customer_id"] = str(row["customer_id"])
        if isinstance(row["metadata"], str):
            # DuckDB reads a JSON float as a double, Postgres by its digits.
            try:
                event["metadata"] = (
                    json.loads(row["metadata"])
                    if dialect == "duckdb"
                    else json.loads(row["metadata"], parse_float=Decimal)
                )
            except RecursionError:
                raise ValidationError(
                    "nests too deeply to be read",
                    path=f"events[{index}].metadata",
                    value="...",
                ) from None
        scan = Scan(CompiledMeter(compiled.plan.meter))
        view = read_event(event, index, scan.ids)
        scan.classify(view, index)
        if dialect == "duckdb" and isinstance(row["metadata"], str):
            paths = compiled.plan.read_paths(row["source"])
            _refuse_repeated_key(row["metadata"], paths, index)
    prop = compiled.plan.prop
    where = f"events[{index}]" + (
        f".metadata.{prop.removeprefix('metadata.')}" if prop else ""
    )
    raise InexactError(
        f"cannot be held exactly by {dialect} (integers up to HUGEINT, other "
        f"numbers below 1E+18 with at most 20 digits after the point, as "
        f"{DUCKDB_DECIMAL}): use the fold, or Postgres",
        path=where,
    )


class _Pairs(list[tuple[str, Any]]):
    """A JSON object read as its ``(key, value)`` pairs, repeated keys kept."""


def _refuse_repeated_key(
    text: str, paths: Iterable[tuple[str, ...]], index: int
) -> None:
    """A `ValidationError` when the metadata ``text`` of the event ``index``
    repeats a key on one of ``paths`` (any step of them): DuckDB reads the first
    of repeated keys, `json.loads` (the fold) and Postgres the last."""
    root = json.loads(text, object_pairs_hook=_Pairs)
    for steps in paths:
        node = root
        for n, step in enumerate(steps):
            if not isinstance(node, _Pairs):
                break
            values = [value for key, value in node if key == step]
            if len(values) > 1:
                try:
                    shown: object = [_plain(value) for value in values]
                except RecursionError:
                    shown = "..."
                raise ValidationError(
                    f"repeats the key {step!r}: DuckDB reads the first of duplicate"
                    " keys, JSON readers (the fold, Postgres) the last, so the SQL"
                    " path on DuckDB refuses it; remove the duplicate, or use the"
                    " fold or Postgres",
                    path=f"events[{index}].metadata.{'.'.join(steps[: n + 1])}",
                    value=shown,
                )
            if not values:
                break
            node = values[0]


def _plain(value: Any) -> Any:
    """A value read with `_Pairs` as `json.loads` reads it (the last key wins)."""
    if isinstance(value, _Pairs):
        return {key: _plain(item) for key, item in value}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _usage_of(row: Mapping[str, Any], compiled: _Compiled) -> Usage:
    plan = compiled.plan
    tally = tally_of(plan.func, compiled.query.dialect, row, _floats(compiled))
    consumed, credited, balance, rollover = usage_numbers(
        tally.quantity(), *credits_of(row)
    )
    return Usage(
        consumed_units=consumed,
        credited_units=credited,
        balance=balance,
        rollover_units=rollover,
    )


def _floats(compiled: _Compiled) -> bool:
    return compiled.query.dialect == "duckdb"


def sql_aggregate(
    connection: Any, meter: Meter, *, table: str = "events", dialect: str | None = None
) -> Decimal:
    """`aggregate` computed by the engine of ``connection`` over ``table``.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> con.execute(create_table_sql("duckdb"))  # doctest: +ELLIPSIS
    <...>
    >>> load_events(con, [example_use(10), example_use(5)])
    2
    >>> sql_aggregate(con, example_meter())
    Decimal('15')
    """
    return _aggregate(connection, meter, table=table, dialect=dialect)


def _aggregate(
    connection: Any,
    meter: Meter,
    *,
    table: str,
    dialect: str | None = None,
    quoted: bool = False,
) -> Decimal:
    """`sql_aggregate`, over quoted string columns too (`_compile`)."""
    compiled = _compile(
        meter,
        "aggregate",
        dialect=_detect(connection, dialect),
        table=table,
        quoted=quoted,
    )
    rows = _run(connection, compiled)
    row = rows[0] if rows else None
    return tally_of(
        compiled.plan.func, compiled.query.dialect, row, _floats(compiled)
    ).quantity()


def sql_usage(
    connection: Any,
    meter: Meter,
    *,
    customer_id: object = None,
    external_customer_id: object = None,
    table: str = "events",
    dialect: str | None = None,
) -> Usage:
    """`usage` computed by the engine of ``connection`` over ``table``.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> con.execute(create_table_sql("duckdb"))  # doctest: +ELLIPSIS
    <...>
    >>> load_events(con, [example_use(20), example_reset(), example_use(10),
    ...                   example_credit(10)])
    4
    >>> sql_usage(con, example_meter(), external_customer_id="acme")
    Usage(consumed_units=Decimal('10'), credited_units=10, balance=Decimal('0'),
          rollover_units=0)
    """
    compiled = _compile(
        meter,
        "usage",
        dialect=_detect(connection, dialect),
        table=table,
        customer_id=customer_id,
        external_customer_id=external_customer_id,
    )
    rows = _run(connection, compiled)
    return _usage_of(rows[0], compiled)


def sql_usage_by_customer(
    connection: Any,
    meter: Meter,
    *,
    by: str = "customer_id",
    table: str = "events",
    dialect: str | None = None,
) -> dict[str, Usage]:
    """`usage_by_customer` computed by the engine of ``connection``.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> con.execute(create_table_sql("duckdb"))  # doctest: +ELLIPSIS
    <...>
    >>> load_events(con, [example_use(10), example_use(5, customer="globex")])
    2
    >>> for key, found in sql_usage_by_customer(
    ...         con, example_meter(), by="external_customer_id").items():
    ...     print(key, found.consumed_units)
    acme 10
    globex 5
    """
    return _usage_by_customer(connection, meter, by=by, table=table, dialect=dialect)


def _usage_by_customer(
    connection: Any,
    meter: Meter,
    *,
    by: str,
    table: str,
    dialect: str | None = None,
    quoted: bool = False,
) -> dict[str, Usage]:
    """`sql_usage_by_customer`, over quoted string columns too (`_compile`)."""
    compiled = _compile(
        meter,
        "usage_by_customer",
        dialect=_detect(connection, dialect),
        table=table,
        by=by,
        quoted=quoted,
    )
    rows = _run(connection, compiled)
    result = {str(row["key"]): _usage_of(row, compiled) for row in rows}
    return {key: result[key] for key in sorted(result)}


def sql_quantities(
    connection: Any,
    meter: Meter,
    *,
    start: datetime,
    end: datetime,
    interval: str,
    timezone: str = "UTC",
    customer_id: object = None,
    external_customer_id: object = None,
    max_buckets: int = DEFAULT_MAX_BUCKETS,
    table: str = "events",
    dialect: str | None = None,
) -> MeterQuantities:
    """`quantities` computed by the engine of ``connection`` over ``table``.

    >>> import duckdb
    >>> from datetime import datetime, timezone
    >>> con = duckdb.connect()
    >>> con.execute(create_table_sql("duckdb"))  # doctest: +ELLIPSIS
    <...>
    >>> load_events(con, [example_use(10), example_use(5)])
    2
    >>> series = sql_quantities(con, example_meter(),
    ...     start=datetime(2025, 1, 1, tzinfo=timezone.utc),
    ...     end=datetime(2025, 1, 2, tzinfo=timezone.utc), interval="day")
    >>> [q.quantity for q in series.quantities], series.total
    ([Decimal('0'), Decimal('15')], Decimal('15'))
    """
    compiled = _compile(
        meter,
        "quantities",
        dialect=_detect(connection, dialect),
        table=table,
        customer_id=customer_id,
        external_customer_id=external_customer_id,
        start=start,
        end=end,
        interval=interval,
        timezone=timezone,
        max_buckets=max_buckets,
    )
    rows = _run(connection, compiled)
    func = compiled.plan.func
    found = {
        int(row["key"]): tally_of(func, compiled.query.dialect, row, _floats(compiled))
        for row in rows
        if row.get("key") is not None
    }
    tallies = [found.get(n) or Tally(func) for n in range(len(compiled.buckets))]
    # Imported here: the command line's engine never builds a series.
    from .timeseries import series_of

    return series_of(compiled.buckets, tallies, func)


# -- loading files (DuckDB) --------------------------------------------------------


def jsonl_view_sql(path: str, *, view: str = "events") -> str:
    """DuckDB SQL creating ``view`` over a JSON Lines file in the table contract.

    ``seq`` is the line's position (from 0, as the fold numbers events), from
    DuckDB's ``read_json`` in file order (``preserve_insertion_order``, on by
    default). ``path`` may be a glob or a ``.gz`` file. The view reads the fields
    as the fold does where DuckDB's own reader would differ: a ``timestamp`` that is
    not RFC 3339 with an offset, or outside years 1 to 9999 in UTC, is NULL (and the
    event refused); a string field holding another JSON type (a number as an id) is
    ``''`` (refused too), never its text. A ``source`` of ``null`` reads as missing
    (``user``). The view reads the file at each query: to query it more than once,
    `jsonl_table_sql` reads it once.

    >>> print(jsonl_view_sql("events.jsonl"))  # doctest: +ELLIPSIS
    CREATE OR REPLACE VIEW "events" AS SELECT ... FROM read_json('events.jsonl', ...
    """
    name = _table(view, "view")
    return (
        f"CREATE OR REPLACE VIEW {name} AS SELECT {_jsonl_columns(False)}, seq FROM"
        f" (SELECT *, row_number() OVER () - 1 AS seq FROM {_read_json(path)})"
    )


def jsonl_table_sql(path: str, *, table: str = "events") -> str:
    """DuckDB SQL reading a JSON Lines file once into a table, in the table contract.

    The fields are read as `jsonl_view_sql` reads them, into the table
    ``<table>_lines``; ``table`` is a view adding ``seq``, the row's position (its
    ``rowid``: the table is filled in file order). Faster than the view when the
    file is queried more than once (no window over the file to number its lines),
    at the cost of holding the events in memory.

    >>> print(jsonl_table_sql("events.jsonl"))  # doctest: +ELLIPSIS
    CREATE OR REPLACE TABLE "events_lines" AS SELECT ...; CREATE OR REPLACE VIEW ...
    """
    return _jsonl_table(path, table, quoted=False)


def _jsonl_table(path: str, table: str, *, quoted: bool) -> str:
    """`jsonl_table_sql`; with ``quoted``, the string fields keep their JSON text
    (`_read_json`), for the runners' ``quoted`` mode (`cli._engine`)."""
    name = _table(table, "table")
    lines = _table(f"{table}_lines", "table")
    return (
        f"CREATE OR REPLACE TABLE {lines} AS SELECT {_jsonl_columns(quoted)}"
        f" FROM {_read_json(path, quoted=quoted)}; CREATE OR REPLACE VIEW {name} AS"
        f" SELECT *, rowid AS seq FROM {lines}"
    )


#: The JSON Lines fields read as JSON, so that a string field holding another JSON
#: type is told from a string (`_read_json`).
_TEXTS = ("name", "customer_id", "external_customer_id", "external_id", "source")


def _jsonl_columns(quoted: bool) -> str:
    """The contract's columns (but ``seq``) from `_read_json`'s: the fold's
    reading (a missing ``source`` is ``user``)."""
    user = string_constant("user", quoted=quoted and "source" in QUOTED_COLUMNS)
    return (
        "name, CASE WHEN moment BETWEEN TIMESTAMPTZ '0001-01-01 00:00:00+00'"
        " AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00' THEN moment END"
        ' AS "timestamp", customer_id, external_customer_id, external_id,'
        f" coalesce(source, {user}) AS source, metadata"
    )


def _read_json(path: object, *, quoted: bool = False) -> str:
    """A subquery reading the JSON Lines file ``path``: the string fields as text
    (``''`` for another JSON type), ``moment`` (NULL unless RFC 3339 with an
    offset), ``metadata`` as JSON, in file order.

    With ``quoted``, a string field of `_sql_plan.QUOTED_COLUMNS` keeps its JSON
    text, quotes and escapes included (``'"acme"'``; still ``''`` for another
    JSON type): DuckDB's reader writes every string's text in one canonical form
    (``"\\u0061"`` reads as ``"a"``), the form ``to_json`` writes, so two fields
    hold the same string exactly when their texts are equal. Not unquoting a
    million short strings saves a fifth of the load's work; the runners'
    ``quoted`` mode compares and groups the texts (`_sql_plan`, Rule 4). The
    other string fields (``source``, ``customer_id``) are read as plain text, a
    value of another JSON type as its JSON text (``5``, ``true``), which no valid
    value of theirs spells.
    """
    if not isinstance(path, str) or not path:
        raise InvalidTypeError("must be a file path", path="path", value=path)
    plain = [c for c in _TEXTS if quoted and c not in QUOTED_COLUMNS]
    columns = ", ".join(f"{c}: '{'VARCHAR' if c in plain else 'JSON'}'" for c in _TEXTS)
    columns = f"{{{columns}, timestamp: 'VARCHAR', metadata: 'JSON'}}"
    strings = ", ".join(
        c
        if c in plain
        else f"CASE WHEN left({c}, 1) = '\"' THEN "
        + (f"CAST({c} AS VARCHAR)" if quoted else f"{c} ->> '$'")
        + f" WHEN {c} IS NOT NULL THEN '' END AS {c}"
        for c in _TEXTS
    )
    # The API's own layout first, by `_API_LAYOUT` (cheaper than the regex), then
    # any other RFC 3339 text by the regex.
    moment = (
        f"CASE WHEN {_API_LAYOUT.format(t='timestamp')}"
        f" WHEN regexp_full_match(timestamp, {literal(_RFC3339)})"
        " THEN TRY_CAST(upper(timestamp) AS TIMESTAMPTZ) END"
    )
    return (
        f"(SELECT {strings}, {moment} AS moment, metadata"
        f" FROM read_json({literal(path)}, format = 'newline_delimited',"
        f" columns = {columns}))"
    )


#: (A ``CASE`` branch) The API's timestamp layout, ``2025-01-01T00:00:00Z``, read
#: exactly as the fold reads it. The branch takes every text of 20 bytes that
#: starts with a character from ``'0'`` up, ends with ``Z`` and holds a ``T``: a
#: valid RFC 3339 text of that shape has the API's layout exactly (its separator
#: is ``T``, not ``t`` or a space, which the other branch reads). ``strptime``
#: then checks the digits, their ranges (no hour 24, no second 60, no 30
#: February) and the separators, and so the layout: with each field at most its
#: width in digits, 20 bytes leave no room for a narrower field, and ``strptime``
#: skips white space only before the text (which ``>= '0'`` refuses: every white
#: space and sign sorts below ``'0'``) and after it (which the final ``Z``
#: refuses). A text it refuses is NULL here (the event refused), never read by
#: the other branch. The value is the naive UTC time's epoch seconds, which
#: ``to_timestamp`` turns into a ``TIMESTAMPTZ`` whatever the session's time zone.
#: Byte tests instead of a ``LIKE`` on the layout: 40M fewer instructions per
#: 100,000 lines (2.6% of the CLI's DuckDB work). Held equal to the fold's parser
#: by a property test (`tests/property/test_jsonl_timestamp_properties.py`), and
#: to the ``LIKE`` form by a fuzz of 680,000 texts (docs/performance.md).
_API_LAYOUT = (
    "strlen({t}) = 20 AND {t} >= '0' AND suffix({t}, 'Z') AND contains({t}, 'T')"
    " THEN to_timestamp(epoch_us(try_strptime({t}, '%Y-%m-%dT%H:%M:%SZ'))"
    " // 1000000)"
)

#: The fold's RFC 3339 (`_fields`), with hours, minutes and seconds in range.
_RFC3339 = (
    r"\d{4}-\d{2}-\d{2}[Tt ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?"
    r"([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)"
)


def parquet_view_sql(path: str, *, view: str = "events") -> str:
    """DuckDB SQL creating ``view`` over a Parquet file in the table contract.

    The file holds the wire event's columns (``name``, ``timestamp``,
    ``customer_id``, ``external_customer_id``, ``external_id``, ``source``,
    ``metadata``); ``timestamp`` may be a timestamp with time zone or RFC 3339 text,
    ``metadata`` JSON text or a struct, and ``source`` missing (``user``). ``seq``
    is the row's position in the file (``file_row_number``), the log order.

    >>> print(parquet_view_sql("e.parquet"))  # doctest: +ELLIPSIS
    CREATE OR REPLACE VIEW "events" AS SELECT ... FROM read_parquet('e.parquet', ...
    """
    if not isinstance(path, str) or not path:
        raise InvalidTypeError("must be a file path", path="path", value=path)
    name = _table(view, "view")
    return (
        f"CREATE OR REPLACE VIEW {name} AS SELECT name,"
        ' CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp", customer_id,'
        " external_customer_id, external_id, coalesce(source, 'user') AS source,"
        " CAST(metadata AS JSON) AS metadata, file_row_number AS seq"
        f" FROM read_parquet({literal(path)}, file_row_number = true)"
    )


# -- the table contract ------------------------------------------------------------

_DDL = {
    "duckdb": (
        "CREATE TABLE {table} (seq BIGINT NOT NULL PRIMARY KEY, name VARCHAR NOT NULL,"
        ' "timestamp" TIMESTAMPTZ NOT NULL, customer_id VARCHAR,'
        " external_customer_id VARCHAR, external_id VARCHAR,"
        " source VARCHAR NOT NULL DEFAULT 'user', metadata JSON)"
    ),
    "postgres": (
        "CREATE TABLE {table} (seq bigint NOT NULL PRIMARY KEY, name text NOT NULL,"
        ' "timestamp" timestamptz NOT NULL, customer_id text,'
        " external_customer_id text, external_id text,"
        " source text NOT NULL DEFAULT 'user', metadata jsonb)"
    ),
}


def create_table_sql(dialect: str, *, table: str = "events") -> str:
    """The ``CREATE TABLE`` statement of an events table in the contract.

    >>> print(create_table_sql("postgres"))  # doctest: +ELLIPSIS
    CREATE TABLE "events" (seq bigint NOT NULL PRIMARY KEY, name text NOT NULL, ...
    """
    return _DDL[_dialect(dialect)].format(table=_table(table))


def load_events(
    connection: Any,
    events: Iterable[object],
    *,
    table: str = "events",
    dialect: str | None = None,
    start: int = 0,
) -> int:
    """Insert ``events`` into ``table`` (which exists) with ``seq`` from ``start``.

    Each event (an `Event` or a wire mapping) is read and checked as the fold
    reads it (`events.read_event`); errors name ``events[i]``. Returns the number
    of events inserted. Meant for tests and small loads: for files, use DuckDB's
    ``read_json`` (`jsonl_view_sql`) or the engine's bulk loader.
    """
    name = _detect(connection, dialect)
    quoted = _table(table)
    params = Params(name)
    holders = ", ".join(params(None) for _ in range(8))
    text = f'INSERT INTO {quoted} (seq, name, "timestamp", customer_id,'
    text += f" external_customer_id, external_id, source, metadata) VALUES ({holders})"
    rows = []
    ids: dict[str, str] = {}
    for index, event in enumerate(_events(events), start):
        view = read_event(event, index, ids)
        values = (
            index,
            view.name,
            view.timestamp,
            view.customer_id,
            view.external_customer_id,
            view.external_id,
            view.source,
            _json(view.metadata, f"events[{index}].metadata"),
        )
        rows.append(dict(zip(params.values, values, strict=True)))
    if rows:
        if name == "duckdb":
            connection.executemany(text, rows)
        else:
            with connection.cursor() as cursor:
                cursor.executemany(text, rows)
    return len(rows)


def _events(events: object) -> Iterable[object]:
    from ._verdicts import iterate

    return iterate(events)


def _json(value: object, path: str) -> str:
    """JSON text of a metadata value; a `Decimal` is written with its digits."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError("must be a finite number", path=path, value=value)
        return str(value)
    if isinstance(value, Mapping):
        items = (
            f"{json.dumps(key)}: {_json(item, f'{path}.{key}')}"
            for key, item in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_json(item, path) for item in value) + "]"
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError(
            "must be a JSON value with finite numbers", path=path, value=value
        ) from None
