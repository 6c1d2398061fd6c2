"""How each engine spells the rules: SQL expressions for DuckDB and Postgres.

Rule 1 (values): a property is read as a JSON value ``J`` (DuckDB ``JSON``,
Postgres ``jsonb``; SQL ``NULL`` when missing). Every test of it is guarded by
its JSON type, so a missing property, a ``null`` or a value of another type never
passes a clause (``ne`` and ``not_like`` included).
Rule 2 (numbers): Postgres reads a JSON number as ``numeric``, its own digits,
exactly. DuckDB reads a number with a fraction or an exponent as a ``DOUBLE``, the
value Python's `json.loads` gives, whose shortest text (``CAST(d AS VARCHAR)``,
laid out as Python's ``repr``) is the decimal meterkit takes; its integers are
``HUGEINT``. Comparisons with a clause's 32-bit int are exact on a ``DOUBLE``.
Rule 3 (text): strings compare by code point (Postgres ``COLLATE "C"``, DuckDB's
binary order). ``like`` is ``strpos(text, needle) > 0`` on the text of
`matching.json_text`, so ``%`` and ``_`` are ordinary characters.
Rule 4 (errors): a clause is a tri-state integer: 0 false, 1 true, ``2 + k`` when
clause ``k`` reads a non-finite number (a DuckDB ``DOUBLE`` overflowing to
infinity), which the fold refuses. ``and``/``or`` short-circuit as the fold does.
"""

from __future__ import annotations

from typing import Any

__all__: list[str] = []

#: The decimal DuckDB sums fractional values in: 38 digits, 20 after the point.
DUCKDB_SCALE = 20
DUCKDB_DECIMAL = f"DECIMAL(38,{DUCKDB_SCALE})"

_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_INT_TEXT = "-?[0-9]+"


def literal(text: str) -> str:
    """A SQL string literal (single quotes doubled); only for meterkit's own text."""
    return "'" + text.replace("'", "''") + "'"


class Params:
    """Named parameters of one query, in the placeholder style of a dialect."""

    def __init__(self, style: str) -> None:
        self.style = style
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}" if self.style == "duckdb" else f"%({name})s"


class Dialect:
    """What the two engines share; subclasses spell the differences."""

    name = ""
    text_type = "VARCHAR"

    def __init__(self, params: Params) -> None:
        self.p = params

    # -- fields -----------------------------------------------------------------
    def epoch_seconds(self, ts: str) -> str:
        raise NotImplementedError

    def lower_text(self, column: str) -> str:
        return f"lower(CAST({column} AS {self.text_type}))"

    def bad_uuid(self, column: str) -> str:
        raise NotImplementedError

    def string_order(self, left: str, op: str, right: str) -> str:
        return f"{left} {op} {right}"

    def contains(self, haystack: str, needle: str) -> str:
        return f"strpos({haystack}, {needle}) > 0"

    # -- JSON values ------------------------------------------------------------
    def metadata_value(self, steps: tuple[str, ...], slot: int) -> str:
        raise NotImplementedError

    def json_type(self, j: str) -> str:
        raise NotImplementedError

    def is_string(self, j: str) -> str:
        raise NotImplementedError

    def is_bool(self, j: str) -> str:
        raise NotImplementedError

    def is_number(self, j: str) -> str:
        raise NotImplementedError

    def string_of(self, j: str) -> str:
        raise NotImplementedError

    def bool_of(self, j: str) -> str:
        # Every cast is guarded by the JSON type: an engine may evaluate both
        # sides of an AND, and a cast of a string to a number is an error.
        return f"(CASE WHEN {self.is_bool(j)} THEN CAST({j} AS BOOLEAN) END)"

    def number_for_compare(self, j: str) -> str:
        raise NotImplementedError

    def non_finite(self, j: str) -> str | None:
        """A test that ``J`` is a number the fold reads as non-finite, or None."""
        return None

    def like_text(self, j: str) -> str:
        raise NotImplementedError

    def json_text(self, j: str) -> str:
        return f"CAST({j} AS {self.text_type})"

    def is_int(self, j: str) -> str:
        raise NotImplementedError


