"""The one validator every store of the package calls before it does any I/O.

`PgVectorStore`, `AsyncPgVectorStore`, `LocalStore`, `HybridStore` and `AsyncHybridStore` run
`validate_ops` on a whole batch first, so:

* an input one tier would refuse later (PostgreSQL cannot hold NUL in ``text`` or ``jsonb``,
  a btree entry holds about 2.7 kB, ``LIMIT`` is a bigint, SQLite integers are 64-bit) is
  refused at the call, never acknowledged and then lost in an outbox;
* every store refuses the same inputs with the same error (`errors.InvalidInputError` and its
  subclasses, naming the argument and the bound);
* a refused batch writes nothing: nothing runs until every op has passed.

The checks walk values iteratively (no recursion), so a value nested 100,000 deep is refused
with `InvalidValueError`, not a bare `RecursionError`.

Examples:
    >>> from langgraph.store.base import PutOp, SearchOp
    >>> ops = validate_ops([PutOp(("users", "u1"), "k", {"text": "hi"})])
    >>> validate_ops([SearchOp(("users",), limit=10**20)])
    Traceback (most recent call last):
    ...
    langgraph_hybrid_memory.errors.InvalidInputError: limit must be ... at most 2147483647, ...
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    NotProvided,
    Op,
    PutOp,
    SearchItem,
    SearchOp,
)
from langgraph.store.base import InvalidNamespaceError as _LangGraphInvalidNamespaceError

from langgraph_hybrid_memory._filters import validate_filter
from langgraph_hybrid_memory.errors import (
    InvalidInputError,
    InvalidKeyError,
    InvalidNamespaceError,
    InvalidValueError,
    ValueTooLargeError,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_VALUE_BYTES",
    "MAX_DEPTH",
    "MAX_KEY_BYTES",
    "MAX_LABEL_BYTES",
    "MAX_PAGE",
    "MAX_QUERY_BYTES",
    "Limits",
    "ValidatingStore",
    "check_key",
    "check_namespace",
    "check_page",
    "check_value",
    "validate_ops",
]

DEFAULT_MAX_VALUE_BYTES = 1024 * 1024
"""Largest JSON text of one value (UTF-8 bytes). PostgreSQL's ``tsvector`` (the keyword index)
holds at most 1 MB, and a 10 MB value spent 87% of its 16 s put in the embedding model
tokenising text the model truncates anyway (a profile of ``put`` with an index)."""
MAX_KEY_BYTES = 768
MAX_LABEL_BYTES = 256
MAX_NAMESPACE_BYTES = 768
"""Key and namespace sit in the primary key; ``scope + namespace + key`` must fit PostgreSQL's
btree entry limit (about 2.7 kB), with room for the vector field name."""
MAX_DEPTH = 100
"""Deepest nesting of lists and objects in a value or a filter operand."""
MAX_PAGE = 2**31 - 1
"""Largest ``limit``, ``offset`` and ``max_depth``: far below PostgreSQL's bigint and SQLite's
int64, so ``limit + offset`` and doubled fetch sizes never overflow either."""
MAX_QUERY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """The bounds a store enforces; ``max_value_bytes`` is the store's setting of that name."""

    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES


DEFAULT_LIMITS = Limits()


def resolve_limits(max_value_bytes: int | None) -> Limits:
    """`Limits` from a store's ``max_value_bytes`` argument (None: the default)."""
    if max_value_bytes is None:
        return DEFAULT_LIMITS
    if isinstance(max_value_bytes, bool) or not isinstance(max_value_bytes, int):
        raise InvalidInputError(
            f"max_value_bytes must be a positive integer, got {max_value_bytes!r}",
            argument="max_value_bytes",
        )
    if max_value_bytes < 1:
        raise InvalidInputError(
            f"max_value_bytes must be a positive integer, got {max_value_bytes!r}",
            argument="max_value_bytes",
        )
    return Limits(max_value_bytes=max_value_bytes)


def _utf8_len(text: str) -> int | None:
    """UTF-8 length of `text`, or None when it holds a lone surrogate (not valid Unicode)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _bad_text(text: str) -> str | None:
    """Why PostgreSQL could not store `text` as ``text``/``jsonb``, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character (\\x00), which PostgreSQL cannot store"
    if _utf8_len(text) is None:
        return "contains a lone surrogate and is not valid Unicode"
    return None


