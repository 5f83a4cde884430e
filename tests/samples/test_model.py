"""The scripted model, the tools and the model factory: deterministic, offline, and honest about
what they accept."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_openai import ChatOpenAI

from langgraph_hybrid_memory import MemoryConfig
from langgraph_hybrid_memory.samples import (
    DEFAULT_OPENAI_MODEL,
    DEFAULT_TOOLS,
    Facts,
    Plan,
    Replan,
    ScriptedChatModel,
    build_approval_graph,
    build_plan_and_execute,
    calculator,
    extract_facts,
    lookup,
    make_chat_model,
    memory_key,
)
from langgraph_hybrid_memory.samples._model import planner_prompt, replanner_prompt


def test_structured_answers_are_deterministic_and_typed() -> None:
    planner = ScriptedChatModel().with_structured_output(Plan)
    prompt = planner_prompt("My home city is Porto. What is 2 * 21?", [])
    first, second = planner.invoke(prompt), planner.invoke(prompt)
    assert first == second == Plan(steps=["note: my home city is Porto", "calculate 2 * 21"])


def test_planner_uses_what_it_knows_when_the_objective_asks_for_nothing_concrete() -> None:
    planner = ScriptedChatModel().with_structured_output(Plan)
    plan = planner.invoke(planner_prompt("Plan my day.", ["home city: Lisbon", "pet: a cat"]))
    assert plan == Plan(steps=["look up Lisbon", "note: keep to your pet of a cat"])


def test_replanner_lists_what_remains_then_finishes() -> None:
    replanner = ScriptedChatModel().with_structured_output(Replan)
    plan = ["calculate 1 + 1", "calculate 2 + 2"]
    partial = replanner.invoke(replanner_prompt("sums", plan, [("calculate 1 + 1", "2")]))
    assert partial == Replan(done=False, response="", steps=["calculate 2 + 2"])
    done = [("calculate 1 + 1", "1 + 1 = 2"), ("calculate 2 + 2", "2 + 2 = 4")]
    final = replanner.invoke(replanner_prompt("sums", plan, done))
    assert final.done and final.steps == []
    assert final.response.splitlines() == ["For 'sums':", "- 1 + 1 = 2", "- 2 + 2 = 4"]


def test_executor_calls_the_tool_a_step_names_then_reports_its_result() -> None:
    executor = ScriptedChatModel().bind_tools(list(DEFAULT_TOOLS))
    messages = [SystemMessage("x"), HumanMessage("Step: look up Lisbon\nObjective: a day out")]
    call = executor.invoke(messages)
    assert isinstance(call, AIMessage)
    assert [(c["name"], c["args"]) for c in call.tool_calls] == [("lookup", {"topic": "Lisbon"})]
    assert executor.invoke(messages).tool_calls[0]["id"] == call.tool_calls[0]["id"]
    reply = executor.invoke(
        [*messages, call, ToolMessage("Lisbon: trams", tool_call_id=call.tool_calls[0]["id"])]
    )
    assert reply.content == "Lisbon: trams" and not reply.tool_calls
    # A step naming a tool the executor does not have is not silently mapped to another one.
    other = executor.invoke([HumanMessage("Step: forget home city")])
    assert not other.tool_calls and "no tool fits" in other.text


def test_facts_are_the_users_my_x_is_y_phrases() -> None:
    facts = ScriptedChatModel().with_structured_output(Facts).invoke("Message: my dog is Rex.")
    assert [(f.subject, f.value) for f in facts.facts] == [("dog", "Rex")]
    assert extract_facts("I like tea. What is 2 + 2?") == []
    assert [(f.subject, f.value) for f in extract_facts("My cats are Tom and Kit")] == [
        ("cats", "Tom")
    ]


@pytest.mark.parametrize(
    ("subject", "key"),
    [("home city", "home-city"), ("My Home  City", "home-city"), ("the home-city!", "home-city")],
)
def test_memory_key_depends_only_on_the_normalised_subject(subject: str, key: str) -> None:
    assert memory_key(subject) == key


def test_tools_are_safe_and_explain_failures() -> None:
    assert calculator.invoke({"expression": "(120 - 15) / 2"}) == "(120 - 15) / 2 = 52.5"
    assert "division by zero" in calculator.invoke({"expression": "1 / 0"})
    assert "not an arithmetic expression" in calculator.invoke({"expression": "open('x')"})
    assert calculator.invoke({"expression": "2 ** 10"}) == "2 ** 10 = 1024"
    assert "exponent 387420489 is too large" in calculator.invoke({"expression": "9 ** 9 ** 9"})
    assert lookup.invoke({"topic": "Mars"}).startswith("no entry for 'Mars'; known topics:")


def test_openai_key_selects_chat_openai_and_stays_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    config = MemoryConfig.from_env()
    assert config.openai_api_key_set
    assert "sk-test" not in repr(config) and "sk-test" not in str(vars(config))
    model = make_chat_model(config)
    assert isinstance(model, ChatOpenAI) and model.model_name == DEFAULT_OPENAI_MODEL
    # Both graphs wire a real model (structured output, tool binding) without calling it.
    build_plan_and_execute(model).compile()
    build_approval_graph(model).compile()


def test_no_openai_key_means_the_offline_model() -> None:
    assert MemoryConfig.from_env({"OPENAI_API_KEY": "  "}).openai_api_key_set is False
    assert isinstance(make_chat_model(MemoryConfig.from_env({})), ScriptedChatModel)
