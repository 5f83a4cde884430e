"""The sample agent's tools: small, deterministic and offline.

`calculator`, `lookup` and `take_note` are harmless; `forget_memory` deletes one of the user's
long-term memories, so the approval sample asks a human before it runs.
"""

from __future__ import annotations

import ast
import hashlib
import operator
import re
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

__all__ = [
    "DEFAULT_TOOLS",
    "KNOWLEDGE",
    "RISKY_TOOLS",
    "calculator",
    "evaluate",
    "forget_memory",
    "knowledge_topic",
    "lookup",
    "memory_key",
    "memory_namespace",
    "take_note",
]

# A tiny local knowledge base for `lookup`, so the sample needs no network.
KNOWLEDGE: dict[str, str] = {
    "lisbon": "Lisbon: the riverside cycle path along the Tagus (24 km, flat); "
    "the LX Factory market on Sundays; tram 28 through Alfama.",
    "porto": "Porto: the Douro riverside walk to Foz (6 km); port cellars in Gaia.",
    "portuguese": "Portuguese food: bacalhau a bras, grilled sardines, pasteis de nata; "
    "a tasca lunch costs about 12 euros.",
    "python": "Python: a programming language; the standard library has sqlite3 and asyncio.",
    "metric": "Metric units: 1 mile = 1.609 km; 1 pound = 0.454 kg.",
    "cycling": "Cycling: check tyre pressure and bring water; an e-bike rental is about 25 euros "
    "a day.",
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def evaluate(expression: str) -> float | int:
    """Evaluate an arithmetic expression safely (numbers, + - * / // % **, parentheses).

    Examples:
        >>> evaluate("3 * (40 + 2)")
        126
        >>> evaluate("7 / 2")
        3.5
        >>> evaluate("__import__('os')")
        Traceback (most recent call last):
        ...
        ValueError: not an arithmetic expression: "__import__('os')"
    """
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
        value = _eval_node(tree.body)
    except (SyntaxError, _Unsupported):
        raise ValueError(f"not an arithmetic expression: {expression!r}") from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Unsupported(Exception):
    """Raised for syntax the calculator does not evaluate (names, calls, strings...)."""


def _eval_node(node: ast.expr) -> float | int:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise _Unsupported
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval_node(node.left), _eval_node(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            # Keeps 9 ** 9 ** 9 from hanging the agent.
            raise ValueError(f"exponent {right} is too large (at most 100)")
        return _BINARY[type(node.op)](left, right)  # type: ignore[no-any-return]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval_node(node.operand))  # type: ignore[no-any-return]
    raise _Unsupported


def knowledge_topic(text: str) -> str | None:
    """The `KNOWLEDGE` key that `text` mentions, if any.

    Examples:
        >>> knowledge_topic("Weekend in Lisbon")
        'lisbon'
        >>> knowledge_topic("Mars") is None
        True
    """
    lowered = text.lower()
    for topic in KNOWLEDGE:
        if re.search(rf"\b{topic}\b", lowered):
            return topic
    return None


def memory_namespace(user_id: str) -> tuple[str, str, str]:
    """Where the samples keep a user's long-term memories: ``("users", user_id, "memories")``."""
    return ("users", user_id, "memories")


def memory_key(subject: str) -> str:
    """The store key of a fact about `subject`: the same subject always gives the same key.

    So telling the agent a new value for a known subject updates the memory instead of adding a
    second one. Case, spacing, punctuation and a leading "my"/"the" do not change the key.

    Examples:
        >>> memory_key("Home City")
        'home-city'
        >>> memory_key("  my home-city ")
        'home-city'
        >>> memory_key("!!!")
        'fact-e84c538e7f'
    """
    text = re.sub(r"^(?:my|the|your)\s+", "", subject.strip().lower())
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60].strip("-")
    if slug:
        return slug
    return "fact-" + hashlib.sha256(subject.encode()).hexdigest()[:10]


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression, e.g. '3 * 40' or '(120 - 15) / 2'."""
    try:
        return f"{expression} = {evaluate(expression)}"
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        return f"cannot calculate {expression!r}: {exc}"


@tool
def lookup(topic: str) -> str:
    """Look a topic (a city, a cuisine, a subject) up in the local knowledge base."""
    key = knowledge_topic(topic)
    if key is None:
        return f"no entry for {topic!r}; known topics: {', '.join(sorted(KNOWLEDGE))}"
    return KNOWLEDGE[key]


@tool
def take_note(text: str) -> str:
    """Write a note for the user (returned in the step's result)."""
    return f"noted: {text}"


@tool
def forget_memory(subject: str, runtime: ToolRuntime) -> str:
    """Delete what is remembered about the user on `subject` (e.g. 'home city'). Irreversible."""
    store = runtime.store
    if store is None:
        return "no long-term memory store is configured"
    namespace = memory_namespace(runtime.state["user_id"])
    key = memory_key(subject)
    item = store.get(namespace, key)
    if item is None:
        return f"nothing is remembered about {subject!r}"
    store.delete(namespace, key)
    return f"forgot your {item.value.get('subject', subject)} (it was {item.value.get('value')!r})"


DEFAULT_TOOLS: tuple[BaseTool, ...] = (calculator, lookup, take_note)
"""The plan-and-execute sample's tools: all harmless."""

RISKY_TOOLS: tuple[BaseTool, ...] = (forget_memory,)
"""Tools that change the user's data: the approval sample asks a human before running one."""
