"""One query plan for every SQL query: scope, verdicts, dedup, resets, tallies.

The plan is the fold's table of verdicts (`_verdicts`) written as common table
expressions, in the same order:

| CTE      | what it holds                                                         |
|----------|-----------------------------------------------------------------------|
| `src`    | the events in scope, with their group key ``g`` (one customer, or     |
|          | each customer of `usage_by_customer`); for DuckDB every metadata path |
|          | the meter reads, extracted in one parse (``js``)                      |
| `cls`    | each event's kind (``COUNTED``, ``CREDIT``, ``RESET``, ``OTHER``:     |
|          | small integers), its contribution, and ``bad``: a check failed        |
|          | (DuckDB: a repeated key on a path the event is read by, Rule 3)       |
| `kept`   | dedup: of the events of a group sharing an ``external_id``, the first |
|          | in ``seq`` order, whatever its kind (DuckDB: one hash aggregate,      |
|          | `firsts`, with ``arg_min_null`` and the first bad ``seq``; it and the |
|          | distinct customer ids, `idk`, are materialized)                       |
| `win`    | (usage) only the events after the group's last kept reset             |
| `counted`| the counted events; ``rn = 1`` marks the latest reading of a bucket   |
| `cons`   | per group (or bucket): count, exact sums, extremes, latest, distinct  |
| `cred`   | per group: total and lowest prefix sum of all, non-rollover and       |
|          | rollover credits (the clamped running sum is ``S_n - min(0, min S_k)``)|
| `bad`    | the smallest ``seq`` of an event whose checks failed (DuckDB: the     |
|          | UUID check once per distinct ``customer_id``, in `ids`)               |

Rule 1: checks run on every event in scope, before dedup and resets, as in the
fold; the runner re-reads the first bad event through the fold to raise the
fold's own error (`sql._refusal`).
Rule 2: the engine returns one small row per group (or bucket); Python turns it
into a `_tally.Tally` (`tally_of`), so ``avg`` divides and ``unique`` keys values
exactly as the fold does.
Rule 3 (repeated keys, DuckDB): DuckDB's ``JSON`` keeps both of an object's
repeated keys and reads the first, where `json.loads` (the fold) and ``jsonb``
keep the last. So an event is refused when its metadata repeats a key on a path
the meter reads on it (`Plan.repeated`): any step of the filter's paths on a user
event, and of the property's when the filter passes; ``meter_id`` on a system
event, ``units`` and ``rollover`` on a credit for this meter. A cheap textual
hint picks the few rows whose keys ``json_keys`` counts: a backslash in the
metadata text (a key may be spelled with escapes), or a key's text found twice.
The runner finds the key again in Python (`Plan.read_paths`).
Rule 4 (quoted strings, DuckDB): a plan made with ``quoted`` reads a table whose
`QUOTED_COLUMNS` hold each string's JSON text (``'"acme"'``, and ``''`` for a field
of another JSON type: `sql._read_json`), canonical as DuckDB's ``to_json`` writes
it, and whose other string columns hold plain text. Every test of a string column
goes through `Plan.is_`, `Plan.string`, `Plan.empty` and `Plan.text`, which know
which columns are quoted: a constant is compared as its JSON text, a clause's value
as ``to_json`` of it, and only ordering, ``like`` and the output keys unquote. The
differential tests run this mode over JSON Lines files against the fold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ._sql_dialects import DUCKDB_DECIMAL, DUCKDB_SCALE, Dialect, DuckDB, literal
from ._tally import Tally
from ._units import UNITS, ZERO, add_units
from ._verdicts import CREDITED_EVENT, RESET_EVENT
from .matching import metadata_steps, unique_key
from .meters import (
    CountAggregation,
    Filter,
    FilterClause,
    Meter,
    UniqueAggregation,
)

__all__: list[str] = []

_FIELDS = ("name", "source", "timestamp")
_OPS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# The metadata keys of a system event for this meter.
_SYSTEM_PATHS = (("meter_id",), ("units",), ("rollover",))
_BACKSLASH = literal("\\")
# The kinds of event (`cls`), small integers: the dedup aggregate carries one per
# group, and an integer keeps its state narrower than a string would (16 bytes).
OTHER, COUNTED, CREDIT, RESET = 0, 1, 2, 3
# (DuckDB) The metadata's JSON text, for the hints of repeated keys (Rule 3).
_TEXT = "CAST(md AS VARCHAR)"
#: The string columns a ``quoted`` table holds as JSON text (Rule 4): a number, a
#: boolean, an array or an object can spell a valid name or id as text (``5`` and
#: ``"5"``), so these keep their quotes. No other JSON type's text spells a valid
#: ``source`` (``user``, ``system``) or ``customer_id`` (a UUID), so a ``quoted``
#: table holds those two as plain text, which DuckDB's reader writes more cheaply.
QUOTED_COLUMNS = frozenset({"name", "external_customer_id", "external_id"})


class Plan:
    """The SQL of one meter in one dialect, built once for a query."""

    def __init__(
        self, meter: Meter, dialect: Dialect, table: str, *, quoted: bool = False
    ) -> None:
        if quoted and not isinstance(dialect, DuckDB):  # pragma: no cover
            raise AssertionError("quoted string columns are DuckDB's only")
        self.meter = meter
        self.d = dialect
        self.table = table
        # The quoted columns (Rule 4); and whether the table's metadata text is
        # DuckDB's reader's, which spells each key in one canonical form.
        self.quoted = QUOTED_COLUMNS if quoted else frozenset()
        self.canonical = quoted
        self.func = meter.aggregation.func
        aggregation = meter.aggregation
        self.prop: str | None = (
            None if isinstance(aggregation, CountAggregation) else aggregation.property
        )
        # The metadata paths the meter reads, each extracted once (DuckDB's slots).
        self.paths: list[tuple[str, ...]] = list(_SYSTEM_PATHS)
        # Those the filter reads, and the aggregation's property (Rule 3).
        self.filter_paths: list[tuple[str, ...]] = []
        _filter_paths(meter.filter, self.filter_paths)
        self.value_path = None if self.prop is None else metadata_steps(self.prop)
        self.clauses: list[FilterClause] = []
        # (DuckDB) columns of a kept row computed after dedup from its fields.
        self.derived: list[str] = []
        # (DuckDB) the counted value whose JSON type the column ``vt`` holds.
        self.typed: str | None = None

    # -- string columns (Rule 4) -------------------------------------------------
    def is_(self, column: str, value: str) -> str:
        """``column`` holds the string ``value`` (a constant)."""
        return f"{column} = {self.string(column, value)}"

    def string(self, column: str, value: str) -> str:
        """The constant string ``value`` as the string column ``column`` holds
        it: the plan's own constants (``user``, ``meter.reset``, ...), printable
        ASCII without a quote or a backslash, whose JSON text every writer spells
        alike."""
        return string_constant(value, quoted=column in self.quoted)

    def empty(self, column: str) -> str:
        """``column`` holds another JSON type than a string, or ``''``."""
        if column in self.quoted:
            return f"{column} IN ('', {self.string(column, '')})"
        return f"{column} = ''"

    def text(self, column: str, value: str | None = None) -> str:
        """The text of the string column ``column`` (``''`` for another JSON
        type), or of ``value``, an expression of its values (``min(column)``)."""
        value = column if value is None else value
        if column in self.quoted:
            return (
                f"(CASE WHEN {value} = '' THEN '' ELSE"
                f" json_extract_string({value}, '$') END)"
            )
        return value

    def group_key(self, by: str, column: str | None = None) -> str:
        """The group of a customer by its ``by`` key (`usage_by_customer`), read
        from ``column`` (default: ``by`` itself): a ``customer_id`` in any letter
        case is one customer."""
        column = by if column is None else column
        return self.d.lower_text(column) if by == "customer_id" else column

    # -- reading values ---------------------------------------------------------
    def value(self, prop: str) -> str:
        steps = metadata_steps(prop)
        if steps not in self.paths:
            self.paths.append(steps)
        return self.d.metadata_value(steps, self.paths.index(steps))

    def meta(self, key: str) -> str:
        return self.value(key)

    # -- repeated keys (Rule 3) -------------------------------------------------
    def read_paths(self, source: object) -> list[tuple[str, ...]]:
        """The metadata paths the fold may read on an event from ``source``: the
        filter's and the property's on a user event, ``meter_id``, ``units`` and
        ``rollover`` on a system event (the SQL check, `repeated`, reads the
        property only past the filter, the credit's keys only on a credit)."""
        if source == "system":
            return list(_SYSTEM_PATHS)
        if self.value_path is None:
            return list(self.filter_paths)
        return [*self.filter_paths, self.value_path]

    def repeated(self) -> str:
        """(DuckDB) Whether the metadata ``md`` repeats a key on a path the meter
        reads on this row (Rule 3): the filter's on a user event and, when the
        filter passes, the property's; ``meter_id`` on a system event and, on a
        credit for this meter, ``units`` and ``rollover``.

        ``json_keys`` counts the keys only on a row picked by a textual hint,
        which is never false when a key is repeated (`hints`). One ``CASE`` on
        the source, so that each hint is tested once, on the rows of its source
        only; a row that a hint picks is counted for every key it reads.
        """
        filter_keys = _keys_on(self.filter_paths)
        value_keys = _keys_on([self.value_path] if self.value_path else [])
        value_keys = [k for k in value_keys if k not in filter_keys]
        system_keys = _keys_on(_SYSTEM_PATHS[:1])
        credit_keys = _keys_on(_SYSTEM_PATHS[1:])
        branches = []

        def branch(source: str, picks: list[str], then: str) -> None:
            if picks:
                branches.append(
                    f"WHEN {self.string('source', source)} THEN (CASE WHEN"
                    f" {' OR '.join(picks)} THEN {then} ELSE FALSE END)"
                )

        if filter_keys or value_keys:
            user = f"{_counts(filter_keys)} OR (f = 1 AND {_counts(value_keys)})"
            picks = self.hints(filter_keys + value_keys, _likes(filter_keys))
            if value_likes := _likes(value_keys):
                picks.append(f"(f = 1 AND ({' OR '.join(value_likes)}))")
            branch("user", picks, user)
        system = (
            f"{_counts(system_keys)} OR (kind = {CREDIT} AND {_counts(credit_keys)})"
        )
        picks = self.hints(system_keys + credit_keys, _likes(system_keys))
        picks.append(f"(kind = {CREDIT} AND ({' OR '.join(_likes(credit_keys))}))")
        branch("system", picks, system)
        return f"CASE source {' '.join(branches)} ELSE FALSE END"

    def hints(
        self, keys: Sequence[tuple[tuple[str, ...], str]], likes: list[str]
    ) -> list[str]:
        """``likes`` (`_likes`), and a backslash in the metadata text when one of
        ``keys`` may be spelled with one. Any key may be, in a table's own JSON
        (``"mod\\u0065l"``); in DuckDB's reader's (a ``quoted`` plan, Rule 4),
        which writes each key in one canonical form, only a key with a quote, a
        backslash or a control character, which `_likes` cannot find."""
        if not self.canonical or any(_escaped(key) for _, key in keys):
            return [f"contains({_TEXT}, {_BACKSLASH})", *likes]
        return list(likes)

    # -- the filter (tri-state, Rule 4 of `_sql_dialects`) ----------------------
    def filter(self, filter_: Filter) -> str:
        parts = [
            self.filter(c) if isinstance(c, Filter) else self.clause(c)
            for c in filter_.clauses
        ]
        if not parts:
            return "1"
        result = parts[-1]
        # and: a false or failing part decides; or: a true or failing part does.
        stop = "1" if filter_.conjunction == "and" else "0"
        for part in reversed(parts[:-1]):
            result = f"(CASE WHEN ({part}) = {stop} THEN {result} ELSE {part} END)"
        return result

    def clause(self, clause: FilterClause) -> str:
        index = len(self.clauses)
        self.clauses.append(clause)
        prop, op, expected = clause.property, clause.operator, clause.value
        d, p = self.d, self.d.p
        if prop in _FIELDS:
            test = self.field_test(prop, op, expected)
            return f"(CASE WHEN {test} THEN 1 ELSE 0 END)"
        j = self.value(prop)
        if op in ("like", "not_like"):
            needle = expected if isinstance(expected, str) else _text(expected)
            text = d.like_text(j)
            found = d.contains(text, p(needle))
            test = f"({text}) IS NOT NULL AND " + (
                f"{found}" if op == "like" else f"NOT ({found})"
            )
        elif isinstance(expected, bool):
            test = (
                f"{d.is_bool(j)} AND {d.bool_of(j)} {_OPS[op]} {p(expected)}"
                if op in ("eq", "ne")
                else "FALSE"
            )
        elif isinstance(expected, int):
            test = (
                f"{d.is_number(j)} AND {d.number_for_compare(j)} {_OPS[op]} "
                f"{p(expected)}"
            )
        elif isinstance(d, DuckDB) and op in ("eq", "ne"):
            # The JSON text against the expected string's JSON text, both written
            # by DuckDB's one JSON writer: equal exactly when the strings are, and
            # no ``json_extract_string`` per row. A JSON string's text starts with
            # a quote, so ``eq`` needs no type test.
            needle = f"CAST(to_json(CAST({p(expected)} AS VARCHAR)) AS JSON)"
            test = (
                f"{j} = {needle}"
                if op == "eq"
                else f"{d.is_string(j)} AND {j} <> {needle}"
            )
        else:
            test = f"{d.is_string(j)} AND " + d.string_order(
                d.string_of(j), _OPS[op], p(expected)
            )
        bad = d.non_finite(j)
        error = f"WHEN {bad} THEN {2 + index} " if bad else ""
        return f"(CASE {error}WHEN {test} THEN 1 ELSE 0 END)"

    def field_test(self, prop: str, op: str, expected: object) -> str:
        d, p = self.d, self.d.p
        if prop == "timestamp":
            epoch = d.epoch_seconds("ts")
            if op in ("like", "not_like"):
                found = d.contains(
                    f"CAST({epoch} AS {d.text_type})", p(_text(expected))
                )
                return found if op == "like" else f"NOT ({found})"
            if isinstance(expected, bool) or not isinstance(expected, int):
                return "FALSE"
            return f"{epoch} {_OPS[op]} {p(expected)}"
        column = prop  # name or source: always a string
        if op in ("like", "not_like"):
            found = d.contains(self.text(column), p(_text(expected)))
            return found if op == "like" else f"NOT ({found})"
        if not isinstance(expected, str):
            return "FALSE"
        if column in self.quoted and op in ("eq", "ne"):
            # The same string exactly when the same canonical JSON text (Rule 4).
            needle = f"CAST(to_json(CAST({p(expected)} AS VARCHAR)) AS VARCHAR)"
            return f"{column} {_OPS[op]} {needle}"
        return d.string_order(self.text(column), _OPS[op], p(expected))

    # -- what a counted event contributes --------------------------------------
    def contribution(self) -> tuple[str, list[str], str]:
        """``(counts, columns, bad)``: when a passing user event is counted, the
        columns of its contribution, and when its value is refused."""
        d = self.d
        if self.prop is None:
            return "TRUE", [], "FALSE"
        j = self.value(self.prop)
        if isinstance(self.meter.aggregation, UniqueAggregation):
            text = d.json_text(j)
            columns = [
                f"CASE WHEN {j} IS NOT NULL AND {d.json_type(j)} <> "
                f"{literal('NULL' if isinstance(d, DuckDB) else 'null')}"
                f" THEN {text} END AS utext"
            ]
            bad = d.non_finite(j) or "FALSE"
            return "TRUE", columns, bad
        sums = self.func in ("sum", "avg")
        if isinstance(d, DuckDB):
            # The value's JSON type, parsed once per passing user event into the
            # column ``vt`` (`query`), not once per test that reads it (four).
            self.typed = j
            number = d.is_number(j, "vt")
            is_int = d.is_int(j, "vt")
            as_int = f"TRY_CAST(CAST({j} AS VARCHAR) AS HUGEINT)"
            dbl = d.double_of(j, "vt")
            text = f"CAST({dbl} AS VARCHAR)"
            # A sum's DECIMAL and scale are `derived` after dedup from ``vd``: the
            # fewer the columns, the cheaper the dedup's ``arg_min``.
            columns = [
                f"CASE WHEN {is_int} THEN {as_int} END AS vi",
                f"CASE WHEN NOT {is_int} THEN {dbl} END AS vd",
            ]
            bad_int = f"({as_int} IS NULL OR {as_int} < 0 OR {as_int} >= 1e29)"
            bad_double = (
                f"(isinf({dbl}) OR isnan({dbl}) OR {dbl} < 0"
                f" OR {dbl} >= CAST(1e29 AS DOUBLE)"
                f" OR ({dbl} > 0 AND {dbl} < CAST(1e-28 AS DOUBLE))"
            )
            if sums:
                scale = d.double_scale(text)
                # Computed after dedup, from ``vd``, on the kept rows only.
                kept_text = "CAST(vd AS VARCHAR)"
                self.derived = [
                    f"TRY_CAST({kept_text} AS {DUCKDB_DECIMAL}) AS vdec",
                    f"CASE WHEN vd IS NOT NULL THEN {d.double_scale(kept_text)} END"
                    " AS vscale",
                ]
                # DuckDB's limit, not the fold's: refused with an InexactError.
                bad_double += (
                    f" OR {dbl} >= CAST(1e18 AS DOUBLE) OR {scale} > {DUCKDB_SCALE}"
                )
            # DuckDB types a JSON integer UBIGINT when not negative (never refused:
            # at most 2**64 - 1), BIGINT when negative (or -0), DOUBLE beyond 64
            # bits: the common case decided by the type, without HUGEINT tests.
            bad = (
                f"(CASE vt WHEN 'UBIGINT' THEN FALSE ELSE (CASE WHEN"
                f" {is_int} THEN {bad_int} ELSE {bad_double}) END) END)"
            )
            return number, columns, bad
        number = d.is_number(j)
        n = d.number_for_compare(j)
        columns = [f"{n} AS vn"]
        bad = (
            f"({n} < 0 OR {n} >= 1e29 OR ({n} > 0 AND {n} < 1e-28) OR (scale({n}) > 21"
            f" AND length(ltrim(replace(CAST(trim_scale({n}) AS text), '.', ''), '0'))"
            " > 50))"
        )
        return number, columns, bad

    # -- credits ----------------------------------------------------------------
    def credit(self) -> tuple[str, str, str]:
        """``(units, rollover, bad)`` of a ``meter.credited`` event for this meter."""
        d = self.d
        units, rollover = self.meta("units"), self.meta("rollover")
        if isinstance(d, DuckDB):
            amount = f"TRY_CAST(CAST({units} AS VARCHAR) AS HUGEINT)"
            flag = f"coalesce({d.bool_of(rollover)}, FALSE)"
            bad_rollover = (
                f"({rollover} IS NOT NULL AND json_type({rollover}) <> 'BOOLEAN')"
            )
            bad_units = f"(NOT coalesce({d.is_int(units)}, FALSE) OR {amount} IS NULL)"
        else:
            amount = f"(CASE WHEN {d.is_int(units)} THEN CAST({units} AS numeric) END)"
            flag = f"coalesce({d.bool_of(rollover)}, FALSE)"
            bad_rollover = (
                f"({rollover} IS NOT NULL AND jsonb_typeof({rollover}) <> 'boolean')"
            )
            bad_units = f"NOT coalesce({d.is_int(units)}, FALSE)"
        return amount, flag, f"({bad_units} OR {bad_rollover})"

    def mine(self) -> str:
        target = self.meta("meter_id")
        d = self.d
        return (
            f"coalesce({d.is_string(target)} AND lower({d.string_of(target)}) = "
            f"{d.p(self.meter.id)}, FALSE)"
        )

    # -- the query --------------------------------------------------------------
    def query(
        self,
        *,
        group: str,
        scope: str,
        groups: str,
        windowed: bool,
        credits: bool,
        bucket: str | None = None,
        bucket_join: str = "",
        key: str = "groups.g",
        by: str | None = None,
    ) -> str:
        """The SQL of a query: one row per group (or bucket), with ``bad_seq``;
        ``key`` is the group's key as returned (`text` of ``groups.g`` when the
        groups are customers and the plan ``quoted``); ``by``, the column whose
        `group_key` is ``group`` (`usage_by_customer`)."""
        d = self.d
        filter_ = self.filter(self.meter.filter)
        counts, columns, bad_value = self.contribution()
        units, rollover, bad_credit = self.credit()
        mine = self.mine()
        user, system = self.is_("source", "user"), self.is_("source", "system")
        name_ok = f"{user} AND f = 1"
        checks = [
            f"ts IS NULL OR name IS NULL OR {self.empty('name')}",
            "source IS NULL OR source NOT IN"
            f" ({self.string('source', 'user')}, {self.string('source', 'system')})",
            f"{self.empty('external_id')} OR {self.empty('external_customer_id')}",
            f"{user} AND f >= 2",
            # A CASE, not ``kind = 1 AND ...``: DuckDB evaluates both sides of
            # an AND on every row; a CASE reads the value only where it counts.
            f"CASE kind WHEN {COUNTED} THEN coalesce({bad_value}, FALSE)"
            f" WHEN {CREDIT} THEN coalesce({bad_credit}, FALSE) ELSE FALSE END",
        ]
        if isinstance(d, DuckDB):
            checks.append(self.repeated())
        else:
            checks.append(f"customer_id IS NOT NULL AND {d.bad_uuid('customer_id')}")
            checks.append("md IS NOT NULL AND jsonb_typeof(md) <> 'object'")
        bad = " OR ".join(f"coalesce({c}, FALSE)" for c in checks)
        kind = (
            f"CASE WHEN {name_ok} AND coalesce({counts}, FALSE) THEN {COUNTED}"
            f" WHEN {system} THEN CASE WHEN {mine} THEN CASE name"
            f" WHEN {self.string('name', CREDITED_EVENT)} THEN {CREDIT}"
            f" WHEN {self.string('name', RESET_EVENT)} THEN {RESET} ELSE {OTHER} END"
            f" ELSE {OTHER} END ELSE {OTHER} END"
        )
        # A value is read only where it counts: on a counted row, on a credit.
        credit_columns = (
            f", CASE WHEN kind = {CREDIT} THEN {units} END AS cu,"
            f" CASE WHEN kind = {CREDIT} THEN {rollover} END AS roll"
        )
        table = self.table
        if isinstance(d, DuckDB):
            paths = ", ".join(literal(DuckDB.path(s)) for s in self.paths)
            extract = f", json_extract(metadata, [{paths}]) AS js"
        else:
            extract = ""
        duck = isinstance(d, DuckDB)
        # DuckDB reads metadata values through ``js``; ``md`` only for its keys
        # (Rule 3), on the few rows a textual hint picks.
        md = ", metadata AS md"
        if duck and by == "customer_id":
            # Folding the letter case of every id costs 1% of DuckDB's work:
            # skipped when every distinct id in scope is in lower case already
            # (`fold`, from `idk`), where it changes no group.
            group = (
                f"CASE WHEN (SELECT folded FROM fold) THEN {group}"
                f" ELSE CAST(customer_id AS {d.text_type}) END"
            )
        src = (
            f'SELECT {group} AS g, seq, name, source, "timestamp" AS ts,'
            " customer_id, external_customer_id, external_id"
            f"{md}{extract} FROM {table} WHERE {scope}"
        )
        value_columns = "".join(
            f", CASE WHEN kind = {COUNTED} THEN {c.rsplit(' AS ', 1)[0]} END AS"
            f" {c.rsplit(' AS ', 1)[1]}"
            for c in columns
        )
        cls = (
            f"SELECT g, seq, ts, external_id AS xid, kind,"
            f" ({bad}) AS bad{value_columns}{credit_columns} FROM pre"
        )
        pre = f"SELECT src.*, {filter_} AS f FROM src"
        if self.typed is not None:
            pre = (
                f"SELECT p.*, CASE WHEN {name_ok} THEN json_type({self.typed}) END"
                f" AS vt FROM ({pre}) AS p"
            )
        pre = f"SELECT p.*, {kind} AS kind FROM ({pre}) AS p"
        materialized: dict[str, str]
        if duck:
            # One hash aggregate does the dedup and the checks (Rule 3): a group
            # per (customer, external_id), or per row without an id; the first
            # row's fields by ``arg_min_null`` on ``seq``, and the group's first bad
            # ``seq``. Only its groups that a later step reads, and the distinct
            # customer ids, are materialized: the rows before them (the JSON and
            # its expressions) are computed once, in one pass.
            # ``ts`` only where `latest` or a bucket reads it.
            fields = ["ts"] if self.func == "latest" or bucket is not None else []
            fields += ["kind", *(c.rsplit(" AS ", 1)[1] for c in columns)]
            fields += ["cu", "roll"]
            exprs = {f: f for f in fields}
            # A counted row's ``vi`` and a credit's ``cu`` (both HUGEINT, each
            # NULL on the other's rows) share one field ``v``.
            out = "r.*"
            if "vi" in exprs:
                del exprs["vi"], exprs["cu"]
                exprs["v"] = "coalesce(vi, cu)"
                out = ", ".join(
                    [f"r.{f}" for f in exprs if f != "v"] + ["r.v AS vi", "r.v AS cu"]
                )
            packed = ", ".join(f"{f}: {e}" for f, e in exprs.items())
            kept = f"SELECT g, seq, {out} FROM firsts WHERE r IS NOT NULL"
            if self.derived:
                kept = f"SELECT k.*, {', '.join(self.derived)} FROM ({kept}) AS k"
            dedup = (
                "SELECT g, min(seq) AS seq, min(CASE WHEN bad THEN seq END) AS bs,"
                # Only the rows a later step reads (counted, credits, resets)
                # carry their fields: ``r`` is NULL when the group's first row
                # is another (``arg_min_null`` keeps a NULL argument).
                f" arg_min_null(CASE WHEN kind <> {OTHER} THEN {{{packed}}} END,"
                " seq) AS r"
                " FROM cls GROUP BY g, xid, CASE WHEN xid IS NULL THEN seq END"
            )
            # The distinct ``customer_id`` values in scope, each with its first
            # ``seq``: the UUID check runs once per value (the first bad event
            # decides), not on every row, and the customers of `usage_by_customer`
            # are read from here, not from the events. Materialized, so that
            # DuckDB cannot push the check below the GROUP BY onto every row
            # (0.16 CPU-s of 1.4 per million events).
            ctes = [
                (
                    "idk",
                    "SELECT customer_id AS k, min(seq) AS first FROM"
                    f" {table} WHERE ({scope}) AND customer_id IS NOT NULL"
                    " GROUP BY customer_id",
                ),
            ]
            if by == "customer_id":
                folds = f"CAST(k AS {d.text_type}) <> {self.group_key(by, 'k')}"
                ctes.append(
                    (
                        "fold",
                        f"SELECT coalesce(bool_or({folds}), FALSE) AS folded FROM idk",
                    )
                )
            ctes += [
                ("src", src),
                ("pre", pre),
                ("cls", cls),
                # Materialized are only the groups a later step reads: those
                # whose first row is kept, or that hold a bad row (about a third
                # of a typical log's groups).
                (
                    "firsts",
                    f"SELECT * FROM ({dedup}) AS f WHERE r IS NOT NULL"
                    " OR bs IS NOT NULL",
                ),
                ("kept", kept),
                (
                    "ids",
                    "SELECT first AS bs FROM idk"
                    f" WHERE {d.bad_uuid(self.text('customer_id', 'k'))}",
                ),
            ]
            bad_cte = (
                "SELECT min(bs) AS bad_seq FROM"
                " (SELECT bs FROM firsts UNION ALL SELECT bs FROM ids)"
            )
            materialized = {
                "firsts": "MATERIALIZED",
                "idk": "MATERIALIZED",
                "fold": "MATERIALIZED",
                "kept": "NOT MATERIALIZED",
            }
            materialized.update(
                dict.fromkeys(("src", "pre", "cls", "ids"), "NOT MATERIALIZED")
            )
            if by == "customer_id":
                groups = f"SELECT DISTINCT {self.group_key(by, 'k')} AS g FROM idk"
        else:
            kept = (
                "SELECT cls.* FROM cls LEFT JOIN firsts ON cls.g = firsts.g AND"
                " cls.xid = firsts.xid WHERE cls.xid IS NULL OR cls.seq = firsts.first"
            )
            ctes = [
                ("src", src),
                ("pre", pre),
                ("cls", cls),
                (
                    "firsts",
                    "SELECT g, xid, min(seq) AS first FROM cls WHERE xid IS NOT NULL"
                    " GROUP BY g, xid",
                ),
                ("kept", kept),
            ]
            bad_cte = "SELECT min(seq) AS bad_seq FROM cls WHERE bad"
            materialized = {}
        source = "kept"
        if windowed:
            ctes += [
                (
                    "resets",
                    f"SELECT g, max(seq) AS last FROM kept WHERE kind = {RESET}"
                    " GROUP BY g",
                ),
                (
                    "win",
                    "SELECT kept.* FROM kept LEFT JOIN resets ON kept.g = resets.g"
                    " WHERE resets.last IS NULL OR kept.seq > resets.last",
                ),
            ]
            source = "win"
        counted = (
            f"SELECT {source}.*, {bucket or 'g'} AS grp FROM {source}{bucket_join}"
        )
        counted += f" WHERE kind = {COUNTED}"
        if bucket is not None:
            counted += f" AND {bucket} IS NOT NULL"
        if self.func == "latest":
            counted = (
                "SELECT c.*, row_number() OVER (PARTITION BY grp ORDER BY ts DESC,"
                f" seq DESC) AS rn FROM ({counted}) AS c"
            )
        ctes += [
            ("counted", counted),
            ("cons", f"SELECT grp, {self.tally_columns()} FROM counted GROUP BY grp"),
            ("bad", bad_cte),
        ]
        if credits:
            window = (
                "OVER (PARTITION BY g ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING"
                " AND CURRENT ROW)"
            )
            ctes += [
                (
                    "credits",
                    "SELECT g, cu, CASE WHEN roll THEN 0 ELSE cu END AS cn,"
                    " CASE WHEN roll THEN cu ELSE 0 END AS cr,"
                    f" sum(cu) {window} AS pa,"
                    f" sum(CASE WHEN roll THEN 0 ELSE cu END) {window} AS pn,"
                    f" sum(CASE WHEN roll THEN cu ELSE 0 END) {window} AS pr"
                    f" FROM {source} WHERE kind = {CREDIT}",
                ),
                (
                    "cred",
                    "SELECT g, sum(cu) AS ta, min(pa) AS ma, sum(cn) AS tn,"
                    " min(pn) AS mn, sum(cr) AS tr, min(pr) AS mr FROM credits"
                    " GROUP BY g",
                ),
            ]
            ctes.append(("groups", groups))
            select = (
                f"SELECT {key} AS key, bad.bad_seq, cons.*, cred.ta, cred.ma,"
                " cred.tn, cred.mn, cred.tr, cred.mr FROM groups"
                " LEFT JOIN cons ON cons.grp = groups.g"
                " LEFT JOIN cred ON cred.g = groups.g CROSS JOIN bad"
            )
        else:
            select = (
                "SELECT cons.grp AS key, bad.bad_seq, cons.* FROM bad"
                " LEFT JOIN cons ON TRUE"
            )
        body = ",\n".join(
            f"{name} AS {materialized[name] + ' ' if name in materialized else ''}"
            f"({sql})"
            for name, sql in ctes
        )
        return f"WITH {body}\n{select}"

    def tally_columns(self) -> str:
        func = self.func
        columns = ["count(*) AS n"]
        if isinstance(self.d, DuckDB):
            if func in ("sum", "avg"):
                columns += ["sum(vi) AS si", "sum(vdec) AS sd", "max(vscale) AS sc"]
            elif func in ("max", "min"):
                columns += [f"{func}(vi) AS xi", f"{func}(vd) AS xd"]
            elif func == "latest":
                columns += [
                    "max(CASE WHEN rn = 1 THEN ts END) AS lt",
                    "max(CASE WHEN rn = 1 THEN vi END) AS li",
                    "max(CASE WHEN rn = 1 THEN vd END) AS ld",
                ]
            elif func == "unique":
                columns += [
                    "list(DISTINCT utext) FILTER (WHERE utext IS NOT NULL) AS u"
                ]
        elif func in ("sum", "avg"):
            columns += ["sum(vn) AS s"]
        elif func in ("max", "min"):
            columns += [f"{func}(vn) AS x"]
        elif func == "latest":
            columns += [
                "max(CASE WHEN rn = 1 THEN ts END) AS lt",
                "max(CASE WHEN rn = 1 THEN vn END) AS lv",
            ]
        elif func == "unique":
            columns += [
                "array_agg(DISTINCT utext) FILTER (WHERE utext IS NOT NULL) AS u"
            ]
        return ", ".join(columns)


def _filter_paths(filter_: Filter, found: list[tuple[str, ...]]) -> None:
    """Append the metadata paths ``filter_``'s clauses read to ``found``, once."""
    for clause in filter_.clauses:
        if isinstance(clause, Filter):
            _filter_paths(clause, found)
        elif clause.property not in _FIELDS:
            steps = metadata_steps(clause.property)
            if steps not in found:
                found.append(steps)


def string_constant(value: str, *, quoted: bool) -> str:
    """The SQL literal of a plain constant string (printable ASCII without a
    quote or a backslash) as a string column holds it: its JSON text when the
    column is ``quoted`` (Rule 4), which every JSON writer spells alike."""
    if not (value.isascii() and value.isprintable()) or set(value) & {'"', "\\"}:
        raise AssertionError(f"not a plain constant: {value!r}")  # pragma: no cover
    return literal(json.dumps(value) if quoted else value)


def _keys_on(
    paths: Sequence[tuple[str, ...]],
) -> list[tuple[tuple[str, ...], str]]:
    """Each step of ``paths`` as its parent path and its key, once: a repeat of
    any of them changes what the path reads."""
    found: dict[tuple[tuple[str, ...], str], None] = {}
    for steps in paths:
        for n, key in enumerate(steps):
            found[steps[:n], key] = None
    return list(found)


def _likes(keys: Sequence[tuple[tuple[str, ...], str]]) -> list[str]:
    """(DuckDB) For each key of ``keys`` that can be spelled without a backslash,
    a ``LIKE`` finding its `_needle` twice in the metadata text: false when the
    key is not written twice that way. (A key with a quote, a backslash or a
    control character is always spelled with a backslash.)"""
    found = []
    for key in dict.fromkeys(key for _, key in keys):
        if not _escaped(key):
            needle = _needle(key)
            found.append(f"{_TEXT} LIKE {literal(f'%{needle}%{needle}%')}")
    return found


def _escaped(key: str) -> bool:
    """Whether every JSON spelling of ``key`` has a backslash: a quote, a
    backslash or a control character in it."""
    return any(c in '"\\' or c < " " for c in key)


def _counts(keys: Sequence[tuple[tuple[str, ...], str]]) -> str:
    """(DuckDB) Whether ``json_keys`` of the metadata ``md`` finds one of
    ``keys`` (each a parent path and a key in it) twice in its parent."""
    tests = []
    for parent, key in keys:
        names = (
            f"json_keys(md, {literal(DuckDB.path(parent))})"
            if parent
            else "json_keys(md)"
        )
        k = literal(key)
        # Found again after its first place (``list_position`` is NULL, or 0 in
        # some DuckDB versions, when a key is not found).
        tests.append(
            f"coalesce(list_position(({names})[list_position({names}, {k}) + 1:],"
            f" {k}), 0) > 0"
        )
    return f"({' OR '.join(tests)})" if tests else "FALSE"


def _needle(key: str) -> str:
    """What every spelling of ``key`` without a backslash holds, for a ``LIKE``:
    its longest run without ``%`` and ``_`` (wildcards, and slow in a pattern),
    the last run followed by the closing quote (``model"``). Not the opening
    quote: a search is faster from a rarer first character."""
    runs = re.split("[%_]", key)
    runs[-1] += '"'
    return max(runs, key=len)


def _text(value: object) -> str:
    """A clause value's text (`matching.json_text` of a str, int or bool)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- decoding ----------------------------------------------------------------------


def _double(value: float) -> Decimal:
    return Decimal(float.__repr__(value))


def tally_of(
    func: str, dialect: str, row: Mapping[str, Any] | None, engine_floats: bool
) -> Tally:
    """The `Tally` of one group's row of ``cons`` (an empty tally when None)."""
    tally = Tally(func)
    if row is None or not row.get("n"):
        return tally
    tally.count = int(row["n"])
    duck = dialect == "duckdb"
    if func in ("sum", "avg"):
        if duck:
            tally.ints = int(row["si"] or 0)
            if row["sd"] is not None:
                exponent = -max(0, int(row["sc"]))
                tally.decimals = add_units(
                    ZERO, row["sd"].quantize(Decimal(1).scaleb(exponent), context=UNITS)
                )
        elif row["s"] is not None:
            tally.decimals = add_units(ZERO, row["s"])
    elif func in ("max", "min"):
        found: list[Any] = []
        if duck:
            if row["xi"] is not None:
                found.append(int(row["xi"]))
            if row["xd"] is not None:
                found.append(_double(row["xd"]))
        elif row["x"] is not None:
            found.append(row["x"])
        if found:
            extreme = max(found) if func == "max" else min(found)
            if func == "max":
                tally.high = extreme
            else:
                tally.low = extreme
    elif func == "latest":
        if duck:
            value: Any = int(row["li"]) if row["li"] is not None else _double(row["ld"])
        else:
            value = row["lv"]
        tally.latest = (row["lt"], value)
    elif func == "unique":
        texts: Sequence[str] = row["u"] or ()
        parse = (
            json.loads
            if engine_floats
            else lambda text: json.loads(text, parse_float=Decimal)
        )
        tally.distinct = {unique_key(parse(text)) for text in texts}
    return tally


def credits_of(row: Mapping[str, Any]) -> tuple[int, int, int]:
    """The clamped running sums of all, non-rollover and rollover credits."""
    sums = []
    for total, lowest in (("ta", "ma"), ("tn", "mn"), ("tr", "mr")):
        if row.get(total) is None:
            sums.append(0)
        else:
            sums.append(int(row[total]) - min(0, int(row[lowest])))
    return sums[0], sums[1], sums[2]
