"""Bearer tokens of the HTTP API: the admin token, and per-user tokens derived from it.

A user token is ``lghm_u.<user id, base64url>.<HMAC-SHA256 of the id under the admin token,
base64url>``: stateless (no table, nothing to leak from a database), checked in constant time,
and valid for exactly one user id. Rotating ``LGHM_API_TOKEN`` revokes every user token at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from langgraph_hybrid_memory.admin import check_user_id

__all__ = ["Principal", "identify", "issue_user_token"]

PREFIX = "lghm_u"
_CONTEXT = b"lghm-user-token/v1\x00"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, user: str) -> str:
    digest = hmac.new(secret.encode(), _CONTEXT + user.encode(), hashlib.sha256).digest()
    return _b64(digest)


def issue_user_token(secret: str, user: str) -> str:
    """The token that lets its bearer reach the namespaces of `user` only.

    Examples:
        >>> token = issue_user_token("s" * 32, "ada")
        >>> token.startswith("lghm_u.YWRh.")
        True
        >>> identify(token, "s" * 32)
        Principal(admin=False, user='ada')
    """
    check_user_id(user, "user_id")
    return f"{PREFIX}.{_b64(user.encode())}.{_mac(secret, user)}"


@dataclass(frozen=True)
class Principal:
    """Who a request is: the admin (every user), or one user."""

    admin: bool
    user: str | None = None

    def may_reach(self, user: str) -> bool:
        return self.admin or self.user == user


def identify(token: str, secret: str) -> Principal | None:
    """The principal a bearer token stands for, or None when it is not valid."""
    if hmac.compare_digest(token.encode(), secret.encode()):
        return Principal(admin=True)
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    try:
        user = _unb64(parts[1]).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(parts[2].encode(), _mac(secret, user).encode()):
        return None
    return Principal(admin=False, user=user)
