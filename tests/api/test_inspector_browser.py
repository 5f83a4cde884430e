"""The inspector page in a real headless Chromium (Debian's, driven by Playwright): it loads,
a search shows the seeded memory with its score, deleting a memory and forgetting a user work
(with their confirmations). Writes docs/inspector.png."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langgraph_hybrid_memory import open_memory
from langgraph_hybrid_memory.api import create_app
from tests.api.browser import CHROMIUM_FLAGS, find_or_install_chromium
from tests.api.conftest import ADMIN_TOKEN, memory_config, running
from tests.api.test_http_api import put_thread
from tests.support import FakeEmbeddings

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "inspector.png"


@pytest.fixture(scope="module")
def chromium() -> Path:
    path, reason = find_or_install_chromium()
    if path is None:
        print(f"SKIPPED browser test: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return path


@pytest.fixture
def browser_page(chromium: Path) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            yield page
        finally:
            browser.close()


def test_inspector_search_delete_and_forget(browser_page: Any, pg_url: str, tmp_path: Path) -> None:
    page = browser_page
    cfg = memory_config("hybrid", pg_url, tmp_path)
    with open_memory(cfg, embeddings=FakeEmbeddings(dims=128)) as memory:
        from langgraph_hybrid_memory.admin import store_memory

        store_memory(memory.store, "ada", "Ada's home city is Lisbon", key="home-city")
        store_memory(memory.store, "ada", "Ada's daily budget is 40 euros", key="budget")
        store_memory(memory.store, "bob", "Bob cycles to work", key="cycling")
        store_memory(memory.store, "bob", "<img src=x onerror=alert(1)><b>bold</b>", key="html")
        api: Any = type("A", (), {"memory": memory})()
        put_thread(api, "ada-thread-1", "ada")
        with running(create_app(memory)) as url:
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url + "/")
            assert page.title() == "lghm inspector"
            page.fill("#token", ADMIN_TOKEN)
            page.dispatch_event("#token", "change")
            page.wait_for_selector("#user-select option[value='ada']", state="attached")
            page.select_option("#user-select", "ada")
            page.wait_for_selector("#memories tr.memory")
            assert page.locator("#memories tr.memory").count() == 2
            page.wait_for_selector("#threads td:text('ada-thread-1')")

            page.fill("#query", "Lisbon")
            page.select_option("#mode", "keyword")
            page.click("#search-button")
            page.wait_for_function("document.querySelectorAll('#memories tr.memory').length === 1")
            row = page.locator("#memories tr.memory").first
            assert "Lisbon" in row.locator("td.text").inner_text()
            assert float(row.locator("td.score").inner_text()) > 0
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            page.fill("#query", "")
            page.click("#list-button")
            page.wait_for_function("document.querySelectorAll('#memories tr.memory').length === 2")

            # Delete one memory: confirm() is accepted.
            page.once("dialog", lambda d: d.accept())
            page.locator("#memories tr.memory[data-key='budget'] button.delete-memory").click()
            page.wait_for_function("document.querySelectorAll('#memories tr.memory').length === 1")
            assert memory.store.get(("users", "ada", "memories"), "budget") is None

            # Forget: a wrong confirmation changes nothing, the user id erases everything.
            page.once("dialog", lambda d: d.accept("ad"))
            page.click("#forget-button")
            page.wait_for_selector("#message:text('forget cancelled')")
            assert memory.store.get(("users", "ada", "memories"), "home-city") is not None
            page.once("dialog", lambda d: d.accept("ada"))
            page.click("#forget-button")
            page.wait_for_selector("#message:has-text('forgot ada')")
            page.wait_for_selector("#memories td:text('no memories')")
            assert memory.store.search(("users", "ada")) == []
            assert (
                memory.checkpointer.get_tuple({"configurable": {"thread_id": "ada-thread-1"}})
                is None
            )
            assert memory.store.get(("users", "bob", "memories"), "cycling") is not None

            # Values are shown as text, never parsed as HTML.
            page.fill("#user-input", "bob")
            page.click("#open-user")
            page.wait_for_selector("#memories tr.memory[data-key='html']")
            assert page.locator("#memories img, #memories b").count() == 0
            assert "<b>bold</b>" in page.locator("tr[data-key='html'] td.text").inner_text()
            assert errors == []
    assert SCREENSHOT.stat().st_size > 10_000
