"""Reading every row of every table, to prove what a forget left behind."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql


def pg_rows_containing(url: str, needle: str) -> dict[str, int]:
    """Rows (as text) containing `needle`, per table, in every schema of ours."""
    found: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', 'memory') AND table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, name in tables:
            t = sql.Identifier(schema, name)
            rows = conn.execute(sql.SQL("SELECT t::text FROM {} AS t").format(t)).fetchall()
            # bytea (serialized blobs and writes) prints as hex: look for the needle's hex too.
            hexed = needle.encode().hex()
            n = sum(1 for (text,) in rows if needle in text or hexed in text)
            if n:
                found[f"{schema}.{name}"] = n
    return found


def local_rows_containing(path: Path, needle: str) -> dict[str, int]:
    """Rows containing `needle` (as text or bytes), per table of the local SQLite file."""
    if not path.exists():
        return {}
    found: dict[str, int] = {}
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            n = sum(1 for row in conn.execute(f"SELECT * FROM {quoted}") if _has(row, needle))
            if n:
                found[name] = n
    finally:
        conn.close()
    return found


def _has(row: Any, needle: str) -> bool:
    for v in row:
        if isinstance(v, str) and needle in v:
            return True
        if isinstance(v, bytes) and needle.encode() in v:
            return True
    return False