def check_namespace(
    namespace: Any, *, argument: str = "namespace", wildcards: bool = False, put: bool = False
) -> None:
    """Refuse a namespace some tier could not store or would read differently.

    langgraph's rules (string labels, no ``.``, no NUL, not empty), plus valid Unicode and
    length bounds. `put`: the namespace must also have at least one label.

    Examples:
        >>> check_namespace(("users", "a.b"))
        Traceback (most recent call last):
        ...
        langgraph_hybrid_memory.errors.InvalidNamespaceError: namespace label 'a.b' ...period...
    """
    if not isinstance(namespace, tuple):
        raise InvalidNamespaceError(
            f"{argument} must be a tuple of strings, got {type(namespace).__name__}",
            argument=argument,
        )
    if put and not namespace:
        raise InvalidNamespaceError(f"{argument} of a put cannot be empty", argument=argument)
    total = 0
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespaceError(
                f"{argument} labels must be strings, got {type(label).__name__} in {namespace!r}",
                argument=argument,
            )
        if not label:
            raise InvalidNamespaceError(
                f"{argument} labels cannot be empty strings, got {namespace!r}", argument=argument
            )
        if "." in label:
            raise InvalidNamespaceError(
                f"{argument} label {label!r} cannot contain a period ('.'); use one label per "
                "level instead",
                argument=argument,
            )
        if wildcards and label == "*":
            continue
        why = _bad_text(label)
        if why:
            raise InvalidNamespaceError(f"{argument} label {label!r} {why}", argument=argument)
        size = _utf8_len(label) or 0
        if size > MAX_LABEL_BYTES:
            raise InvalidNamespaceError(
                f"{argument} label of {size} bytes is longer than the bound of "
                f"{MAX_LABEL_BYTES} UTF-8 bytes",
                argument=argument,
            )
        total += size + 1
    if total > MAX_NAMESPACE_BYTES:
        raise InvalidNamespaceError(
            f"{argument} of {total} bytes is longer than the bound of {MAX_NAMESPACE_BYTES} "
            "UTF-8 bytes (labels and separators)",
            argument=argument,
        )


def check_key(key: Any) -> None:
    """Refuse a key that is not a string PostgreSQL can store within the primary-key bound."""
    if not isinstance(key, str):
        raise InvalidKeyError(f"key must be a string, got {type(key).__name__}")
    why = _bad_text(key)
    if why:
        raise InvalidKeyError(f"key {key[:40]!r} {why}")
    size = _utf8_len(key) or 0
    if size > MAX_KEY_BYTES:
        raise InvalidKeyError(
            f"key of {size} bytes is longer than the bound of {MAX_KEY_BYTES} UTF-8 bytes; "
            "use a shorter key (e.g. a hash of the long one) and keep the text in the value"
        )


def check_value(
    namespace: tuple[str, ...], key: str, value: Any, limits: Limits = DEFAULT_LIMITS
) -> str:
    """The JSON text stored for `value` (a dict of pure JSON), or our `InvalidValueError`.

    Pure JSON only (dict, list, str, int, finite float, bool, None; string keys), so a value
    reads back exactly as written from every tier: a tuple or a ``{1: ...}`` key would come back
    changed from PostgreSQL and SQLite. At most `MAX_DEPTH` levels and
    ``limits.max_value_bytes`` of JSON text.

    Examples:
        >>> check_value(("a",), "k", {"n": [1, 2.5, None]})
        '{"n": [1, 2.5, null]}'
        >>> check_value(("a",), "k", {"n": float("nan")})
        Traceback (most recent call last):
        ...
        langgraph_hybrid_memory.errors.InvalidValueError: value of ('a',)/'k' ...nan...
    """
    where = f"value of {namespace!r}/{key!r}"
    if not isinstance(value, Mapping):
        raise InvalidValueError(f"{where} must be a dict, got {type(value).__name__}")
    _check_json(value, where, what="value")
    text = json.dumps(value, ensure_ascii=False)
    size = len(text.encode("utf-8"))
    if size > limits.max_value_bytes:
        raise ValueTooLargeError(
            f"{where} is {size:,} bytes of JSON, more than max_value_bytes="
            f"{limits.max_value_bytes:,}; store large content elsewhere (a file or object "
            "store) and keep a reference in the value, or raise the store's max_value_bytes"
        )
    return text


