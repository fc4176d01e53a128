"""Who may do what: the session cookie, role checks and the CSRF check, as FastAPI dependencies.

Every page router depends on `logged_in` (an anonymous request is sent to the login page) and on
`csrf_protected` (a POST whose form does not carry the session's CSRF token is refused with 403,
whatever the route). Roles are checked with `needs("resolver")` and the like. The session cookie
is HttpOnly and SameSite=Lax, and Secure whenever the app is reached over TLS.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Response

from tieout.web.accounts import NewSession, WebUser
from tieout.web.context import web_context

SESSION_COOKIE = "tieout_session"
LOGIN_CSRF_COOKIE = "tieout_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid session: the handler sends the browser to the login page."""


class Forbidden(Exception):
    """Logged in, but the user's role does not allow this."""


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


def uses_tls(request: Request) -> bool:
    return web_context(request).secure_cookies or request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, session: NewSession) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=web_context(request).accounts.session_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=uses_tls(request),
    )


def logged_in(request: Request) -> WebUser:
    user = web_context(request).accounts.session_user(request.cookies.get(SESSION_COOKIE, ""))
    if user is None:
        raise LoginRequired
    request.state.user = user
    return user


async def csrf_protected(request: Request, user: Annotated[WebUser, Depends(logged_in)]) -> None:
    if request.method in SAFE_METHODS:
        return
    form = await request.form()
    token = form.get("csrf_token")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), user.csrf_token.encode()):
        raise CsrfRefused


def needs(role: str) -> Callable[[WebUser], WebUser]:
    def check(user: Annotated[WebUser, Depends(logged_in)]) -> WebUser:
        if not user.can(role):
            raise Forbidden(f"Your role ({user.role}) cannot do this; it needs the {role} role.")
        return user

    return check


Viewer = Annotated[WebUser, Depends(logged_in)]
Resolver = Annotated[WebUser, Depends(needs("resolver"))]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
