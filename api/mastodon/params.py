"""Mastodon's request parameters for statuses, read into the typed values the services take
(``fediaid.domain.statuses.StatusDraft`` / ``StatusChange``). Form, query and JSON bodies all
arrive here as one mapping (``common.params``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fediaid.domain.ids import parse_id
from fediaid.domain.statuses import StatusChange, StatusDraft
from fediaid.errors import Invalid


def opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = value[-1] if value else None
    return None if value is None else str(value)


def flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "on", "yes")


def one_id(value: Any, name: str) -> int:
    found = parse_id(value if isinstance(value, int | str) else str(value))
    if found is None:
        raise Invalid(f"{name} must be an id", field=name)
    return found


def many_ids(value: Any, name: str) -> tuple[int, ...]:
    if value in (None, "", []):
        return ()
    values = value if isinstance(value, list) else [value]
    return tuple(dict.fromkeys(one_id(v, name) for v in values))


def _text(data: Mapping[str, Any]) -> str | None:
    raw = data.get("status")
    if raw is not None and not isinstance(raw, str):
        raise Invalid("status must be text", field="status")
    return None if raw is None else raw.replace("\r\n", "\n").strip()


def status_draft(data: Mapping[str, Any]) -> StatusDraft:
    reply_to = data.get("in_reply_to_id")
    return StatusDraft(
        text=_text(data) or "",
        media_ids=many_ids(data.get("media_ids"), "media_ids"),
        spoiler_text=str(data.get("spoiler_text") or "").strip()[:500],
        sensitive=flag(data.get("sensitive")),
        language=str(data.get("language") or "")[:16] or None,
        visibility=opt_str(data.get("visibility")),
        in_reply_to_id=None if reply_to in (None, "") else one_id(reply_to, "in_reply_to_id"),
        poll=bool(data.get("poll")) or any(str(k).startswith("poll[") for k in data),
        scheduled=bool(data.get("scheduled_at")),
    )


def status_change(data: Mapping[str, Any]) -> StatusChange:
    spoiler = data.get("spoiler_text")
    return StatusChange(text=_text(data),
                        spoiler_text=None if spoiler is None else str(spoiler).strip()[:500],
                        sensitive=flag(data.get("sensitive")))