def _check_json(root: Any, where: str, *, what: str) -> None:
    """Walk `root` without recursion; raise `InvalidValueError` at the first non-JSON part."""
    stack: list[tuple[Any, str, int]] = [(root, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if node is None or isinstance(node, (bool, int)):
            continue
        if isinstance(node, str):
            why = _bad_text(node)
            if why:
                raise InvalidValueError(f"{where}: the string at {path or '$'} {why}")
            continue
        if isinstance(node, float):
            if not math.isfinite(node):
                raise InvalidValueError(
                    f"{where} is not JSON-serialisable: {node!r} at {path or '$'} is not a JSON "
                    "number; store null or a string instead"
                )
            continue
        if depth > MAX_DEPTH:
            raise InvalidValueError(
                f"{where} is nested more than {MAX_DEPTH} levels deep (at {path}); flatten it"
            )
        if isinstance(node, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node))
            continue
        if isinstance(node, Mapping):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise InvalidValueError(
                        f"{where} has a non-string key {k!r} at {path or '$'}; JSON object keys "
                        "are strings"
                    )
                why = _bad_text(k)
                if why:
                    raise InvalidValueError(f"{where}: the object key {k[:40]!r} {why}")
                stack.append((v, f"{path}.{k}" if path else k, depth + 1))
            continue
        hint = "a list" if isinstance(node, tuple) else "a string"
        raise InvalidValueError(
            f"{where} is not JSON-serialisable: {type(node).__name__} at {path or '$'}; store only "
            f"dicts, lists, strings, numbers, booleans and None (convert it to {hint} first)"
        )


def check_page(name: str, value: Any, *, minimum: int = 0) -> None:
    """Refuse a ``limit``/``offset``/``max_depth`` that is not an int in [minimum, MAX_PAGE]."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_PAGE:
        raise InvalidInputError(
            f"{name} must be an integer of at least {minimum} and at most {MAX_PAGE}, "
            f"got {value!r}",
            argument=name,
        )


def check_query(query: Any) -> None:
    """Refuse a search query that is not a string PostgreSQL can take."""
    if query is None:
        return
    if not isinstance(query, str):
        raise InvalidInputError(
            f"query must be a string or None, got {type(query).__name__}", argument="query"
        )
    why = _bad_text(query)
    if why:
        raise InvalidInputError(f"query {query[:40]!r} {why}", argument="query")
    size = _utf8_len(query) or 0
    if size > MAX_QUERY_BYTES:
        raise InvalidInputError(
            f"query of {size:,} bytes is longer than the bound of {MAX_QUERY_BYTES:,} UTF-8 "
            "bytes; search with a shorter text",
            argument="query",
        )


def check_ttl(ttl: Any) -> None:
    if ttl is None:
        return
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, (int, float))
        or not math.isfinite(ttl)
        or ttl <= 0
    ):
        raise InvalidInputError(
            f"ttl must be a positive number of minutes or None, got {ttl!r}", argument="ttl"
        )


def check_index(index: Any) -> None:
    if index is None or index is False:
        return
    if isinstance(index, list) and all(isinstance(f, str) and f for f in index):
        for f in index:
            why = _bad_text(f)
            if why:
                raise InvalidInputError(f"index path {f[:40]!r} {why}", argument="index")
        return
    raise InvalidInputError(
        f"index must be False, None or a list of field paths, got {index!r}", argument="index"
    )


def validate_ops(ops: Iterable[Op], limits: Limits = DEFAULT_LIMITS) -> list[Op]:
    """Check every op of a batch; raise our error at the first bad one, before any I/O.

    Returns the ops as a list (a generator is consumed once, here).
    """
    op_list = list(ops)
    for op in op_list:
        validate_op(op, limits)
    return op_list


def validate_op(op: Op, limits: Limits = DEFAULT_LIMITS) -> None:
    if isinstance(op, PutOp):
        check_namespace(op.namespace, put=True)
        check_key(op.key)
        if op.value is not None:
            check_value(op.namespace, op.key, op.value, limits)
            check_ttl(op.ttl)
            check_index(op.index)
    elif isinstance(op, GetOp):
        check_namespace(op.namespace)
        check_key(op.key)
    elif isinstance(op, SearchOp):
        check_namespace(op.namespace_prefix, argument="namespace_prefix")
        check_query(op.query)
        validate_filter(op.filter)
        check_page("limit", op.limit)
        check_page("offset", op.offset)
    elif isinstance(op, ListNamespacesOp):
        for cond in op.match_conditions or ():
            check_namespace(tuple(cond.path), argument="match_conditions", wildcards=True)
        if op.max_depth is not None:
            check_page("max_depth", op.max_depth, minimum=1)
        check_page("limit", op.limit)
        check_page("offset", op.offset)
    else:
        raise InvalidInputError(
            f"unknown store operation {type(op).__name__}; expected GetOp, PutOp, SearchOp or "
            "ListNamespacesOp",
            argument="ops",
        )


def _ours(exc: _LangGraphInvalidNamespaceError) -> InvalidNamespaceError:
    """langgraph's plain ``InvalidNamespaceError`` as ours (also langgraph's).

    The wrappers below catch it with a plain ``try`` rather than a ``@contextmanager``: under
    a 10,000-call burst the context manager's set-up cost more than the rest of the call."""
    return InvalidNamespaceError(f"namespace refused: {exc}")