class DuckDB(Dialect):
    name = "duckdb"
    text_type = "VARCHAR"

    def epoch_seconds(self, ts: str) -> str:
        us = f"epoch_us({ts})"
        # Floor division: DuckDB's // truncates towards zero.
        return f"(({us} - ((({us} % 1000000) + 1000000) % 1000000)) // 1000000)"

    def bad_uuid(self, column: str) -> str:
        return f"NOT regexp_full_match({column}, {literal(_UUID)})"

    def metadata_value(self, steps: tuple[str, ...], slot: int) -> str:
        # Every metadata path is extracted once per row into the list ``js``
        # (one parse of the metadata text): see `_sql_plan`.
        return f"js[{slot + 1}]"

    @staticmethod
    def path(steps: tuple[str, ...]) -> str:
        """A JSON path of quoted keys: ``$."a"."b"`` never indexes an array."""
        quoted = (
            '"' + step.replace("\\", "\\\\").replace('"', '\\"') + '"' for step in steps
        )
        return "$." + ".".join(quoted)

    def json_type(self, j: str) -> str:
        return f"json_type({j})"

    def is_string(self, j: str) -> str:
        # Only a string's JSON text starts with a quote: tested on the text,
        # without parsing the value (``J`` is DuckDB's own, canonical JSON text).
        text = f"CAST({j} AS VARCHAR)"
        return f"({text} >= '\"' AND {text} < '#')"

    def is_bool(self, j: str) -> str:
        return f"json_type({j}) = 'BOOLEAN'"

    def is_number(self, j: str, t: str | None = None) -> str:
        # ``t``: a column holding ``json_type(j)`` already, where one does.
        return f"{t or f'json_type({j})'} IN ('BIGINT', 'UBIGINT', 'DOUBLE')"

    def string_of(self, j: str) -> str:
        return f"json_extract_string({j}, '$')"

    def number_for_compare(self, j: str) -> str:
        return f"(CASE WHEN {self.is_number(j)} THEN CAST({j} AS DOUBLE) END)"

    def double_of(self, j: str, t: str | None = None) -> str:
        """A DOUBLE-typed JSON value as a DOUBLE (NULL for any other)."""
        t = t or f"json_type({j})"
        return f"(CASE WHEN {t} = 'DOUBLE' THEN CAST({j} AS DOUBLE) END)"

    def non_finite(self, j: str) -> str | None:
        # A string is not parsed: most compared values are strings.
        return (
            f"coalesce(CASE WHEN {self.is_string(j)} THEN FALSE"
            f" ELSE isinf({self.double_of(j)}) END, FALSE)"
        )

    def is_int(self, j: str, t: str | None = None) -> str:
        # Integers beyond 64 bits are DOUBLE to DuckDB but keep their digits. A
        # CASE, not OR: DuckDB evaluates both sides of an OR on every row, and the
        # regex is for DOUBLE values only (NULL when ``J`` is NULL, as before).
        t = t or f"json_type({j})"
        return (
            f"(CASE WHEN {t} IN ('BIGINT', 'UBIGINT') THEN TRUE"
            f" WHEN {t} = 'DOUBLE' THEN"
            f" regexp_full_match(CAST({j} AS VARCHAR), {literal(_INT_TEXT)})"
            f" ELSE {t} = 'DOUBLE' END)"
        )

    def like_text(self, j: str) -> str:
        return (
            f"CASE WHEN {self.is_string(j)} THEN json_extract_string({j}, '$')"
            f" WHEN {self.is_bool(j)} THEN CAST({j} AS VARCHAR)"
            f" WHEN {self.is_int(j)} THEN CAST({j} AS VARCHAR)"
            f" WHEN json_type({j}) = 'DOUBLE' THEN CAST({self.double_of(j)} AS VARCHAR)"
            " END"
        )

    @staticmethod
    def double_scale(text: str) -> str:
        """Digits after the point of a double's shortest text (negative for
        ``1e+20``), as `Decimal` counts its exponent."""
        mantissa = f"split_part({text}, 'e', 1)"
        fraction = (
            f"CASE WHEN contains({mantissa}, '.') "
            f"THEN length(split_part({mantissa}, '.', 2)) ELSE 0 END"
        )
        exponent = (
            f"CASE WHEN contains({text}, 'e') "
            f"THEN CAST(split_part({text}, 'e', 2) AS INTEGER) ELSE 0 END"
        )
        return f"({fraction} - {exponent})"


