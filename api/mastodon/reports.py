"""``POST /api/v1/reports``: report an account and some of its statuses from an app
(Mastodon's parameters: ``account_id``, ``status_ids[]``, ``comment``, ``forward``,
``category``, ``rule_ids[]``; ``forward_to_domains[]`` is accepted: a report is forwarded only
to the reported account's own server). Answers with Mastodon's Report entity.
Service: fediaid/services/reports.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.mastodon.common import cors, params, token_user
from api.mastodon.entities import account_entity, mastodon_time
from api.responses import FastJSON
from fediaid.domain.reports import Report
from fediaid.errors import Invalid, NotFound, Unprocessable
from fediaid.services.runtime import Runtime

_TRUE = frozenset({"1", "true", "t", "on", "yes"})


def _ids(value: Any, name: str) -> list[int]:
    values = value if isinstance(value, list) else ([] if value in (None, "") else [value])
    out = []
    for v in values:
        try:
            out.append(int(str(v)))
        except ValueError as exc:
            raise NotFound("Record not found") from exc
    return out


def _strings(value: Any) -> list[str]:
    values = value if isinstance(value, list) else ([] if value in (None, "") else [value])
    return [str(v) for v in values]


async def report_entity(rt: Runtime, report: Report) -> dict[str, Any]:
    target = await rt.reports.account(report.target_actor_id)
    return {
        "id": str(report.id),
        "action_taken": not report.is_open,
        "action_taken_at": mastodon_time(report.resolved_at) if report.resolved_at else None,
        "category": report.category.value,
        "comment": report.comment,
        "forwarded": report.forwarded_at is not None,
        "created_at": mastodon_time(report.created_at),
        "status_ids": [str(i.status_id) for i in report.items if i.status_id is not None]
        or None,
        "rule_ids": list(report.rule_ids) or None,
        "target_account": await account_entity(rt, target),
    }


@cors
async def create(request: Request) -> Response:
    user = await token_user(request, "write:reports")
    rt = runtime(request)
    p = await params(request)
    account_ids = _ids(p.get("account_id"), "account_id")
    if not account_ids:
        raise Unprocessable("Validation failed: Target account must exist")
    forward = p.get("forward")
    try:
        report = await rt.reports.create(
            user, account_id=account_ids[0], status_ids=_ids(p.get("status_ids"), "status_ids"),
            comment=str(p.get("comment") or ""),
            category=str(p["category"]) if p.get("category") else None,
            forward=forward is True or str(forward).strip().lower() in _TRUE,
            rule_ids=_strings(p.get("rule_ids")))
    except Invalid as exc:
        raise Unprocessable(f"Validation failed: {exc.public}") from exc
    return FastJSON(await report_entity(rt, report))

