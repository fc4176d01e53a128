"""One exception: what it means, the values side by side, links into each system, related
exceptions for the same customer, its history and comments; and the actions that work it.

Every action goes through `ExceptionQueue`, which writes the audit event (the web user as actor)
in the same transaction as the change. An action the exception's status does not allow is
refused with the reason shown on the page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from tieout.errors import QueueError, TieoutError, UnknownException
from tieout.model import CanonicalRecord
from tieout.reconcile.queue import ExceptionQueue
from tieout.resync import ResyncService
from tieout.store import ExceptionQuery
from tieout.store.queue import EXCEPTION_STATUSES
from tieout.web.comparison import columns_for, other_details, record_comparison, rule_comparison
from tieout.web.context import redirect, render, web_context
from tieout.web.formatting import status_name
from tieout.web.queue_filters import QueueView
from tieout.web.queue_view import assignable_users, rule_titles, subsidiary_names
from tieout.web.security import Resolver, Viewer

router = APIRouter()
RELATED_LIMIT = 20
ACTIONS = ("assign", "resolve", "ignore", "reopen", "comment", "resync", "repush")


@router.get("/exceptions/{exception_id}", response_class=HTMLResponse)
def detail_page(request: Request, exception_id: int, user: Viewer) -> Response:
    context = web_context(request)
    try:
        detail = context.queue.show(exception_id)
    except UnknownException:
        return render(
            request,
            "error.html",
            status_code=404,
            title="Not found",
            message=f"There is no exception #{exception_id}.",
        )
    item = detail.exception
    record_ids = [record_id for record_id in item.record_ids if record_id.count(":") >= 2]
    with context.store.transaction() as tx:
        found: dict[str, CanonicalRecord | None] = {
            record_id: tx.get_canonical(record_id) for record_id in record_ids
        }
        streams = tx.record_streams(record_ids)
        related = []
        if item.customer_ref:
            rows, _ = tx.query_exceptions(
                ExceptionQuery(
                    statuses=EXCEPTION_STATUSES,
                    customer_ref=item.customer_ref,
                    sort="newest",
                    limit=RELATED_LIMIT + 1,
                )
            )
            related = [row for row in rows if row.exception_id != exception_id][:RELATED_LIMIT]
    columns = columns_for(record_ids, found, streams, context.config.web.record_links)
    records = [found.get(f"{column.system}:{column.kind}:{column.native_id}") for column in columns]
    return render(
        request,
        "detail.html",
        item=item,
        events=detail.events,
        comments=[event for event in detail.events if event.action == "commented"],
        rule_title=rule_titles(context).get(item.rule_code, item.rule_code),
        comparison=rule_comparison(item.details),
        extra_details=other_details(item.details),
        columns=columns,
        full=record_comparison(records) if any(record is not None for record in records) else None,
        related=related,
        customer_view=QueueView(customer=item.customer_ref, statuses=EXCEPTION_STATUSES).url()
        if item.customer_ref
        else None,
        subsidiaries=subsidiary_names(context),
        assignees=assignable_users(context),
        resync_enabled=bool(context.config.systems),
        now=context.clock(),
    )


def _sync_action(request: Request, exception_id: int, action: str, actor: str) -> Response:
    """Pull the exception's source records again, or push them through their flows again, now.

    Both talk to the systems, so they can take seconds; the result (what was pulled and pushed,
    or what went wrong) is shown on the exception and written to its history by the service.
    """
    context = web_context(request)
    back = f"/exceptions/{exception_id}"
    service = ResyncService(context.config, context.store, clock=context.clock)
    try:
        if action == "resync":
            result = service.resync_exception(exception_id, actor)
        else:
            result = service.repush_exception(exception_id, actor)
    except TieoutError as exc:
        return redirect(request, back, f"Could not {action}: {exc}", kind="error")
    finally:
        service.close()
    verb = "Pulled again" if action == "resync" else "Sent again"
    if result.ok:
        return redirect(
            request, back, f"{verb}: {result.summary()}. Status now: {status_name(result.status)}."
        )
    return redirect(request, back, f"{verb}, with problems: {result.summary()}.", kind="error")


def _queue_action(
    queue: ExceptionQueue, exception_id: int, action: str, actor: str, text: str, assignee: str
) -> str:
    """Do one queue action; returns what to tell the user. Raises QueueError when it cannot be done."""
    if action == "assign":
        queue.assign(exception_id, assignee, actor=actor)
        return f"Assigned to {assignee}."
    if action == "resolve":
        queue.resolve(exception_id, actor=actor, note=text)
        return "Resolved."
    if action == "ignore":
        queue.ignore(exception_id, actor=actor, reason=text)
        return "Marked as expected (ignored)."
    if action == "reopen":
        queue.reopen(exception_id, actor=actor, note=text.strip() or None)
        return "Reopened."
    queue.comment(exception_id, actor=actor, note=text)
    return "Comment added."


@router.post("/exceptions/{exception_id}/{action}")
def act(
    request: Request,
    exception_id: int,
    action: str,
    user: Resolver,
    note: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
) -> Response:
    """Assign, resolve (note), ignore (reason), reopen, comment, resync or re-push; then back to the
    exception, with the outcome."""
    if action not in ACTIONS:
        return render(request, "error.html", status_code=404, title="Not found", message="No such action.")
    back = f"/exceptions/{exception_id}"
    if action in ("resync", "repush"):
        return _sync_action(request, exception_id, action, user.username)
    try:
        done = _queue_action(
            web_context(request).queue, exception_id, action, user.username, note or reason, assignee
        )
    except QueueError as exc:
        problem = str(exc)
        return redirect(request, back, problem[:1].upper() + problem[1:] + ".", kind="error")
    return redirect(request, back, done)
