"""The inspector page served at ``/``: server-rendered HTML and a little JavaScript.

The page itself carries no data (it is served without a token); its script asks for the token
(kept in the tab's ``sessionStorage``) and reads everything through the API, so the page can do
exactly what that token may. Every value is inserted as text (``textContent``), never as HTML.
"""

from __future__ import annotations

import html

__all__ = ["inspector_html"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lghm inspector</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: 10px 18px; display: flex; gap: 18px;
         align-items: center; }
header h1 { font-size: 16px; margin: 0; }
header .backend { opacity: .75; }
main { padding: 14px 18px; display: grid; gap: 14px; grid-template-columns: 1fr 1fr; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 10px 14px; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 14px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eef0f4;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #6b7385; }
.error { color: #b3261e; }
button { cursor: pointer; }
button.danger { color: #fff; background: #b3261e; border: 0; border-radius: 4px;
                padding: 4px 10px; }
input, select { padding: 3px 6px; }
</style></head>
<body>
<header><h1>lghm inspector</h1>
<span class="backend">MEMORY_TYPE=__MEMORY_TYPE__</span>
<label>token <input id="token" type="password" size="28" placeholder="__TOKEN_HINT__"></label>
<label>user <select id="user-select"><option value="">(pick a user)</option></select></label>
<input id="user-input" placeholder="or type a user id" size="16">
<button id="open-user">open</button>
<span id="message" class="error" role="status"></span>
</header>
<main>
<section class="wide" id="memories-section"><h2>Memories of <span id="current-user">-</span></h2>
<form id="search-form"><input id="query" placeholder="search memories" size="40">
<select id="mode"><option value="">store default</option><option>hybrid</option>
<option>vector</option><option>keyword</option></select>
<button type="submit" id="search-button">search</button>
<button type="button" id="list-button">latest</button>
<button type="button" class="danger" id="forget-button">forget this user</button></form>
<table id="memories"><thead><tr><th>score</th><th>namespace</th><th>key</th><th>text</th>
<th>updated</th><th></th></tr></thead><tbody></tbody></table></section>
<section id="threads-section"><h2>Threads</h2>
<table id="threads"><thead><tr><th>thread</th><th>local</th><th>postgres</th>
<th>latest</th><th>state</th></tr></thead><tbody></tbody></table></section>
<section id="outbox-section"><h2>Outbox</h2>
<table id="outbox"><tbody></tbody></table>
<h2>Dead letters</h2>
<table id="dead"><thead><tr><th>seq</th><th>kind</th><th>attempts</th><th>error</th></tr></thead>
<tbody></tbody></table></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const tokenBox = $("token");
tokenBox.value = sessionStorage.getItem("lghm-token") || "";
tokenBox.addEventListener("change", () => {
  sessionStorage.setItem("lghm-token", tokenBox.value); loadUsers(); loadOutbox();
});
let currentUser = null;

function say(text) { $("message").textContent = text || ""; }

async function api(method, path, body) {
  const headers = {"Content-Type": "application/json"};
  if (tokenBox.value) headers["Authorization"] = "Bearer " + tokenBox.value;
  const resp = await fetch(path, {method, headers, body: body ? JSON.stringify(body) : undefined});
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    throw new Error(resp.status + ": " + detail);
  }
  return data;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tableId, rows, empty) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren();
  if (!rows.length && empty) {
    const tr = document.createElement("tr");
    const td = cell(tr, empty, "muted");
    td.colSpan = 6;
    body.appendChild(tr);
  }
  for (const r of rows) body.appendChild(r);
}

function textOf(value) {
  if (value && typeof value.text === "string") return value.text;
  return JSON.stringify(value);
}

function showMemories(results) {
  fill("memories", results.map((m) => {
    const tr = document.createElement("tr");
    tr.className = "memory";
    tr.dataset.key = m.key;
    cell(tr, m.score === null ? "" : m.score.toFixed(4), "num score");
    cell(tr, m.namespace.join("."));
    cell(tr, m.key);
    cell(tr, textOf(m.value), "text");
    cell(tr, m.updated_at.slice(0, 19).replace("T", " "), "muted");
    const del = document.createElement("button");
    del.textContent = "delete";
    del.className = "delete-memory";
    del.addEventListener("click", () => deleteMemory(m));
    cell(tr, "").appendChild(del);
    return tr;
  }), "no memories");
}

