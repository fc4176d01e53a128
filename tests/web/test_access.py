"""The web app's access rules over HTTP: login, sessions, cookies, CSRF, roles and the login rate limit."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from httpx import Response
from sqlalchemy import select
from starlette.testclient import TestClient
from web_support import FAST_HASHER, PASSWORD, Clock, csrf_of, log_in, login_token, post_login

from tieout.config import TieoutConfig
from tieout.reconcile.queue import ExceptionQueue
from tieout.store import Store
from tieout.store.schema import web_sessions
from tieout.web.app import create_app

Client = Callable[..., TestClient]
AsUser = Callable[[str], tuple[TestClient, str]]


def session_cookie(response: Response) -> str:
    return next(
        value for value in response.headers.get_list("set-cookie") if value.startswith("tieout_session=")
    )


@pytest.mark.parametrize(
    "path",
    ["/", "/queue", "/queue?rule=INVOICE_TOTAL_DIFFERS", "/dashboard", "/exceptions/1", "/queue/export"],
)
def test_anonymous_requests_are_sent_to_the_login_page(make_client: Client, path: str) -> None:
    response = make_client().get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_anonymous_posts_change_nothing(make_client: Client, web_store: Store) -> None:
    response = make_client().post("/exceptions/1/resolve", data={"note": "done"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert ExceptionQueue(web_store).show(1).exception.status == "open"


def test_the_login_page_health_and_static_assets_need_no_login(make_client: Client) -> None:
    client = make_client()
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/static/app.css").status_code == 200


def test_logging_in_sets_a_hardened_cookie_and_stores_only_its_hash(
    make_client: Client, web_store: Store
) -> None:
    client = make_client()
    response = post_login(client, "ana", next_url="/dashboard")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    with web_store.transaction() as tx:
        stored = list(tx.connection.execute(select(web_sessions.c.session_hash)).scalars())
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert "Ana Lopez" in client.get("/queue").text


def test_the_session_cookie_is_secure_over_tls(make_client: Client) -> None:
    response = post_login(make_client("https://testserver"), "ana")
    assert "Secure" in session_cookie(response)


def test_after_login_the_app_only_goes_back_to_its_own_pages(make_client: Client) -> None:
    response = post_login(make_client(), "ana", next_url="//evil.test/x")
    assert response.headers["location"] == "/queue"


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(make_client: Client) -> None:
    client = make_client()
    wrong_password = client.post(
        "/login", data={"username": "ana", "password": "not the password", "csrf_token": login_token(client)}
    )
    unknown_user = client.post(
        "/login", data={"username": "nobody", "password": PASSWORD, "csrf_token": login_token(client)}
    )
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert (
        "Wrong username or password" in wrong_password.text
        and "Wrong username or password" in unknown_user.text
    )
    assert client.get("/queue", follow_redirects=False).status_code == 303
    # The form comes back with the username and the page asked for, not the password.
    again = post_login(client, "ana", "not the password", next_url="/dashboard").text
    assert 'value="ana"' in again and 'name="next" value="/dashboard"' in again
    assert "not the password" not in again


def test_a_login_form_without_its_csrf_token_is_refused(make_client: Client) -> None:
    client = make_client()
    client.get("/login")
    response = client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_logging_out_ends_the_session_on_the_server(as_user: AsUser, make_client: Client) -> None:
    client, csrf = as_user("ana")
    cookie = client.cookies["tieout_session"]
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    replay = make_client()
    replay.cookies.set("tieout_session", cookie)
    assert replay.get("/queue", follow_redirects=False).status_code == 303


def test_sessions_expire(as_user: AsUser, clock: Clock) -> None:
    client, _ = as_user("ana")
    clock.advance(hours=12, seconds=1)
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_a_forged_post_without_the_csrf_token_is_refused(as_user: AsUser, web_store: Store) -> None:
    client, csrf = as_user("ana")
    missing = client.post("/exceptions/1/resolve", data={"note": "forged"}, follow_redirects=False)
    wrong = client.post("/exceptions/1/resolve", data={"note": "forged", "csrf_token": csrf[:-2] + "xx"})
    bulk = client.post("/queue/bulk", data={"action": "resolve", "ids": ["1"], "note": "forged"})
    logout = client.post("/logout", follow_redirects=False)
    assert [missing.status_code, wrong.status_code, bulk.status_code, logout.status_code] == [403] * 4
    assert "did not come from a page of tieout" in missing.text
    assert ExceptionQueue(web_store).show(1).exception.status == "open"
    assert client.get("/queue", follow_redirects=False).status_code == 200  # still logged in


def test_a_resolver_resolves_and_the_audit_trail_names_them(as_user: AsUser, web_store: Store) -> None:
    client, csrf = as_user("ana")
    response = client.post(
        "/exceptions/1/resolve",
        data={"note": "credit memo CM-7 posted", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/exceptions/1"
    detail = ExceptionQueue(web_store).show(1)
    assert detail.exception.status == "resolved"
    assert (detail.events[-1].actor, detail.events[-1].action, detail.events[-1].note) == (
        "ana",
        "resolved",
        "credit memo CM-7 posted",
    )
    page = client.get("/exceptions/1").text
    assert "Resolved." in page and "credit memo CM-7 posted" in page


def test_a_viewer_reads_but_cannot_act(as_user: AsUser, web_store: Store) -> None:
    client, csrf = as_user("vic")
    page = client.get("/exceptions/1").text
    assert "Explanation of finding 1." in page
    assert "/exceptions/1/resolve" not in page and 'id="bulk"' not in client.get("/queue").text
    for path, data in [
        ("/exceptions/1/resolve", {"note": "x"}),
        ("/exceptions/1/assign", {"assignee": "vic"}),
        ("/exceptions/1/comment", {"note": "x"}),
        ("/queue/bulk", {"action": "resolve", "ids": ["1"], "note": "x"}),
    ]:
        response = client.post(path, data={**data, "csrf_token": csrf})
        assert response.status_code == 403, path
        assert "cannot do this" in response.text
    assert ExceptionQueue(web_store).show(1).events[-1].action == "opened"
    assert client.get("/queue/export?format=csv").status_code == 200


def test_failed_logins_are_rate_limited_per_user_and_per_client(make_client: Client, clock: Clock) -> None:
    client = make_client()
    for _ in range(3):
        refused = client.post(
            "/login", data={"username": "ana", "password": "guess guess", "csrf_token": login_token(client)}
        )
        assert refused.status_code == 401
    # Even the right password is refused while the limit holds, and so is another user from here.
    for username in ("ana", "vic"):
        limited = client.post(
            "/login", data={"username": username, "password": PASSWORD, "csrf_token": login_token(client)}
        )
        assert limited.status_code == 429 and "Too many failed logins" in limited.text
    clock.advance(seconds=61)
    assert log_in(client, "ana")


def test_disabling_a_user_ends_their_sessions(as_user: AsUser, web_store: Store, clock: Clock) -> None:
    from tieout.web.accounts import Accounts

    client, _ = as_user("ana")
    Accounts(web_store, clock=clock, hasher=FAST_HASHER).set_disabled("ana")
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_pages_carry_security_headers(as_user: AsUser) -> None:
    client, _ = as_user("ana")
    headers = client.get("/queue").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert csrf_of(client.get("/exceptions/2").text)


def test_metrics_need_an_admin_unless_the_app_is_on_loopback_only(
    make_client: Client, as_user: AsUser, web_config: TieoutConfig, web_store: Store, clock: Clock
) -> None:
    assert make_client().get("/metrics", follow_redirects=False).status_code == 303
    viewer, _ = as_user("vic")
    assert viewer.get("/metrics").status_code == 403
    admin, _ = as_user("root")
    scraped = admin.get("/metrics")
    assert scraped.status_code == 200 and "tieout_open_exceptions" in scraped.text
    open_app = create_app(web_config, web_store, clock=clock, open_metrics=True, password_hasher=FAST_HASHER)
    with TestClient(open_app) as anonymous:
        assert anonymous.get("/metrics").status_code == 200


def test_webhooks_are_reached_without_a_login_and_judged_by_their_signature(make_client: Client) -> None:
    response = make_client().post(
        "/webhooks/stripe", content=b'{"id": "evt_1"}', headers={"Stripe-Signature": "t=1,v1=forged"}
    )
    # Not sent to the login page nor refused for a missing CSRF token: the receiver judges the signature.
    assert response.status_code == 400
    assert response.json()["status"] == "forged"


def test_an_unknown_page_is_a_plain_not_found_page(as_user: AsUser) -> None:
    client, _ = as_user("vic")
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "There is no such page." in response.text
