"""Checks of the arguments operations take, before anything is read or written.

Labels, keys and values themselves are checked by the stores (one validator for every tier);
what is checked here is what only the operations take: a user id (one namespace label), limits.
"""

from __future__ import annotations

from langgraph.store.base import GetOp, InvalidNamespaceError, validate_op_namespace

from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["MAX_LIMIT", "check_limit", "check_user_id"]

MAX_LIMIT = 10_000


def check_user_id(user: object, argument: str = "user") -> str:
    """`user` when it can be the second label of ``("users", user, ...)``.

    Examples:
        >>> check_user_id("john_doe")
        'john_doe'
        >>> check_user_id("a.b", "--user")
        Traceback (most recent call last):
        ...
        langgraph_hybrid_memory.errors.ConfigError: --user 'a.b' is not a user id: ...
    """
    # The stores' own label rule (langgraph's), so an id accepted here is one every store takes.
    try:
        validate_op_namespace(GetOp(("users", user), ""))  # type: ignore[arg-type]
    except InvalidNamespaceError:
        raise ConfigError(
            f"{argument} {user!r} is not a user id: it must be a non-empty string with no '.' "
            "and no NUL character (namespace labels cannot contain them)"
        ) from None
    assert isinstance(user, str)  # validate_op_namespace refuses every non-string label
    return user


def check_limit(limit: object, argument: str = "limit") -> int:
    """`limit` when it is an integer from 1 to `MAX_LIMIT`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"{argument}={limit!r} is out of range; use an integer 1 to {MAX_LIMIT}")
    return limit