async function loadUsers() {
  try {
    const data = await api("GET", "/api/users");
    const select = $("user-select");
    select.replaceChildren(new Option("(pick a user)", ""));
    for (const u of data.users) {
      const n = Object.values(u.items).reduce((a, b) => Math.max(a, b), 0);
      select.appendChild(new Option(u.user_id + " (" + n + ")", u.user_id));
    }
    select.value = currentUser || "";
    say("");
  } catch (e) { say("users: " + e.message + " (a user token: type your user id)"); }
}

async function openUser(user) {
  if (!user) return;
  currentUser = user;
  $("current-user").textContent = user;
  await Promise.all([listMemories(), loadThreads()]);
}

async function listMemories() {
  try {
    const data = await api("GET", "/api/users/" + encodeURIComponent(currentUser) + "/memories");
    showMemories(data.results); say("");
  } catch (e) { say(e.message); }
}

async function searchMemories(event) {
  event.preventDefault();
  if (!currentUser) { say("pick a user first"); return; }
  const body = {user_id: currentUser, query: $("query").value, n_results: 20};
  if ($("mode").value) body.mode = $("mode").value;
  try { showMemories((await api("POST", "/api/memory/search", body)).results); say(""); }
  catch (e) { say(e.message); }
}

async function loadThreads() {
  try {
    const data = await api("GET", "/api/users/" + encodeURIComponent(currentUser) + "/threads");
    fill("threads", data.threads.map((t) => {
      const tr = document.createElement("tr");
      cell(tr, t.thread_id);
      cell(tr, t.checkpoints.local ?? "-", "num");
      cell(tr, t.checkpoints.postgres ?? "-", "num");
      cell(tr, t.latest ? (t.latest.ts || t.latest.checkpoint_id) : "-", "muted");
      const ch = t.latest && t.latest.channels ? t.latest.channels : {};
      cell(tr, Object.entries(ch).map(([k, v]) => k + ": " + v).join("\\n") || "-");
      return tr;
    }), "no threads");
  } catch (e) { say(e.message); }
}

async function loadOutbox() {
  try {
    const o = await api("GET", "/api/outbox");
    const rows = [["outbox depth", o.depth], ["oldest pending (s)", o.oldest_age_seconds ?? "-"],
                  ["dead letters", o.dead_letters], ["degraded", o.degraded ? "yes" : "no"],
                  ["last error", o.last_error || "-"]];
    fill("outbox", rows.map(([k, v]) => {
      const tr = document.createElement("tr"); cell(tr, k); cell(tr, v, "num"); return tr;
    }));
    fill("dead", o.dead.map((d) => {
      const tr = document.createElement("tr");
      cell(tr, d.seq, "num"); cell(tr, d.kind); cell(tr, d.attempts, "num");
      cell(tr, d.error, "error");
      return tr;
    }), "none");
  } catch (e) { fill("outbox", []); }
}

async function deleteMemory(m) {
  if (!confirm("Delete memory " + m.key + " of " + currentUser + "?")) return;
  const labels = m.namespace.slice(2).join(".");
  const path = "/api/users/" + encodeURIComponent(currentUser) + "/memories/" +
    encodeURIComponent(m.key) + "?namespace=" + encodeURIComponent(labels);
  try { await api("DELETE", path); await listMemories(); } catch (e) { say(e.message); }
}

async function forgetUser() {
  if (!currentUser) { say("pick a user first"); return; }
  const typed = prompt("This erases every memory and thread of " + currentUser +
                       " on both tiers. Type the user id to confirm:");
  if (typed !== currentUser) { say("forget cancelled"); return; }
  try {
    const report = await api("DELETE", "/api/users/" + encodeURIComponent(currentUser));
    const pg = (report.removed.postgres || {}).items || 0;
    const local = (report.removed.local || {}).items || 0;
    const done = "forgot " + currentUser + ": " + (pg + local) + " item rows, " +
        report.threads.length + " threads";
    // Refresh first: a successful listMemories() clears the message line.
    await Promise.all([listMemories(), loadThreads(), loadUsers()]);
    say(done);
  } catch (e) { say(e.message); }
}

$("user-select").addEventListener("change", (e) => openUser(e.target.value));
$("open-user").addEventListener("click", () => openUser($("user-input").value.trim()));
$("search-form").addEventListener("submit", searchMemories);
$("list-button").addEventListener("click", listMemories);
$("forget-button").addEventListener("click", forgetUser);
loadUsers(); loadOutbox();
</script>
</body></html>
"""


def inspector_html(*, memory_type: str, auth: bool) -> str:
    """The page, with the backend and the token hint rendered in."""
    hint = "admin or user token" if auth else "not needed (--no-auth)"
    return _PAGE.replace("__MEMORY_TYPE__", html.escape(memory_type)).replace(
        "__TOKEN_HINT__", html.escape(hint)
    )
