"""The group's audit log for members: ``GET /audit`` (newest first, ``before`` pages back).
Private details only for coordinators (``detail`` is null for everyone else)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.fediaid_api.auth import READ, member
from api.fediaid_api.parse import query_int
from api.fediaid_api.present import when
from api.responses import FastJSON
from fediaid.domain.audit import AuditEntry
from fediaid.domain.ids import MAX_ID


def _entry(e: AuditEntry) -> dict[str, object]:
    return {"id": str(e.id), "created_at": when(e.created_at),
            "actor": e.actor_label, "action": str(e.action), "target_kind": e.target_kind,
            "target_id": e.target_id, "summary": e.sentence, "detail": e.detail}


async def audit_log(request: Request) -> Response:
    user = await member(request, READ)
    limit = query_int(request, "limit", default=20, low=1, high=100) or 20
    before = query_int(request, "before", default=None, low=1, high=MAX_ID)
    found = await runtime(request).audit.page(user, before_id=before, limit=limit)
    headers = {}
    if len(found) == limit:
        base = runtime(request).settings.base_url
        url = request.url.include_query_params(before=str(found[-1].id))
        headers["Link"] = f'<{base}{url.path}?{url.query}>; rel="next"'
    return FastJSON([_entry(e) for e in found], headers=headers)
