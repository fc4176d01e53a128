"""The web app in a real browser: Debian's chromium, headless, driven by Playwright, over sandbox data.

The sandbox company is generated, synced and reconciled once for the module (its emulators stay up,
so "pull again" reaches them); `tieout web`'s app is served by uvicorn in a thread on a free port.
Screenshots of the queue, a detail page and the dashboard are written to tests/artifacts/ each run.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from web_support import FAST_HASHER, PASSWORD

from tieout.config import load_config
from tieout.reconcile.queue import ExceptionQueue
from tieout.sandbox.config_writer import write_sandbox_config
from tieout.sandbox.faults import FaultProfile
from tieout.sandbox.runtime import Sandbox, SandboxOptions
from tieout.sandbox.scenario.generate import generate
from tieout.sandbox.verify import verify_running
from tieout.scheduler.ar_snapshot import take_ar_snapshot
from tieout.store import ExceptionQuery, Store
from tieout.web.accounts import Accounts
from tieout.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def sandbox_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Store]]:
    workdir = tmp_path_factory.mktemp("web-sandbox")
    sandbox = Sandbox(SandboxOptions(workdir=workdir, seed=42, faults=FaultProfile())).start()
    try:
        answer_key = generate(sandbox, seed=42)
        description = sandbox.describe()
        description["answer_key_path"] = str(answer_key.write_answer_key(workdir / "answer_key.json"))
        description["config_path"] = str(
            write_sandbox_config(description, workdir, value_maps=answer_key["value_maps"])
        )
        _, failures = verify_running(description, "observe")
        assert failures == []
        config = load_config(workdir / "verify-observe.yaml")
        store = Store.open(config.store_url)
        accounts = Accounts(store, hasher=FAST_HASHER)
        accounts.add_user("ana", PASSWORD, "resolver", display_name="Ana Lopez")
        accounts.add_user("vic", PASSWORD, "viewer", display_name="Victor Chen")
        accounts.add_user("root", PASSWORD, "admin", display_name="Ada Admin")
        today = datetime.now(UTC)
        for days_ago in (90, 60, 30, 0):
            take_ar_snapshot(store, as_of=(today - timedelta(days=days_ago)).date(), taken_at=today)
        yield config, store
        store.close()
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def base_url(sandbox_store: tuple[Any, Store]) -> Iterator[str]:
    config, store = sandbox_store
    app = create_app(config, store, password_hasher=FAST_HASHER)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, base_url: str) -> Iterator[BrowserContext]:
    opened = browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 900})
    yield opened
    opened.close()


def log_in(page: Page, username: str, then: str = "/queue") -> None:
    page.goto(then)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def unlabelled_controls(page: Page) -> list[str]:
    """Form controls on the page with neither a label nor an accessible name of their own."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML)"""
    )
    return found


def exception_of(store: Store, rule: str) -> int:
    rows, _ = ExceptionQueue(store).list(ExceptionQuery(rule_codes=[rule], sort="id", limit=1))
    return rows[0].exception_id


def open_exception(context: BrowserContext, store: Store, username: str, rule: str) -> tuple[Page, int]:
    """Log in and open the first open exception of a rule; returns the page and the exception's id."""
    page = context.new_page()
    log_in(page, username)
    exception_id = exception_of(store, rule)
    page.goto(f"/exceptions/{exception_id}")
    return page, exception_id


def test_anonymous_requests_redirect_to_login(context: BrowserContext) -> None:
    page = context.new_page()
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fdashboard$"))
    expect(page.get_by_role("heading", name="Log in to tieout")).to_be_visible()


def test_log_in_and_filter_the_queue(context: BrowserContext) -> None:
    page = context.new_page()
    log_in(page, "ana")
    expect(page.get_by_role("heading", name=re.compile("Exceptions"))).to_be_visible()
    screenshot(page, "queue")
    page.get_by_label("Type of difference").select_option(label="Invoice missing in NetSuite")
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"rule=INVOICE_MISSING_IN_NETSUITE.*currency=EUR"))
    titles = page.locator("table.queue tbody tr td:nth-child(3)").all_inner_texts()
    amounts = page.locator("table.queue tbody tr td.money").all_inner_texts()
    assert titles and all(title.startswith("Invoice missing in NetSuite") for title in titles)
    assert all(amount.endswith("EUR") for amount in amounts)
    # The view is its URL: loading it again gives the same rows.
    page.reload()
    assert page.locator("table.queue tbody tr td:nth-child(3)").all_inner_texts() == titles


