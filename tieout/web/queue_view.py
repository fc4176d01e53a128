"""The queue page: filter, sort and page the exceptions; counts per rule; bulk actions; export.

Paging, filtering and counting happen in the database (indexed, bound parameters), so a queue of
100,000 exceptions costs one page of rows and two counts per request. Bulk actions go through
`ExceptionQueue` one exception at a time, each with its own audit event naming the web user;
exceptions an action does not apply to are reported back, not silently skipped.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from tieout.errors import QueueError
from tieout.findings import SYNC_MAPPING_FAILED, SYNC_PUSH_REJECTED
from tieout.reconcile.export import to_csv, to_xlsx
from tieout.reconcile.rules import all_checks, all_rules
from tieout.store import StoredException
from tieout.store.queue import EXCEPTION_STATUSES
from tieout.web.context import WebContext, redirect, render, web_context
from tieout.web.queue_filters import AGES, PAGE_SIZES, SEVERITIES, SORTS, QueueView, preset_views
from tieout.web.security import Resolver, Viewer

router = APIRouter()
EXPORT_LIMIT = 200_000
FACETS_SECONDS = 60
_EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def rule_titles(context: WebContext) -> dict[str, str]:
    """Every rule code with its title, for filters and counts."""
    titles = {
        rule.code: rule.title for rule in all_rules(all_checks(context.config.field_mappings.value_maps))
    }
    titles[SYNC_MAPPING_FAILED] = "A pulled record could not be read"
    titles[SYNC_PUSH_REJECTED] = "A target system refused a record"
    return titles


def subsidiary_names(context: WebContext) -> dict[str, str]:
    """NetSuite subsidiary ids with the names the field mappings give them."""
    mapping = context.config.field_mappings.value_maps.get("netsuite_subsidiary", {})
    return {str(subsidiary_id): name for name, subsidiary_id in mapping.items()}


def assignable_users(context: WebContext) -> list[str]:
    return [
        user.username for user in context.accounts.list_users() if not user.disabled and user.role != "viewer"
    ]


def filter_values(context: WebContext) -> dict[str, list[str]]:
    """Assignees, subsidiaries and currencies in the queue, for the filter lists (re-read each minute)."""
    now = context.clock()
    cached = context.cache.get("facets")
    if cached is not None and now - cached[0] < timedelta(seconds=FACETS_SECONDS):
        facets: dict[str, list[str]] = cached[1]
        return facets
    with context.store.transaction() as tx:
        facets = tx.exception_facets()
    context.cache["facets"] = (now, facets)
    return facets


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, user: Viewer) -> Response:
    context = web_context(request)
    titles = rule_titles(context)
    view = QueueView.from_params(request.query_params, titles)
    query = view.query(context.clock())
    with context.store.transaction() as tx:
        rows = tx.exception_page(query)
        per_rule = tx.count_matching_by_rule(query)
    # The counts per rule add up to the total, which saves counting the matches a second time.
    total = sum(per_rule.get(code, 0) for code in view.rules) if view.rules else sum(per_rule.values())
    pages = max(1, -(-total // view.per_page))
    return render(
        request,
        "queue.html",
        view=view,
        rows=rows,
        total=total,
        pages=pages,
        per_rule=sorted(per_rule.items(), key=lambda item: (-item[1], item[0])),
        titles=titles,
        facets=filter_values(context),
        subsidiaries=subsidiary_names(context),
        statuses=EXCEPTION_STATUSES,
        severities=SEVERITIES,
        sorts=SORTS,
        ages=AGES,
        page_sizes=PAGE_SIZES,
        presets=preset_views(user.username),
        assignees=assignable_users(context),
        now=context.clock(),
    )


@router.post("/queue/bulk")
def bulk_action(
    request: Request,
    user: Resolver,
    action: Annotated[str, Form()],
    ids: Annotated[list[int] | None, Form()] = None,
    assignee: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/queue",
) -> Response:
    back = back if back.startswith("/queue") else "/queue"
    chosen = list(dict.fromkeys(ids or []))
    if not chosen:
        return redirect(request, back, "Tick at least one exception first.", kind="error")
    if action not in ("assign", "resolve", "ignore"):
        return redirect(request, back, "Choose what to do with the ticked exceptions.", kind="error")
    if action == "assign" and not assignee:
        return redirect(request, back, "Choose who to assign them to.", kind="error")
    if action in ("resolve", "ignore") and not note.strip():
        needed = "a note saying what was done" if action == "resolve" else "the reason they are expected"
        return redirect(request, back, f"Write {needed}.", kind="error")
    queue = web_context(request).queue
    done, refused = 0, []
    for exception_id in chosen:
        try:
            if action == "assign":
                queue.assign(exception_id, assignee, actor=user.username, note=note.strip() or None)
            elif action == "resolve":
                queue.resolve(exception_id, actor=user.username, note=note)
            else:
                queue.ignore(exception_id, actor=user.username, reason=note)
            done += 1
        except QueueError as exc:
            refused.append(f"#{exception_id}: {exc}")
    verb = {"assign": f"assigned to {assignee}", "resolve": "resolved", "ignore": "ignored"}[action]
    message = f"{done} exception{'s' if done != 1 else ''} {verb}."
    if refused:
        message += " Not changed: " + "; ".join(refused[:5]) + (" ..." if len(refused) > 5 else "")
    return redirect(request, back, message, kind="error" if refused else "success")


@router.get("/queue/export")
def export(request: Request, user: Viewer, format: str = "csv") -> Response:
    context = web_context(request)
    if format not in _EXPORT_TYPES:
        return redirect(request, "/queue", "Export as csv or xlsx.", kind="error")
    view = QueueView.from_params(request.query_params, rule_titles(context))
    now = context.clock()
    rows: list[StoredException] = []
    with context.store.transaction() as tx:
        while len(rows) < EXPORT_LIMIT:
            page, total = tx.query_exceptions(view.query(now, page_size=5000, offset=len(rows)))
            rows += page
            if not page or len(rows) >= total:
                break
    body = to_csv(rows) if format == "csv" else to_xlsx(rows)
    filename = f"tieout-exceptions-{now:%Y%m%d-%H%M}.{format}"
    return Response(
        body,
        media_type=_EXPORT_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
