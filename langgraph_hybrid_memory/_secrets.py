"""Keep connection passwords out of the errors we raise.

A psycopg connection error carries the libpq connection object (``exc.pgconn``) whose ``repr``
and ``info`` show the password. Chaining that error (``raise ... from exc``, or raising inside
its ``except`` block, which sets ``__context__``) makes the password reachable from every
error we raise, and from any log line that prints a traceback. So where we open a connection
we replace the psycopg error by a `PostgresUnavailableError` built from its redacted message,
with its ``sqlstate`` and class name kept as plain attributes, and raise it outside the
``except`` block.
"""

from __future__ import annotations

import os
from urllib.parse import quote, quote_plus

import psycopg
import psycopg.conninfo

from langgraph_hybrid_memory.errors import PostgresUnavailableError

__all__ = ["redact_secrets", "scrub_connect_error"]

_REDACTED = "***"


def _passwords(conninfo: str, explicit: str | None) -> list[str]:
    """Every form of the password(s) that `conninfo`, `explicit` and libpq's environment give."""
    found: list[str] = []
    try:
        parsed = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        parsed = {}
    for value in (parsed.get("password"), explicit, os.environ.get("PGPASSWORD")):
        if value:
            text = str(value)
            # The decoded value, and the %-encoded forms a URL may hold it in.
            found.extend({text, quote(text, safe=""), quote_plus(text, safe="")})
    # Longest first, so a password containing another is replaced whole.
    return sorted(set(found), key=len, reverse=True)


def redact_secrets(text: str, conninfo: str, password: str | None = None) -> str:
    """`text` with every form of the connection's password replaced by ``***``.

    Examples:
        >>> redact_secrets("bad: postgresql://a:p%40ss@h/db", "postgresql://a:p%40ss@h/db")
        'bad: postgresql://a:***@h/db'
    """
    for secret in _passwords(conninfo, password):
        text = text.replace(secret, _REDACTED)
    return text


def scrub_connect_error(
    exc: psycopg.Error, conninfo: str, password: str | None = None
) -> PostgresUnavailableError:
    """A `PostgresUnavailableError` telling what `exc` told, without anything that holds the
    password (no ``pgconn``, no chained psycopg error). Raise it outside the ``except`` block.
    """
    message = str(exc).strip() or type(exc).__name__
    return PostgresUnavailableError(
        redact_secrets(message, conninfo, password),
        sqlstate=exc.sqlstate,
        error_class=type(exc).__name__,
    )
