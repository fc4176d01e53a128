"""The login page, logging in and out.

The login form has no session yet, so its CSRF token is a double-submit cookie: a random value
set with the form and sent back in it; a cross-site form cannot read or set that cookie.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from tieout.errors import LoginRefused, TooManyLoginAttempts
from tieout.web.context import redirect, render, safe_next, web_context
from tieout.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfRefused,
    Viewer,
    client_address,
    csrf_protected,
    set_session_cookie,
    uses_tls,
)

router = APIRouter()


def _login_page(
    request: Request,
    *,
    error: str | None = None,
    status_code: int = 200,
    username: str = "",
    next_url: str | None = None,
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        login_csrf=token,
        error=error,
        username=username,
        next=safe_next(next_url or request.query_params.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=uses_tls(request),
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
def log_in(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next_url: Annotated[str, Form(alias="next")] = "/queue",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        raise CsrfRefused
    try:
        session = web_context(request).accounts.log_in(username, password, client=client_address(request))
    except TooManyLoginAttempts as exc:
        message = str(exc)
        return _login_page(
            request,
            error=message[:1].upper() + message[1:] + ".",
            status_code=429,
            username=username,
            next_url=next_url,
        )
    except LoginRefused:
        return _login_page(
            request,
            error="Wrong username or password.",
            status_code=401,
            username=username,
            next_url=next_url,
        )
    response = redirect(request, safe_next(next_url))
    set_session_cookie(request, response, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[Depends(csrf_protected)])
def log_out(request: Request, user: Viewer) -> Response:
    web_context(request).accounts.log_out(user.session_hash)
    response = redirect(request, "/login", "You are logged out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
