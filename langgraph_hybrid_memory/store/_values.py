"""Values in and out of `PgVectorStore`: JSON encoding, the texts an index embeds, vectors in
pgvector's text and binary forms, and rows shaped into `Item` objects."""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np
from langgraph.store.base import (
    Item,
    SearchItem,
    get_text_at_path,
    tokenize_path,
)
from psycopg.abc import Buffer
from psycopg.adapt import Dumper
from psycopg.pq import Format

from langgraph_hybrid_memory.errors import (
    DimensionMismatchError,
    InvalidValueError,
)
from langgraph_hybrid_memory.store._config import ResolvedIndex

# --------------------------------------------------------------------------------------------
# Values and indexed texts


def _string_leaves(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _string_leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _string_leaves(v)
    elif value is not None:
        yield str(value)


def indexed_texts(
    idx: ResolvedIndex, value: Mapping[str, Any], index: Literal[False] | list[str] | None
) -> tuple[list[tuple[str, str]], str | None]:
    """(field name, text) pairs to embed and the text for keyword search, for one put.

    A path yielding one text names its vector after the path, one yielding several
    ``path.0``, ``path.1``, ... (as langgraph's stores do).
    """
    if index is False:
        return [], None
    if index is None:
        tokenized = idx.tokenized
    else:
        if isinstance(index, str) or not all(isinstance(f, str) and f for f in index):
            raise InvalidValueError(
                f"put(index=...) must be False, None or a list of paths, got {index!r}"
            )
        tokenized = [(f, "$" if f == "$" else tokenize_path(f)) for f in index]
    out: list[tuple[str, str]] = []
    keyword: list[str] = []
    for path, tokens in tokenized:
        if tokens == "$":
            texts = [json.dumps(value, sort_keys=True, ensure_ascii=False)]
            # Keywords from the values only: key names would match every item.
            keyword.extend(_string_leaves(value))
        else:
            texts = get_text_at_path(value, tokens)
            keyword.extend(texts)
        if len(texts) == 1:
            out.append((path, texts[0]))
        else:
            out.extend((f"{path}.{i}", t) for i, t in enumerate(texts))
    keyword_text = "\n".join(keyword) if keyword else None
    return out, keyword_text


class PackedVector(bytes):
    """A vector in pgvector's binary wire format (``vector`` or ``halfvec``)."""


def pack_vector(vec: Sequence[float] | np.ndarray, vector_type: str) -> PackedVector:
    """pgvector's binary form: dims and a zero as int16, then big-endian float4 (float2 for
    halfvec).

    Examples:
        >>> pack_vector([1.0, -2.0], "vector").hex()
        '000200003f800000c0000000'
    """
    arr = np.asarray(vec, dtype=">f4" if vector_type == "vector" else ">f2")
    return PackedVector(struct.pack(">HH", arr.shape[0], 0) + arr.tobytes())


@functools.cache
def packed_vector_dumper(type_oid: int) -> type[Dumper]:
    """A binary psycopg dumper that sends bytes as they are, as type `type_oid` (one class per
    type, made once)."""

    class PackedVectorDumper(Dumper):
        format = Format.BINARY
        oid = type_oid

        def dump(self, obj: Any) -> Buffer:
            return cast(bytes, obj)

    return PackedVectorDumper


class PackedVectorArray(bytes):
    """A one-dimensional ``vector[]`` / ``halfvec[]`` in PostgreSQL's binary array format.

    A batch's vectors travel as one binary parameter: formatting 384 floats as text in Python
    and parsing them again in the server took about a fifth of a row-by-row ingest.
    `array_oid` is the array type's OID (see `register_packed_arrays`).
    """

    array_oid: int


def pack_vector_array(
    vectors: Iterable[Sequence[float] | np.ndarray], vector_type: str, oids: tuple[int, int]
) -> PackedVectorArray:
    """`vectors` as a binary ``vector[]`` (``halfvec[]``); `oids` = (element, array) type OIDs.

    Examples:
        >>> a = pack_vector_array([[1.0], [2.0]], "vector", (16385, 16390))
        >>> a[:20].hex(), a.array_oid  # 1 dim, no nulls, element type, 2 elements from 1
        ('0000000100000000000040010000000200000001', 16390)
        >>> a[20:32].hex()  # the first element: 8 bytes, pgvector's binary form of [1.0]
        '00000008000100003f800000'
    """
    parts = [pack_vector(v, vector_type) for v in vectors]
    # ndim, has-nulls flag, element type; then (length, lower bound) per dimension; then each
    # element as (byte length, bytes).
    head = struct.pack(">iiI", 1 if parts else 0, 0, oids[0])
    if parts:
        head += struct.pack(">ii", len(parts), 1)
    out = PackedVectorArray(head + b"".join(struct.pack(">i", len(p)) + p for p in parts))
    out.array_oid = oids[1]
    return out


def register_packed_arrays(cur: Any, params: Sequence[Any] | None) -> None:
    """Teach `cur` (only this cursor) to send the `PackedVectorArray` values of `params`."""
    for value in params or ():
        if isinstance(value, PackedVectorArray):
            cur.adapters.register_dumper(PackedVectorArray, packed_vector_dumper(value.array_oid))


def register_packed_copy_types(cur: Any, types: Sequence[str | int]) -> None:
    """Teach `cur` (only this cursor) to send `PackedVector` values in a binary COPY whose
    column `types` name the vector type by OID."""
    for t in types:
        if isinstance(t, int):
            cur.adapters.register_dumper(PackedVector, packed_vector_dumper(t))


VECTOR_TYPE_OIDS = (
    "SELECT t.oid::int AS oid, t.typarray::int AS array_oid FROM pg_type t "
    "WHERE t.oid = %s::regtype"
)


def vector_literal(vec: Sequence[float] | np.ndarray) -> str:
    """pgvector's text form of a vector.

    Examples:
        >>> vector_literal([0.5, -1.0])
        '[0.5,-1.0]'
    """
    return "[" + ",".join(map(repr, np.asarray(vec, dtype=np.float64).tolist())) + "]"


def check_vectors(vectors: Any, texts: Sequence[str], dims: int, what: str) -> np.ndarray:
    """The embedder's answer as a (len(texts), dims) float array, or a clear error."""
    vectors = list(vectors)
    if len(vectors) != len(texts):
        raise DimensionMismatchError(
            f"the embedding model returned {len(vectors)} vectors for {len(texts)} {what}"
        )
    sizes = {len(v) for v in vectors}
    if sizes - {dims}:
        bad = min(sizes - {dims})
        raise DimensionMismatchError(
            f"the embedding model returned a {bad}-dim vector but the index has "
            f"dims={dims}; set dims to the model's size (in a new schema) or use the "
            "model the index was built with"
        )
    arr = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), dims)
    if not np.isfinite(arr).all():
        raise DimensionMismatchError(f"the embedding model returned a non-finite value for {what}")
    return arr


# --------------------------------------------------------------------------------------------
# Results


def row_to_item(row: Mapping[str, Any]) -> Item:
    return Item(
        value=row["value"],
        key=row["key"],
        namespace=tuple(row["namespace"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def row_to_search_item(row: Mapping[str, Any], score: float | None) -> SearchItem:
    return SearchItem(
        namespace=tuple(row["namespace"]),
        key=row["key"],
        value=row["value"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        score=score,
    )


def item_key(row: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str]:
    return (row["scope"], tuple(row["namespace"]), row["key"])
