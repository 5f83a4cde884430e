"""Memory quality: recall of the evidence and duplicates in the top 10, side by side in one process.

A generated multi-session conversation set: each user states facts about themselves over several
sessions; a langmem-style agent writes each mention as a new memory (new key), often the same
sentence again, sometimes re-worded, and some facts change between sessions (the user moves, gets
a new job). Questions ask for each fact; the evidence is the memories that hold its *current*
value. Every system stores the same memories with the same offline model (all-MiniLM-L6-v2, the
package's ``"local"`` embeddings, each distinct text embedded once for all of them) and answers
every question with ``search(("users", uid), query=question, limit=10)``:

* `PgVectorStore` in ``vector``, ``keyword`` and ``hybrid`` mode, each plain, with collapsing
  (``index["collapse"]``) and with collapsing + recency ranking (``index["ranking"]``);
* langgraph's ``PostgresStore`` and ``InMemoryStore`` (vector search).

Reported: recall@1/5/10 (a question counts when an evidence memory is in the top k) and the
duplicate share of the top 10 (results that repeat a fact already shown higher up, the stale
versions of a changed fact included). Writes the table and ``bench/results/memory_quality.png``.
Session times are spread one day apart (``updated_at`` set after loading, in the tables of our
store) so recency means something; langgraph's stores do not rank by time.

Run (about 2 minutes on a quiet 2-core machine at the default size)::

    .venv/bin/python bench/bench_memory_quality.py            # 24 users
    .venv/bin/python bench/bench_memory_quality.py --users 3  # smoke run
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, PutOp
from langgraph.store.memory import InMemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_store import fresh_db, server_url
from langgraph_hybrid_memory import PgVectorStore
from langgraph_hybrid_memory._embeddings import resolve_embeddings
from langgraph_hybrid_memory._pg import get_connection

RESULTS = Path(__file__).resolve().parent / "results"
SESSIONS = 6
K = 10

# fact -> (values, statement templates, question, how often a session mentions it)
FACTS: dict[str, tuple[list[str], list[str], str]] = {
    "home": (
        ["Lisbon", "Porto", "Madrid", "Berlin", "Oslo", "Dublin", "Vienna", "Prague"],
        ["I live in {v}.", "My home is in {v}.", "The user lives in {v}.", "home city: {v}"],
        "Which city does the user live in?",
    ),
    "work_city": (
        ["Lisbon", "Porto", "Madrid", "Berlin", "Oslo", "Dublin", "Vienna", "Prague"],
        ["I commute to {v} for work.", "My office is in {v}.", "The user works in {v}."],
        "Where is the user's office?",
    ),
    "travel": (
        ["Tokyo", "Lima", "Cairo", "Hanoi", "Quito", "Nairobi", "Seoul", "Havana"],
        [
            "I'd love to visit {v} next year.",
            "Dream trip: {v}.",
            "The user wants to travel to {v}.",
        ],
        "Where does the user want to travel?",
    ),
    "pet": (
        ["Miso", "Biscuit", "Pepper", "Nori", "Tofu", "Mango", "Ziggy", "Olive"],
        ["My dog is called {v}.", "I walk my dog {v} every morning.", "The user's dog: {v}."],
        "What is the name of the user's dog?",
    ),
    "job": (
        ["nurse", "architect", "teacher", "plumber", "chemist", "pilot", "baker", "lawyer"],
        ["I work as a {v}.", "My job: {v}.", "The user is a {v} by profession."],
        "What does the user do for a living?",
    ),
    "cuisine": (
        ["Portuguese", "Thai", "Ethiopian", "Peruvian", "Korean", "Lebanese", "Georgian"],
        ["I love {v} food.", "Favourite cuisine: {v}.", "The user enjoys {v} cooking."],
        "What food does the user like?",
    ),
    "allergy": (
        ["peanuts", "shellfish", "gluten", "lactose", "sesame", "kiwi"],
        ["I'm allergic to {v}.", "Allergy: {v}.", "The user cannot eat {v}."],
        "What is the user allergic to?",
    ),
    "sport": (
        ["tennis", "rowing", "climbing", "judo", "cycling", "squash", "fencing"],
        ["I play {v} on weekends.", "Weekend sport: {v}.", "The user practises {v}."],
        "Which sport does the user practise?",
    ),
    "budget": (
        ["40 euros", "55 euros", "70 euros", "90 euros", "120 euros"],
        ["My daily budget is {v}.", "Budget per day: {v}.", "The user spends at most {v} a day."],
        "What is the user's daily budget?",
    ),
    "language": (
        ["Italian", "Japanese", "Swahili", "Polish", "Greek", "Hindi"],
        ["I'm learning {v}.", "Currently studying {v}.", "The user takes {v} lessons."],
        "Which language is the user learning?",
    ),
}
# Facts that change between sessions (the user moves, changes jobs, raises the budget).
CHANGING = ("home", "job", "budget", "work_city")


@dataclass
class Memory:
    user: str
    key: str
    fact: str
    value: str
    text: str
    session: int


@dataclass
class Question:
    user: str
    fact: str
    text: str
    current: str


def generate(users: int, seed: int = 7) -> tuple[list[Memory], list[Question]]:
    rng = random.Random(seed)
    memories: list[Memory] = []
    questions: list[Question] = []
    for u in range(users):
        user = f"user{u:03d}"
        values = {f: rng.choice(v) for f, (v, _, _) in FACTS.items()}
        changes = {f: rng.randrange(2, SESSIONS) for f in rng.sample(CHANGING, 2)}
        for s in range(SESSIONS):
            for fact, (choices, templates, _) in FACTS.items():
                if fact in changes and s == changes[fact]:
                    values[fact] = rng.choice([c for c in choices if c != values[fact]])
                # Some facts come up often (and are written again and again), others rarely.
                weight = 0.9 if fact in ("home", "work_city", "pet", "travel") else 0.45
                if rng.random() > weight and not (s == SESSIONS - 1 and fact in changes):
                    continue
                for _ in range(rng.choice((1, 1, 2, 3))):
                    # The agent mostly repeats its favourite wording: exact duplicates.
                    tpl = templates[0] if rng.random() < 0.6 else rng.choice(templates)
                    memories.append(
                        Memory(
                            user,
                            f"m-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
                            fact,
                            values[fact],
                            tpl.format(v=values[fact]),
                            s,
                        )
                    )
        for fact, (_, _, question) in FACTS.items():
            if any(m.user == user and m.fact == fact for m in memories):
                questions.append(Question(user, fact, question, values[fact]))
    return memories, questions


class MemoEmbeddings(Embeddings):
    """Each distinct text embedded once, for every store of the run."""

    def __init__(self, inner: Embeddings) -> None:
        self.inner = inner
        self.cache: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.embed_documents(missing), strict=True))
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _puts(memories: Sequence[Memory]) -> list[PutOp]:
    return [
        PutOp(
            ("users", m.user, "memories"),
            m.key,
            {"text": m.text, "fact": m.fact, "session": m.session},
        )
        for m in memories
    ]


def load(store: BaseStore, memories: Sequence[Memory], batch: int = 200) -> None:
    ops = _puts(memories)
    for i in range(0, len(ops), batch):
        store.batch(ops[i : i + batch])


def evaluate(
    store: BaseStore, questions: Sequence[Question], by_key: dict[str, Memory]
) -> dict[str, float]:
    hits = {1: 0, 5: 0, 10: 0}
    dups = shown = 0
    start = time.perf_counter()
    for q in questions:
        results = store.search(("users", q.user), query=q.text, limit=K)
        seen: set[str] = set()
        for rank, item in enumerate(results, start=1):
            m = by_key[item.key]
            shown += 1
            if m.fact in seen:
                dups += 1  # the same fact again (a copy, a re-wording or a stale value)
            seen.add(m.fact)
            if m.fact == q.fact and m.value == q.current:
                for k in hits:
                    if rank <= k and not getattr(q, f"_hit{k}", False):
                        hits[k] += 1
                        setattr(q, f"_hit{k}", True)
        for k in hits:
            if hasattr(q, f"_hit{k}"):
                delattr(q, f"_hit{k}")
    n = len(questions)
    return {
        "recall@1": hits[1] / n,
        "recall@5": hits[5] / n,
        "recall@10": hits[10] / n,
        "dup_share@10": dups / max(1, shown),
        "ms_per_search": 1000 * (time.perf_counter() - start) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--threshold", type=float, default=0.85)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    t0 = time.perf_counter()
    memories, questions = generate(args.users, args.seed)
    by_key = {m.key: m for m in memories}
    distinct = len({m.text for m in memories})
    print(
        f"{args.users} users, {len(memories)} memories ({distinct} distinct texts), "
        f"{len(questions)} questions"
    )
    emb = MemoEmbeddings(resolve_embeddings("local"))  # type: ignore[arg-type]
    emb.embed_documents([m.text for m in memories] + [q.text for q in questions])
    base = {"dims": 384, "embed": emb, "fields": ["text"]}
    collapse = {"threshold": args.threshold}
    ranking = {"relevance": 1.0, "recency": 0.3, "half_life_days": 2.0}
    rows: list[tuple[str, dict[str, float]]] = []
    with server_url() as admin, fresh_db(admin) as url:
        conn = get_connection(url)
        writer = PgVectorStore(conn, index=base)  # type: ignore[arg-type]
        writer.setup()
        load(writer, memories)
        # Session s happened SESSIONS - s days ago (our store's tables only; see docstring).
        sessions = [(m.user, m.key, SESSIONS - m.session) for m in memories]
        with conn.cursor() as cur:
            cur.execute(
                "UPDATE memory.items i SET updated_at = now() - make_interval(days => q.d), "
                "created_at = now() - make_interval(days => q.d) "
                "FROM unnest(%s::text[], %s::text[], %s::int[]) AS q(u, k, d) "
                "WHERE i.namespace[2] = q.u AND i.key = q.k",
                (
                    [u for u, _, _ in sessions],
                    [k for _, k, _ in sessions],
                    [d for *_, d in sessions],
                ),
            )
        for mode in ("vector", "keyword", "hybrid"):
            for label, extra in (
                ("", {}),
                (" + collapse", {"collapse": collapse}),
                (" + collapse + recency", {"collapse": collapse, "ranking": ranking}),
            ):
                reader = PgVectorStore(conn, index={**base, "search_mode": mode, **extra})  # type: ignore[arg-type]
                rows.append((f"PgVectorStore {mode}{label}", evaluate(reader, questions, by_key)))
        from langgraph.store.postgres import PostgresStore

        with PostgresStore.from_conn_string(
            url, index={"dims": 384, "embed": emb, "fields": ["text"]}
        ) as pgstore:
            pgstore.setup()
            load(pgstore, memories)
            rows.append(("langgraph PostgresStore", evaluate(pgstore, questions, by_key)))
        mem = InMemoryStore(index={"dims": 384, "embed": emb, "fields": ["text"]})  # type: ignore[typeddict-item]
        # One put per batch: InMemoryStore fails a batch that holds one text twice ("Number of
        # embeddings does not match number of indices", langgraph 1.x).
        load(mem, memories, batch=1)
        rows.append(("langgraph InMemoryStore", evaluate(mem, questions, by_key)))
        conn.close()
    cols = ["recall@1", "recall@5", "recall@10", "dup_share@10", "ms_per_search"]
    print(f"\n| system | {' | '.join(cols)} |")
    print("|---|" + "---|" * len(cols))
    for name, r in rows:
        print(
            f"| {name} | "
            + " | ".join(f"{r[c]:.3f}" if c != "ms_per_search" else f"{r[c]:.1f}" for c in cols)
            + " |"
        )
    res = dict(rows)
    vec = res["PgVectorStore vector"]
    best = res["PgVectorStore hybrid + collapse"]
    print(
        f"\nhybrid + collapse vs vector only: recall@10 {best['recall@10']:.3f} vs "
        f"{vec['recall@10']:.3f} (target: higher); duplicate share {best['dup_share@10']:.3f} vs "
        f"{vec['dup_share@10']:.3f} (target: at most half, ratio "
        f"{best['dup_share@10'] / max(vec['dup_share@10'], 1e-9):.2f})"
    )
    _plot(rows)
    print(f"total {time.perf_counter() - t0:.0f} s")


def _plot(rows: list[tuple[str, dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(exist_ok=True)
    names = [n.replace("PgVectorStore ", "") for n, _ in rows]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    y = range(len(rows))
    axes[0].barh(list(y), [r["recall@10"] for _, r in rows], color="tab:blue")
    axes[0].set_xlabel("recall@10 of the current fact")
    axes[1].barh(list(y), [r["dup_share@10"] for _, r in rows], color="tab:red")
    axes[1].set_xlabel("share of duplicates in the top 10")
    axes[0].set_yticks(list(y), names)
    axes[0].invert_yaxis()
    fig.suptitle("Memory quality: PgVectorStore modes vs langgraph's stores (all-MiniLM-L6-v2)")
    fig.tight_layout()
    out = RESULTS / "memory_quality.png"
    fig.savefig(out, dpi=110)
    print(f"plot: {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
