"""`forget_user`: erase one user everywhere, with the report of what was removed.

It removes the store items under ``("users", ID)`` (PostgreSQL and the local store/cache tables),
the checkpoints of the threads whose metadata says ``user_id == ID`` (both tiers, with
thread-wide tombstones in PostgreSQL so a pending flush from any machine cannot bring them
back), this file's pending and dead outbox entries for them, and the embedding-cache rows whose
text hash no other item references. Matching is exact, label by label: never ``LIKE``, so
``john``, ``john%`` and ``john_doe`` are three different users.

Deletes run as SQL on both tiers (the same statements `HybridSaver.delete_thread` and ``prune``
apply), PostgreSQL first in one transaction, then the local file in one transaction: if
PostgreSQL fails nothing was deleted, and a re-run finishes an interrupted one.
"""

from __future__ import annotations

from contextlib import ExitStack

from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.admin._context import AdminContext
from langgraph_hybrid_memory.admin._forget_local import local_apply, local_others, local_scan
from langgraph_hybrid_memory.admin._forget_pg import pg_apply, pg_others, pg_scan
from langgraph_hybrid_memory.admin._forget_plan import Plan
from langgraph_hybrid_memory.admin._results import ForgetReport
from langgraph_hybrid_memory.admin._validate import check_user_id

__all__ = ["forget_user"]


def forget_user(
    ctx: AdminContext, user: str, *, dry_run: bool = False, argument: str = "user"
) -> ForgetReport:
    """Erase (or with `dry_run`, only count) everything of `user` on both tiers.

    Args:
        ctx: where the memory is.
        user: the exact user id (``("users", user, ...)`` namespaces, ``user_id`` metadata).
        dry_run: count, delete nothing.
        argument: how the caller names the id in an error (``--user``, ``user_id``).

    Returns:
        ``removed`` (or ``would_remove``): rows per tier and table; ``threads``: the thread ids.

    Raises:
        ConfigError: `user` is not a user id (nothing is read or deleted).
        psycopg.Error, sqlite3.Error: a tier failed; PostgreSQL's part is rolled back, and
            running it again finishes the job.
    """
    check_user_id(user, argument)
    plan = Plan(user)
    local_exists = ctx.uses_local_file and ctx.sqlite_path.exists()
    with ExitStack() as stack:
        db = LocalDB.open(ctx.sqlite_path) if local_exists else None
        if db is not None:
            stack.callback(db.close)
        with ExitStack() as pg_stack:
            pg_conn = pg_stack.enter_context(ctx.pg()) if ctx.uses_postgres else None
            # Read everything first: the threads and hashes of both tiers decide both deletes.
            present: dict[str, bool] = {}
            if pg_conn is not None:
                present = pg_scan(pg_conn, ctx, plan)
            if db is not None:
                with db.read() as lconn:
                    local_scan(lconn, plan)
                    local_others(lconn, plan)
            if pg_conn is not None:
                pg_others(pg_conn, ctx, plan, present)
                pg_apply(pg_conn, ctx, plan, present, dry_run)
        if db is not None:
            if dry_run:
                with db.read() as lconn:
                    local_apply(lconn, plan, True)
            else:
                with db.transaction() as lconn:
                    local_apply(lconn, plan, False)
    counts = {tier: c for tier, c in plan.report.items() if c}
    report: ForgetReport = {
        "user": user,
        "dry_run": dry_run,
        "threads": sorted(plan.threads | plan.sqlite_saver_threads),
    }
    if dry_run:
        report["would_remove"] = counts
    else:
        report["removed"] = counts
    return report