class Postgres(Dialect):
    name = "postgres"
    text_type = "text"

    def epoch_seconds(self, ts: str) -> str:
        return f"CAST(floor(extract(epoch FROM {ts})) AS bigint)"

    def bad_uuid(self, column: str) -> str:
        return f"NOT (CAST({column} AS text) ~ {literal('^' + _UUID + '$')})"

    def string_order(self, left: str, op: str, right: str) -> str:
        return f'{left} COLLATE "C" {op} {right} COLLATE "C"'

    def metadata_value(self, steps: tuple[str, ...], slot: int) -> str:
        # ``->`` with a text key is NULL on an array: arrays are never indexed.
        keys = "".join(f" -> CAST({self.p(step)} AS text)" for step in steps)
        return f"(md{keys})"

    def json_type(self, j: str) -> str:
        return f"jsonb_typeof({j})"

    def is_string(self, j: str) -> str:
        return f"jsonb_typeof({j}) = 'string'"

    def is_bool(self, j: str) -> str:
        return f"jsonb_typeof({j}) = 'boolean'"

    def is_number(self, j: str) -> str:
        return f"jsonb_typeof({j}) = 'number'"

    def string_of(self, j: str) -> str:
        return f"({j} #>> '{{}}')"

    def number_for_compare(self, j: str) -> str:
        return f"(CASE WHEN {self.is_number(j)} THEN CAST({j} AS numeric) END)"

    def is_int(self, j: str) -> str:
        return (
            f"(jsonb_typeof({j}) = 'number' AND CAST({j} AS text) ~ "
            f"{literal('^' + _INT_TEXT + '$')})"
        )

    def like_text(self, j: str) -> str:
        return (
            f"CASE jsonb_typeof({j}) WHEN 'string' THEN ({j} #>> '{{}}')"
            f" WHEN 'boolean' THEN CAST({j} AS text)"
            f" WHEN 'number' THEN {self.float_text(j)} END"
        )

    def float_text(self, j: str) -> str:
        """A JSON number's text as Python writes it (`matching.json_text`).

        An int keeps its digits; any other number is written as ``repr`` writes
        the float of its value, with all its digits (`matching._decimal_json`):
        trailing zeros dropped, ``.0`` on a whole number, the exponent form
        below 1e-04 and from 1e+16 on.
        """
        raw = f"CAST({j} AS text)"
        # x.t: the value's text without sign and trailing zeros; x.neg its sign.
        inner = (
            "SELECT CASE WHEN y.d = '' THEN y.neg || '0.0'"
            " WHEN y.pt > 16 OR y.pt <= -4 THEN y.neg || substr(y.d, 1, 1) ||"
            " CASE WHEN length(y.d) > 1 THEN '.' || substr(y.d, 2) ELSE '' END ||"
            " 'e' || CASE WHEN y.pt - 1 < 0 THEN '-' ELSE '+' END ||"
            " lpad(CAST(abs(y.pt - 1) AS text), 2, '0')"
            " WHEN y.pt <= 0 THEN y.neg || '0.' || repeat('0', -y.pt) || y.d"
            " WHEN y.pt >= length(y.d) THEN y.neg || y.d ||"
            " repeat('0', y.pt - length(y.d)) || '.0'"
            " ELSE y.neg || substr(y.d, 1, y.pt) || '.' || substr(y.d, y.pt + 1) END"
            " FROM (SELECT x.neg,"
            " CASE WHEN split_part(x.t, '.', 1) <> '0'"
            " THEN rtrim(replace(x.t, '.', ''), '0')"
            " ELSE ltrim(split_part(x.t, '.', 2), '0') END AS d,"
            " CASE WHEN split_part(x.t, '.', 1) <> '0'"
            " THEN length(split_part(x.t, '.', 1))"
            " ELSE length(ltrim(split_part(x.t, '.', 2), '0'))"
            " - length(split_part(x.t, '.', 2)) END AS pt"
            " FROM (SELECT CASE WHEN n < 0 THEN '-' ELSE '' END AS neg,"
            " CAST(trim_scale(abs(n)) AS text) AS t FROM (SELECT"
            f" {self.number_for_compare(j)} AS n) AS v) AS x) AS y"
        )
        return (
            f"(CASE WHEN {raw} ~ {literal('^' + _INT_TEXT + '$')} THEN {raw}"
            f" ELSE ({inner}) END)"
        )


def dialect_for(name: str, params: Params) -> Dialect:
    return DuckDB(params) if name == "duckdb" else Postgres(params)