class ValidatingStore(BaseStore):
    """`BaseStore` whose public calls raise our errors for namespaces langgraph's checks refuse.

    langgraph's ``BaseStore`` methods check namespace labels themselves before ``batch`` (and so
    before `validate_ops`) and raise its plain ``InvalidNamespaceError``. ``put`` runs our full
    check first; the reads translate langgraph's error into ours, so every store of the package
    raises the same class, with ``argument``.
    """

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        check_namespace(namespace, put=True)
        super().put(namespace, key, value, index, ttl=ttl)

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        check_namespace(namespace, put=True)
        await super().aput(namespace, key, value, index, ttl=ttl)

    def get(self, *args: Any, **kwargs: Any) -> Item | None:
        try:
            return super().get(*args, **kwargs)
        except InvalidNamespaceError:
            raise
        except _LangGraphInvalidNamespaceError as exc:
            raise _ours(exc) from None

    async def aget(self, *args: Any, **kwargs: Any) -> Item | None:
        try:
            return await super().aget(*args, **kwargs)
        except InvalidNamespaceError:
            raise
        except _LangGraphInvalidNamespaceError as exc:
            raise _ours(exc) from None

    def search(self, *args: Any, **kwargs: Any) -> list[SearchItem]:
        try:
            return super().search(*args, **kwargs)
        except InvalidNamespaceError:
            raise
        except _LangGraphInvalidNamespaceError as exc:
            raise _ours(exc) from None

    async def asearch(self, *args: Any, **kwargs: Any) -> list[SearchItem]:
        try:
            return await super().asearch(*args, **kwargs)
        except InvalidNamespaceError:
            raise
        except _LangGraphInvalidNamespaceError as exc:
            raise _ours(exc) from None

    def delete(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().delete(*args, **kwargs)
        except InvalidNamespaceError:
            raise
        except _LangGraphInvalidNamespaceError as exc:
            raise _ours(exc) from None

    async def adelete(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().adelete(*args, **kwargs)
        except InvalidNamespaceError:
            raise
        except _LangGraphInvalidNamespaceError as exc:
            raise _ours(exc) from None

    def list_namespaces(self, *args: Any, **kwargs: Any) -> list[tuple[str, ...]]:
        try:
            return super().list_namespaces(*args, **kwargs)
        except InvalidNamespaceError:
            raise
        except _LangGraphInvalidNamespaceError as exc:
            raise _ours(exc) from None

    async def alist_namespaces(self, *args: Any, **kwargs: Any) -> list[tuple[str, ...]]:
        try:
            return await super().alist_namespaces(*args, **kwargs)
        except InvalidNamespaceError:
            raise
        except _LangGraphInvalidNamespaceError as exc:
            raise _ours(exc) from None
