"""Request bodies of the HTTP API (unknown fields and bad values are a 422, nothing written)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from langgraph_hybrid_memory.admin import check_user_id

__all__ = ["SearchRequest", "StoreRequest", "TokenRequest"]

MAX_RESULTS = 100


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _UserBody(_Body):
    user_id: str = Field(description="the user: memories live in ('users', user_id, ...)")

    @field_validator("user_id")
    @classmethod
    def _user(cls, value: str) -> str:
        return check_user_id(value, "user_id")


class StoreRequest(_UserBody):
    """A memory to store under ``("users", user_id, "memories")``."""

    content: str = Field(min_length=1, description="the text (indexed and embedded)")
    key: str | None = Field(default=None, min_length=1, description="default: a new id")
    session_id: str | None = Field(default=None, description="kept as value['session_id']")
    project: str | None = Field(default=None, description="kept as value['project']")
    content_type: str = Field(default="text", description="kept as value['content_type']")
    metadata: dict[str, Any] = Field(default_factory=dict, description="kept as value['metadata']")


class SearchRequest(_UserBody):
    """A search in one user's memories."""

    query: str = Field(min_length=1)
    n_results: int = Field(default=5, ge=1, le=MAX_RESULTS)
    filter: dict[str, Any] | None = Field(
        default=None,
        description="on the value: {'session_id': 's1'}, {'metadata': {'lang': 'pt'}}, "
        "operators $eq $ne $gt $gte $lt $lte $in $nin $exists",
    )
    mode: Literal["hybrid", "vector", "keyword"] | None = Field(
        default=None, description="default: the store's own (hybrid with a model)"
    )


class TokenRequest(_UserBody):
    """Issue a token for one user."""
