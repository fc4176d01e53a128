"""The admins' users page: list, add, disable and enable users, admins only, with the CSRF token."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient
from web_support import log_in

AsUser = Callable[[str], tuple[TestClient, str]]


def test_only_admins_reach_the_users_page(as_user: AsUser) -> None:
    resolver, csrf = as_user("ana")
    assert resolver.get("/admin/users").status_code == 403
    assert "/admin/users" not in resolver.get("/queue").text
    refused = resolver.post(
        "/admin/users", data={"username": "eve", "password": "x" * 12, "csrf_token": csrf}
    )
    assert refused.status_code == 403
    admin, _ = as_user("root")
    page = admin.get("/admin/users").text
    assert all(name in page for name in ("ana", "vic", "root"))


def test_an_admin_adds_disables_and_enables_a_user(
    as_user: AsUser, make_client: Callable[..., TestClient]
) -> None:
    admin, csrf = as_user("root")
    short = admin.post(
        "/admin/users", data={"username": "dee", "password": "short", "role": "viewer", "csrf_token": csrf}
    )
    assert "The password must be at least 10 characters long." in short.text
    added = admin.post(
        "/admin/users",
        data={
            "username": "Dee",
            "display_name": "Dee Park",
            "password": "a long password",
            "role": "resolver",
            "csrf_token": csrf,
        },
    )
    assert "Added dee (resolver)." in added.text
    dee = make_client()
    log_in(dee, "dee", "a long password")
    assert "Dee Park" in dee.get("/queue").text
    assert "dee disabled." in admin.post("/admin/users/dee/disable", data={"csrf_token": csrf}).text
    assert dee.get("/queue", follow_redirects=False).status_code == 303
    assert "dee enabled." in admin.post("/admin/users/dee/enable", data={"csrf_token": csrf}).text
    assert (
        "You cannot disable yourself."
        in admin.post("/admin/users/root/disable", data={"csrf_token": csrf}).text
    )
    assert admin.post("/admin/users/dee/disable").status_code == 403  # no CSRF token
