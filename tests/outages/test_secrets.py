"""No object reachable from the errors we raise for a bad connection holds the password.

psycopg's connection error keeps the libpq connection (``exc.pgconn``), whose repr shows
``password=b'...'``; chaining it (``__cause__``) or raising inside its ``except`` block
(``__context__``) made the password reachable from our errors. Each case below points a part of
the package at a port that refuses connections, with a distinctive password given one of seven
ways, and walks the raised error: chain, args, attributes, and one level into each attribute.
Logs captured meanwhile must not hold it either.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from langgraph_hybrid_memory import (
    AsyncPgVectorStore,
    HybridSaver,
    MemoryConfig,
    PgVectorStore,
    PostgresUnavailableError,
    aopen_memory,
    open_memory,
)
from langgraph_hybrid_memory._pg import CONNECTION_KWARGS

PASSWORD = "Zq9-Pw@Secret/Xyz"  # '@' and '/' so a URL must %-encode it
ENCODED = quote(PASSWORD, safe="")
FORMS = (PASSWORD, ENCODED, PASSWORD.encode().hex())


def _refused_port() -> int:
    """A local port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _variants(port: int) -> dict[str, tuple[dict[str, str], str]]:
    """name -> (environment, the connection string a direct store gets)."""
    host = f"127.0.0.1:{port}"
    url = f"postgresql://app:{ENCODED}@{host}/agents"
    kv = f"host=127.0.0.1 port={port} user=app password='{PASSWORD}' dbname=agents"
    query = f"postgresql://app@{host}/agents?password={ENCODED}"
    bare = f"postgresql://app@{host}/agents"
    pg_env = {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": "app",
        "POSTGRES_DB": "agents",
        "POSTGRES_PASSWORD": PASSWORD,
    }
    return {
        "url": ({"DATABASE_URL": url}, url),
        "url-postgres-scheme": ({"DATABASE_URL": url.replace("postgresql", "postgres", 1)}, url),
        "keyword-value": ({"DATABASE_URL": kv}, kv),
        "url-query-password": ({"DATABASE_URL": query}, query),
        "postgres-env": (pg_env, url),
        "postgres-env-ssl": ({**pg_env, "POSTGRES_SSL": "prefer"}, url + "?sslmode=prefer"),
        "pgpassword-env": ({"DATABASE_URL": bare, "PGPASSWORD": PASSWORD}, bare),
    }


def _leaks(text: str) -> bool:
    return any(form in text for form in FORMS)


def _reachable_from(err: BaseException) -> list[tuple[str, str]]:
    """(path, repr) of every object reachable from `err` the way a caller or a log would look:
    the chain, args, attributes (incl. psycopg's ``pgconn``) and one level into each."""
    found: list[tuple[str, str]] = []
    seen: set[int] = set()

    def attrs(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict(getattr(obj, "__dict__", {}) or {})
        for name in ("pgconn", "pgresult", "args", "__cause__", "__context__"):
            try:
                out[name] = getattr(obj, name)
            except Exception:  # a property that cannot be read holds nothing
                continue
        return out

    def visit(obj: Any, path: str, depth: int) -> None:
        if obj is None or id(obj) in seen:
            return
        seen.add(id(obj))
        found.append((path, repr(obj) + " " + str(obj)))
        info = getattr(obj, "info", None)  # a PGconn's connection parameters
        if info is not None and not isinstance(obj, BaseException):
            found.append((path + ".info", repr(info)))
        items = attrs(obj).items()
        for name, value in items:
            if isinstance(value, BaseException):
                visit(value, f"{path}.{name}", depth)  # the whole chain, however long
            elif isinstance(value, tuple):
                for i, arg in enumerate(value):
                    visit(arg, f"{path}.{name}[{i}]", depth + 1)
            elif depth < 2:
                visit(value, f"{path}.{name}", depth + 1)

    visit(err, "exc", 0)
    return found


def _assert_clean(err: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    leaks = [path for path, text in _reachable_from(err) if _leaks(text)]
    assert not leaks, f"the password is reachable from the error at {leaks}"
    logged = [r for r in caplog.records if _leaks(r.getMessage()) or _leaks(repr(r.__dict__))]
    assert not logged, f"the password is in the logs: {[r.getMessage() for r in logged]}"


VARIANTS = list(_variants(0))


@pytest.fixture
def port() -> int:
    return _refused_port()


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("variant", VARIANTS)
async def test_memory_type_postgres_error_holds_no_password(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    port: int,
    variant: str,
    use_async: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    env, _ = _variants(port)[variant]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in {"DATABASE_URL", "POSTGRES_HOST", "PGPASSWORD"} - set(env):
        monkeypatch.delenv(name, raising=False)
    cfg = MemoryConfig.from_env(memory_type="postgres", data_dir=tmp_path, embeddings="none")
    with pytest.raises(PostgresUnavailableError) as caught:
        if use_async:
            async with aopen_memory(cfg):
                pass
        else:
            with open_memory(cfg):
                pass
    err = caught.value
    assert err.__cause__ is None and err.__context__ is None
    assert "unreachable" in str(err)
    _assert_clean(err, caplog)


@pytest.mark.parametrize("variant", VARIANTS)
def test_connection_helpers_raise_scrubbed_errors(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, port: int, variant: str
) -> None:
    """`_pg.get_connection`, the one door every direct connection goes through (admin, CLI,
    API, the factory), keeps the kind of the failure but not the connection object."""
    from langgraph_hybrid_memory._pg import get_connection

    caplog.set_level(logging.DEBUG)
    env, conninfo = _variants(port)[variant]
    if "PGPASSWORD" in env:
        monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with pytest.raises(PostgresUnavailableError) as caught:
        get_connection(conninfo, connect_timeout=2)
    err = caught.value
    assert err.error_class == "OperationalError" and err.pgconn is None
    assert "Connection refused" in str(err) or "connect" in str(err)
    _assert_clean(err, caplog)


@pytest.mark.parametrize("variant", ["url", "keyword-value", "pgpassword-env"])
def test_stores_and_saver_errors_hold_no_password(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    port: int,
    variant: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    env, conninfo = _variants(port)[variant]
    if "PGPASSWORD" in env:
        monkeypatch.setenv("PGPASSWORD", PASSWORD)
    pool: ConnectionPool[Any] = ConnectionPool(
        conninfo, kwargs=dict(CONNECTION_KWARGS), timeout=1.0, open=True
    )
    try:
        with pytest.raises(Exception) as caught:
            PgVectorStore(pool).setup()
        _assert_clean(caught.value, caplog)
    finally:
        pool.close()
    saver = HybridSaver(tmp_path / "local.db", conninfo)
    try:
        with pytest.raises(Exception) as caught:
            saver.setup()
        _assert_clean(caught.value, caplog)
    finally:
        saver.close()
    _assert_clean(RuntimeError("logs only"), caplog)


async def test_async_store_error_holds_no_password(
    caplog: pytest.LogCaptureFixture, port: int
) -> None:
    caplog.set_level(logging.DEBUG)
    _, conninfo = _variants(port)["url"]
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo, kwargs=dict(CONNECTION_KWARGS), timeout=1.0, open=False
    )
    await pool.open()
    try:
        with pytest.raises(Exception) as caught:
            await AsyncPgVectorStore(pool).setup()
        _assert_clean(caught.value, caplog)
    finally:
        await pool.close()