def test_an_exception_shows_its_differing_fields_highlighted(
    context: BrowserContext, sandbox_store: tuple[Any, Store]
) -> None:
    page, _ = open_exception(context, sandbox_store[1], "ana", "CUSTOMER_NAME_MISMATCH")
    compare = page.get_by_role("table").filter(has_text="Legal name").first
    differing = compare.locator("tr.differs")
    expect(differing).to_have_count(1)
    expect(differing.locator("th")).to_have_text("Legal name")
    expect(differing.locator("td").nth(0)).not_to_have_text(differing.locator("td").nth(1).inner_text())
    background = differing.locator("td").first.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
    page.get_by_text("Every field, side by side").click()
    screenshot(page, "detail")


def test_resolving_writes_an_audit_row(context: BrowserContext, sandbox_store: tuple[Any, Store]) -> None:
    page, exception_id = open_exception(context, sandbox_store[1], "ana", "PAYOUT_DEPOSIT_MISMATCH")
    page.get_by_label("What was done").fill("Fee journal posted in NetSuite")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_have_text("Resolved.")
    latest = page.locator("ol.history li").first
    expect(latest).to_contain_text("Resolved by ana")
    expect(latest).to_contain_text("Fee journal posted in NetSuite")
    assert ExceptionQueue(sandbox_store[1]).show(exception_id).events[-1].actor == "ana"


def test_pulling_the_source_records_again_from_the_page(
    context: BrowserContext, sandbox_store: tuple[Any, Store]
) -> None:
    page, _ = open_exception(context, sandbox_store[1], "ana", "CUSTOMER_CURRENCY_MISMATCH")
    page.get_by_role("button", name="Pull the source records again now").click()
    expect(page.get_by_role("status")).to_contain_text("Pulled again")
    expect(page.locator("ol.history li").first).to_contain_text("Source record pulled again by ana")


def test_a_viewer_has_no_resolve_button_and_the_post_is_refused(
    context: BrowserContext, sandbox_store: tuple[Any, Store]
) -> None:
    page, exception_id = open_exception(context, sandbox_store[1], "vic", "INVOICE_TOTAL_DIFFERS")
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    response = page.request.post(
        f"/exceptions/{exception_id}/resolve", form={"note": "viewer tries", "csrf_token": csrf or ""}
    )
    assert response.status == 403
    assert ExceptionQueue(sandbox_store[1]).show(exception_id).exception.status == "open"


def test_a_forged_post_without_csrf_token_is_refused(
    context: BrowserContext, sandbox_store: tuple[Any, Store]
) -> None:
    page = context.new_page()
    log_in(page, "ana")
    exception_id = exception_of(sandbox_store[1], "INVOICE_TOTAL_DIFFERS")
    response = page.request.post(f"/exceptions/{exception_id}/resolve", form={"note": "forged"})
    assert response.status == 403
    assert "did not come from a page of tieout" in response.text()
    assert ExceptionQueue(sandbox_store[1]).show(exception_id).exception.status == "open"


def test_the_dashboard_draws_its_charts(context: BrowserContext) -> None:
    page = context.new_page()
    log_in(page, "vic", then="/dashboard")
    expect(page.get_by_role("img", name="Open AR in USD by age")).to_be_visible()
    expect(page.get_by_role("img", name="DSO in days over time")).to_be_visible()
    expect(page.get_by_role("heading", name="Sync health")).to_be_visible()
    screenshot(page, "dashboard")


def test_pages_are_keyboard_usable_with_labelled_controls(
    context: BrowserContext, sandbox_store: tuple[Any, Store]
) -> None:
    page = context.new_page()
    log_in(page, "ana")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # Whatever the keyboard reaches next shows where the focus is.
    page.keyboard.press("Tab")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    exception_id = exception_of(sandbox_store[1], "INVOICE_TOTAL_DIFFERS")
    for path in ("/queue", f"/exceptions/{exception_id}", "/dashboard", "/login"):
        page.goto(path)
        assert unlabelled_controls(page) == [], path
    # The queue's filters work from the keyboard: choose a rule with the arrow keys, submit with Enter.
    page.goto("/queue")
    page.get_by_label("Type of difference").focus()
    page.keyboard.press("ArrowDown")
    page.get_by_role("button", name="Apply filters").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"rule="))


def test_the_admins_users_page_has_labelled_controls(context: BrowserContext) -> None:
    page = context.new_page()
    log_in(page, "root", then="/admin/users")
    expect(page.get_by_role("button", name="Disable vic")).to_be_visible()
    assert unlabelled_controls(page) == []
