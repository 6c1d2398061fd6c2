"""DuckDB's JSON Lines reader reads each ``timestamp`` as the fold does.

`meterkit.sql.jsonl_view_sql` (and `jsonl_table_sql`, the same columns) reads the
API's own layout by a fast branch (byte tests, ``strptime``) and any other text by the
RFC 3339 regex. Whatever the text, the instant it reads is the one
`_fields.parse_rfc3339` (the fold) reads, and NULL (the event refused) exactly
where the fold refuses it: random timestamps, valid and mutated one to three
characters at a time (white space, signs, points, other digits, letters).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from meterkit._fields import parse_rfc3339
from meterkit.errors import MeterkitError
from meterkit.sql import jsonl_view_sql

duckdb = pytest.importorskip("duckdb")

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# What a timestamp's text is most likely to go wrong with.
# Where each field of ``2025-01-01T00:00:00Z`` starts.
FIELDS = [0, 5, 8, 11, 14, 17, 19]
NOISE = [*"0123456789 \t\n-+.:TtZz_/e", "\u0660", "\u00a0", "\u2003", "é"]


@st.composite
def timestamp_texts(draw: st.DrawFn) -> str:
    moment = draw(
        st.datetimes(
            min_value=datetime(1, 1, 1),
            max_value=datetime(9999, 12, 31, 23, 59, 59),
        )
    )
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    text = "0" * (19 - len(text)) + text  # strftime may not pad the year
    text += draw(
        st.sampled_from(["Z", "Z", "Z", "z", "+00:00", "-05:30", "+14:00", ".5Z"])
    )
    if draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            # Often at the start of a field, where a reader may skip white space.
            at = draw(st.sampled_from(FIELDS) | st.integers(0, len(text)))
            edit = draw(st.sampled_from(["put", "insert", "delete"]))
            char = draw(st.sampled_from(NOISE))
            if edit == "put" and at < len(text):
                text = text[:at] + char + text[at + 1 :]
            elif edit == "insert":
                text = text[:at] + char + text[at:]
            else:
                text = text[:at] + text[at + 1 :]
    return text


def folds_reading(text: str) -> int | None:
    """Microseconds since the epoch, as the fold reads ``text``; None if refused."""
    try:
        moment = parse_rfc3339(text, "timestamp")
    except MeterkitError:
        return None
    return (moment - EPOCH) // (moment - moment + EPOCH.resolution)


# Texts that DuckDB's cast or ``strptime`` would read and the fold refuses.
HAZARDS = [
    " 025-10-10T10:10:10Z",
    "\t025-10-10T10:10:10Z",
    "-025-10-10T10:10:10Z",
    "+025-10-10T10:10:10Z",
    "2025-06-15T 2:34:56Z",
    "2025-06-15T12:34:5.Z",
    "2025-06-15 12:34:56Z",
    "2025-06-15T12:34:56 ",
    "2025-01-01T24:00:00Z",
    "2025-02-30T00:00:00Z",
    "2025-06-15T12:34:60Z",
    "0000-01-01T00:00:00Z",
    "2025-1-015T00:00:00Z",
    "\u0662025-10-10T10:10:10Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    # 20 bytes ending in Z: the fast branch's shape, or just not it.
    "2025-06-15t12:34:56Z",
    "2025-06-15T12:34:6 Z",
    "2025-06-15T12:34:6Z ",
    "2025-6-15T12:34:56 Z",
    "T025-06-15 12:34:56Z",
    "2025-06-15 12:3T:56Z",
    "2025-06-1\u00e912:34:56Z",
    "2025-06-15T12:34:\u00e9Z",
    "20250-6-15T12:34:56Z",
]


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(timestamp_texts(), min_size=1, max_size=40))
@example(texts=HAZARDS)
def test_duckdb_reads_every_timestamp_as_the_fold(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str]
) -> None:
    path: Path = tmp_path_factory.mktemp("ts") / "events.jsonl"
    path.write_text(
        "".join(json.dumps({"name": "x", "timestamp": t}) + "\n" for t in texts)
    )
    con = duckdb.connect()
    # The reading must not depend on the session's time zone.
    con.execute("SET TimeZone = 'America/New_York'")
    con.execute(jsonl_view_sql(str(path)))
    read = [
        row[0]
        for row in con.execute(
            'SELECT epoch_us("timestamp") FROM events ORDER BY seq'
        ).fetchall()
    ]
    assert read == [folds_reading(t) for t in texts], texts
