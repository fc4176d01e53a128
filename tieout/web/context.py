"""What every page handler shares: the services, the templates, and rendering with a flash message.

A flash message (the outcome of an action, shown once on the page the action redirects to)
travels in a short-lived cookie rather than in the URL, so nobody can craft a link that makes
the app say something it did not.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from tieout.config import TieoutConfig
from tieout.reconcile.queue import ExceptionQueue
from tieout.store import Store
from tieout.web import formatting
from tieout.web.accounts import Accounts

FLASH_COOKIE = "tieout_flash"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(files("tieout.web") / "templates"))
    templates.env.filters.update(formatting.FILTERS)
    templates.env.trim_blocks = True
    templates.env.lstrip_blocks = True
    return templates


@dataclass
class WebContext:
    config: TieoutConfig
    store: Store
    queue: ExceptionQueue
    accounts: Accounts
    clock: Callable[[], datetime]
    templates: Jinja2Templates = field(default_factory=make_templates)
    secure_cookies: bool = False
    cache: dict[str, tuple[datetime, Any]] = field(default_factory=dict)


def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def render(request: Request, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    context = web_context(request)
    flash = _read_flash(request)
    response = context.templates.TemplateResponse(
        request,
        template,
        {"user": getattr(request.state, "user", None), "flash": flash, **values},
        status_code=status_code,
    )
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(
    request: Request, url: str, message: str | None = None, *, kind: str = "success"
) -> RedirectResponse:
    """303 to `url` (always a path in this app), carrying a message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        encoded = base64.urlsafe_b64encode(json.dumps({"kind": kind, "text": message}).encode()).decode()
        response.set_cookie(
            FLASH_COOKIE,
            encoded,
            max_age=60,
            path="/",
            httponly=True,
            samesite="lax",
            secure=web_context(request).secure_cookies or request.url.scheme == "https",
        )
    return response


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(value, dict) or value.get("kind") not in ("success", "error"):
        return None
    return {"kind": str(value["kind"]), "text": str(value.get("text", ""))}


def safe_next(target: str | None) -> str:
    """Where to go after logging in: only a path inside this app, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target
