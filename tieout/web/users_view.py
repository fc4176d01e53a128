"""The admins' page: who may log in, with which role; add a user, disable or enable one.

The same operations as `tieout users ...`, through `Accounts`, so the rules (roles, password
length, disabling ends the user's sessions) are the same. An admin cannot disable themselves,
so the app is never left without the admin who is using it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from tieout.errors import AccessError
from tieout.web.accounts import ROLES, WebUser
from tieout.web.context import redirect, render, web_context
from tieout.web.security import needs

router = APIRouter()
Admin = Annotated[WebUser, Depends(needs("admin"))]


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: Admin) -> Response:
    return render(request, "users.html", users=web_context(request).accounts.list_users(), roles=ROLES)


@router.post("/admin/users")
def add_user(
    request: Request,
    user: Admin,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
    password: Annotated[str, Form()] = "",
) -> Response:
    try:
        web_context(request).accounts.add_user(
            username, password, role, display_name=display_name.strip() or None
        )
    except AccessError as exc:
        problem = str(exc)
        return redirect(request, "/admin/users", problem[:1].upper() + problem[1:] + ".", kind="error")
    return redirect(request, "/admin/users", f"Added {username.strip().lower()} ({role}).")


@router.post("/admin/users/{username}/{change}")
def change_user(request: Request, username: str, change: str, user: Admin) -> Response:
    if change not in ("disable", "enable"):
        return render(request, "error.html", status_code=404, title="Not found", message="No such change.")
    if change == "disable" and username == user.username:
        return redirect(request, "/admin/users", "You cannot disable yourself.", kind="error")
    try:
        web_context(request).accounts.set_disabled(username, disabled=change == "disable")
    except AccessError as exc:
        return redirect(request, "/admin/users", str(exc), kind="error")
    return redirect(request, "/admin/users", f"{username} {change}d.")
