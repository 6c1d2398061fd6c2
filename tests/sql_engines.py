"""The two SQL engines of the tests: DuckDB in memory, and a real Postgres server.

The Postgres server is started once per test process by ``pgserver`` (PostgreSQL
16 from a pip-installed package, in a temporary directory) and stopped when the
process exits; nothing is installed by hand. `Engines` keeps one connection per
engine and one events table, reloaded for each example.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb

from meterkit import create_table_sql

__all__ = ["Engines", "engines", "postgres_uri"]

_SERVER: list[Any] = []


def postgres_uri() -> str:
    """The URI of this process's Postgres server, started on first use."""
    if not _SERVER:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (in containers).
            warnings.simplefilter("ignore")
            import pgserver

            _SERVER.append(pgserver.get_server(tempfile.mkdtemp(), cleanup_mode="stop"))
    return str(_SERVER[0].get_uri())


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def raw_rows(log: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows of the table contract for wire events, ids kept as written."""
    return [
        (
            seq,
            event["name"],
            _timestamp(event["timestamp"]),
            event.get("customer_id"),
            event.get("external_customer_id"),
            event.get("external_id"),
            event.get("source", "user"),
            None if event.get("metadata") is None else json.dumps(event["metadata"]),
        )
        for seq, event in enumerate(log)
    ]


class Engines:
    """One connection per engine, each with an ``events`` table."""

    def __init__(self) -> None:
        import psycopg

        self.duck = duckdb.connect()
        self.duck.execute(create_table_sql("duckdb"))
        self.pg = psycopg.connect(postgres_uri(), autocommit=True)
        self.pg.execute("DROP TABLE IF EXISTS events")
        self.pg.execute(create_table_sql("postgres"))

    def load(self, rows: list[tuple[Any, ...]]) -> None:
        """Replace the events of both tables by ``rows``."""
        self.duck.execute("DELETE FROM events")
        self.pg.execute("DELETE FROM events")
        if not rows:
            return
        self.duck.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        with self.pg.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows
            )

    def connections(self) -> list[tuple[str, Any]]:
        return [("duckdb", self.duck), ("postgres", self.pg)]

    def close(self) -> None:
        self.duck.close()
        self.pg.close()


_ENGINES: list[Engines] = []


def engines() -> Engines:
    """The process's engines (made on first use)."""
    if not _ENGINES:
        _ENGINES.append(Engines())
    return _ENGINES[0]
