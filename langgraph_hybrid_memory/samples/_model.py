"""The samples' chat model: a real `ChatOpenAI`, or a deterministic scripted model offline.

The graphs talk to the model only through standard LangChain calls (`with_structured_output` for
plans, replans and facts; `bind_tools` for the executor), so the same graph runs on either. The
scripted model reads the same prompts a real model gets and follows a fixed script, so runs are
deterministic, offline and take milliseconds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from langgraph_hybrid_memory._config import MemoryConfig
from langgraph_hybrid_memory.samples._tools import knowledge_topic

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "Fact",
    "Facts",
    "Plan",
    "Replan",
    "ScriptedChatModel",
    "extract_facts",
    "make_chat_model",
]

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


# --- structured outputs ---------------------------------------------------------------------------
# Every field is required and typed plainly, so OpenAI's strict JSON-schema mode accepts them.


class Plan(BaseModel):
    """The steps that reach the objective, in order."""

    steps: list[str] = Field(description="Concrete steps; each needs at most one tool.")


class Replan(BaseModel):
    """Either the final response (done) or the steps still to do."""

    done: bool = Field(description="True when the objective is met.")
    response: str = Field(description="The answer for the user when done, else empty.")
    steps: list[str] = Field(description="The steps still to do when not done, else empty.")


class Fact(BaseModel):
    """One fact the user stated about themselves."""

    subject: str = Field(description="What the fact is about, short and lowercase: 'home city'.")
    value: str = Field(description="The fact's value: 'Lisbon'.")


class Facts(BaseModel):
    """The facts the user stated about themselves (empty if none)."""

    facts: list[Fact]


# --- prompts (shared by the graphs and the scripted model, which parses them) ---------------------

PLANNER_SYSTEM = (
    "You plan tasks for a personal assistant. Break the user's objective into a short list of "
    "concrete steps. Each step uses at most one tool and starts with its verb: "
    "'calculate <arithmetic expression>', 'look up <topic>', 'note: <text>'{extra}. "
    "Use what is known about the user. When the user states facts about themselves, add a "
    "'note:' step for each."
)
PLANNER_FORGET_VERB = ", 'forget <subject>' (deletes a memory; a human must approve it)"
EXECUTOR_SYSTEM = (
    "You carry out one step of a plan with the tools you have. Call the tool the step needs, "
    "then reply with its result in one sentence."
)
REPLANNER_SYSTEM = (
    "You check a plan's progress. If every step is done (or the objective is met), set "
    "done=true and write the response for the user from the results. Otherwise set done=false "
    "and list only the steps still to do."
)
FACTS_SYSTEM = (
    "Extract the facts the user states about themselves in their message, as subject/value "
    "pairs with short lowercase subjects ('home city', 'favourite cuisine'). Return no facts "
    "if there are none."
)

OBJECTIVE = "Objective: "
KNOWN = "Known about the user:"
NOTHING_KNOWN = "- (nothing yet)"
STEP = "Step: "
PLAN = "Plan:"
DONE = "Done so far:"
MESSAGE = "Message: "


RECENT = "Earlier in this session:"


def planner_prompt(objective: str, memories: Sequence[str], recent: Sequence[str] = ()) -> str:
    """The planner's prompt; `recent` (the session's last interactions, from a `SessionLog`)
    comes before the memories, as ``* ...`` lines, so the memory bullets stay last."""
    known = "\n".join(f"- {m}" for m in memories) or NOTHING_KNOWN
    earlier = "".join(f"\n* {r}" for r in recent)
    session = f"\n{RECENT}{earlier}" if recent else ""
    return f"{OBJECTIVE}{objective}{session}\n{KNOWN}\n{known}"


def executor_prompt(objective: str, step: str) -> str:
    return f"{STEP}{step}\n{OBJECTIVE}{objective}"


def replanner_prompt(objective: str, plan: Sequence[str], done: Sequence[tuple[str, str]]) -> str:
    plan_lines = "\n".join(f"{i}. {s}" for i, s in enumerate(plan, 1)) or "(empty)"
    done_lines = "\n".join(f"{i}. {s} -> {r}" for i, (s, r) in enumerate(done, 1)) or "(nothing)"
    return f"{OBJECTIVE}{objective}\n{PLAN}\n{plan_lines}\n{DONE}\n{done_lines}"


def facts_prompt(message: str) -> str:
    return f"{MESSAGE}{message}"


# --- the script -----------------------------------------------------------------------------------

# "my home city is Lisbon", "my daily budget is 40.5 euros": a value ends at , ; ! ? " and " or a
# full stop that ends a sentence (so decimals survive).
_FACT = re.compile(
    r"\bmy\s+([a-z][a-z ]{0,40}?)\s+(?:is|are)\s+(.+?)(?=\s*(?:[,;!?]|\.(?:\s|$)|\band\b|$))",
    re.IGNORECASE,
)
_ARITHMETIC = re.compile(r"\(?\d+(?:\.\d+)?(?:\s*[-+*/^]\s*\(?\d+(?:\.\d+)?\)?)+")
_FORGET = re.compile(
    r"\bforget\s+(?:my|about my|the)?\s*([a-z][a-z ]{0,40}?)(?=\s*(?:[,.;!?]|\band\b|$))",
    re.IGNORECASE,
)
_STEP_TOOLS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^calculate\s+(.+)$", re.IGNORECASE), "calculator", "expression"),
    (re.compile(r"^look\s*up\s+(.+)$", re.IGNORECASE), "lookup", "topic"),
    (re.compile(r"^note:\s*(.+)$", re.IGNORECASE), "take_note", "text"),
    (re.compile(r"^forget\s+(.+)$", re.IGNORECASE), "forget_memory", "subject"),
)


def extract_facts(message: str) -> list[Fact]:
    """The facts stated as "my <subject> is <value>" in `message` (the scripted model's rule).

    Examples:
        >>> facts = extract_facts("My home city is Lisbon, my favourite cuisine is Portuguese "
        ...                       "and my daily budget is 40.5 euros.")
        >>> [(f.subject, f.value) for f in facts]  # doctest: +NORMALIZE_WHITESPACE
        [('home city', 'Lisbon'), ('favourite cuisine', 'Portuguese'),
         ('daily budget', '40.5 euros')]
    """
    return [
        Fact(subject=" ".join(m.group(1).lower().split()), value=m.group(2).strip())
        for m in _FACT.finditer(message)
    ]


def _script_plan(prompt: str) -> Plan:
    objective = _field(prompt, OBJECTIVE)
    memories = _bullets(prompt, KNOWN)
    steps = [f"note: my {f.subject} is {f.value}" for f in extract_facts(objective)]
    steps += [f"calculate {expr.strip()}" for expr in _ARITHMETIC.findall(objective)]
    steps += [f"forget {m.group(1).strip()}" for m in _FORGET.finditer(objective)]
    if not steps:
        # The objective asks for nothing concrete: plan from what is known about the user.
        for memory in memories:
            subject, _, value = memory.partition(": ")
            if knowledge_topic(value):
                steps.append(f"look up {value}")
            else:
                steps.append(f"note: keep to your {subject} of {value}")
    return Plan(steps=steps or [f"note: {objective}"])


def _script_replan(prompt: str) -> Replan:
    objective = _field(prompt, OBJECTIVE)
    plan = [re.sub(r"^\d+\.\s*", "", line) for line in _section(prompt, PLAN, DONE)]
    done = [re.sub(r"^\d+\.\s*", "", line) for line in _section(prompt, DONE, None)]
    results = [line.partition(" -> ") for line in done if " -> " in line]
    finished = {step for step, _, _ in results}
    remaining = [step for step in plan if step not in finished]
    if remaining:
        return Replan(done=False, response="", steps=remaining)
    lines = [f"- {result}" for _, _, result in results]
    return Replan(done=True, response="\n".join([f"For {objective!r}:", *lines]), steps=[])


def _script_facts(prompt: str) -> Facts:
    return Facts(facts=extract_facts(_field(prompt, MESSAGE)))


def _field(prompt: str, label: str) -> str:
    for line in prompt.splitlines():
        if line.startswith(label):
            return line[len(label) :].strip()
    return ""


def _section(prompt: str, start: str, end: str | None) -> list[str]:
    lines = prompt.splitlines()
    if start not in lines:
        return []
    body = lines[lines.index(start) + 1 :]
    if end is not None and end in body:
        body = body[: body.index(end)]
    return [line for line in body if line and not line.startswith("(")]


def _bullets(prompt: str, start: str) -> list[str]:
    return [line[2:] for line in _section(prompt, start, None) if line.startswith("- ")]


_STRUCTURED: dict[str, Callable[[str], BaseModel]] = {
    "Plan": _script_plan,
    "Replan": _script_replan,
    "Facts": _script_facts,
}


def _call_id(*parts: str) -> str:
    return "call_" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


class ScriptedChatModel(BaseChatModel):
    """A deterministic, offline chat model that drives the sample graphs.

    It supports what the samples use: `with_structured_output` for `Plan`, `Replan` and `Facts`
    (answered by a fixed script that reads the prompt), and `bind_tools` for the executor (it
    calls the tool a step names: "calculate ...", "look up ...", "note: ...", "forget ...", then
    replies with the tool's result). Facts are the user's "my <subject> is <value>" phrases.

    Examples:
        >>> model = ScriptedChatModel()
        >>> planner = model.with_structured_output(Plan)
        >>> planner.invoke("Objective: What is 3 * 40?\\nKnown about the user:\\n- (nothing yet)")
        Plan(steps=['calculate 3 * 40'])
    """

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        names = [t["function"]["name"] for t in kwargs.get("tools") or ()]
        message = self._respond(messages, names)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _respond(self, messages: list[BaseMessage], tool_names: list[str]) -> AIMessage:
        prompt = "\n".join(m.text for m in messages if not isinstance(m, (AIMessage, ToolMessage)))
        for name in tool_names:
            if name in _STRUCTURED:
                args = _STRUCTURED[name](prompt).model_dump()
                return AIMessage(
                    content="",
                    tool_calls=[{"name": name, "args": args, "id": _call_id(name, prompt)}],
                )
        last = messages[-1] if messages else None
        if isinstance(last, ToolMessage):
            return AIMessage(content=last.text)
        step = _field(prompt, STEP) or prompt.strip()
        for pattern, tool_name, arg in _STEP_TOOLS:
            match = pattern.match(step)
            if match and tool_name in tool_names:
                call = {"name": tool_name, "args": {arg: match.group(1).strip()}}
                return AIMessage(content="", tool_calls=[{**call, "id": _call_id(tool_name, step)}])
        return AIMessage(content=f"no tool fits this step, skipped: {step}")


def make_chat_model(
    config: MemoryConfig | None = None, *, model: str = DEFAULT_OPENAI_MODEL
) -> BaseChatModel:
    """The samples' chat model: `ChatOpenAI` when an OpenAI key is configured, else scripted.

    `MemoryConfig.openai_api_key_set` says whether ``OPENAI_API_KEY`` is set; `ChatOpenAI` reads
    the key itself. `config` defaults to `MemoryConfig.from_env()`.

    Examples:
        >>> type(make_chat_model(MemoryConfig())).__name__
        'ScriptedChatModel'
    """
    config = MemoryConfig.from_env() if config is None else config
    if not config.openai_api_key_set:
        return ScriptedChatModel()
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        from langgraph_hybrid_memory.errors import MissingExtraError

        raise MissingExtraError.for_extra(
            "openai", "the samples' ChatOpenAI (OPENAI_API_KEY is set)"
        ) from None
    return ChatOpenAI(model=model, temperature=0)
