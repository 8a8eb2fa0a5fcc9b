"""Rendering pages: the template environment, the context every page gets, plain-words
error pages for forms, and the small helpers that turn posts into words."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.context import runtime
from api.errors import status_for
from api.web.session import csrf_token, current_user, set_visitor_cookie
from fediaid.domain.audience import audience_words
from fediaid.domain.posts import Kind, Post, State, Urgency
from fediaid.errors import FediaidError, RateLimited, SecondFactorNeeded
from fediaid.services.runtime import Runtime

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> Any:
    """Built on the first page request: servers that only federate never load Jinja2 (idle
    memory, docs/benchmarks.md)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      auto_reload=False, extensions=["jinja2.ext.i18n"])
    # Templates mark their words with _("...") and {% trans %}; until the catalogs are
    # wired in, the words are shown as written (English).
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env

Handler = Callable[..., Awaitable[Response]]


async def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    rt = runtime(request)
    user = await current_user(request)
    group_name = rt.settings.group_name
    context: dict[str, Any] = {
        "group_name": group_name, "domain": rt.settings.domain, "user": user,
        "csrf": _LazyToken(request), "flash": request.query_params.get("msg"),
        "path": request.url.path,
        "audience_of": lambda level: audience_words(level, group_name),
        # The header's badge: unread answers and messages (one small indexed count).
        "unread": await rt.my_posts.unread_count(user) if user is not None else 0,
    }
    context.update(ctx)
    html = _environment().get_template(name).render(**context)
    # A page for a logged-in member, or with a token bound to this browser's cookie, is not
    # for shared caches.
    private = user is not None or request.scope.get(_CSRF_SHOWN, False)
    response = HTMLResponse(html, status_code=status,
                            headers={"Cache-Control": "private, no-store"} if private else None)
    set_visitor_cookie(request, response)
    return response


_CSRF_SHOWN = "fediaid.csrf_shown"


class _LazyToken:
    """The page's CSRF token, made when a form on the page shows it (a visitor gets the
    visitor cookie only from a page with a form)."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def __str__(self) -> str:
        self.request.scope[_CSRF_SHOWN] = True
        return csrf_token(self.request)

    __html__ = __str__


async def error_page(request: Request, exc: FediaidError) -> Response:
    """A refused form submission, in plain words (api/errors.py only answers GETs with
    HTML; a browser that posted a form must not get JSON back)."""
    if isinstance(exc, SecondFactorNeeded):
        return redirect("/settings/two-factor", exc.public)
    back = request.url.path if request.method == "GET" else ""
    page = await render(request, "error.html", status=status_for(exc), message=exc.public,
                        login_next=safe_next(back, ""))
    if isinstance(exc, RateLimited) and exc.retry_after:
        page.headers["Retry-After"] = str(exc.retry_after)
    return page


def form_handler(handler: Handler) -> Handler:
    """Answer a form POST's refusals with a page, not JSON."""

    @wraps(handler)
    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(request, *args, **kwargs)
        except FediaidError as exc:
            return await error_page(request, exc)

    return wrapped


def redirect(path: str, message: str | None = None) -> RedirectResponse:
    if message:
        path += ("&" if "?" in path else "?") + "msg=" + quote_plus(message)
    return RedirectResponse(path, status_code=303)


_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%?=&+:@-]*")


def safe_next(value: object, default: str = "/") -> str:
    """A local path to return to after logging in (never another site: no "//host", no
    backslashes, no spaces or control characters that browsers drop)."""
    if isinstance(value, str) and len(value) < 500 and _LOCAL_PATH.fullmatch(value) and (
            "//" not in value):
        return value
    return default


# -- words for posts ------------------------------------------------------------------

KIND_WORDS = {Kind.NEED: "Need", Kind.OFFER: "Offer"}
STATE_WORDS = {
    State.OPEN: "Open",
    State.PROMISED: "Someone is helping",
    State.FULFILLED: "Done",
    State.PARTLY_FULFILLED: "Partly done",
    State.WITHDRAWN: "Withdrawn",
    State.EXPIRED: "Closed (too old)",
}
URGENCY_WORDS = {Urgency.URGENT: "Urgent", Urgency.NORMAL: "Normal", Urgency.LOW: "Can wait"}


@dataclass(frozen=True)
class Labels:
    """The group's categories and neighborhoods as (short name, label), in the group's
    order: the words shown for a post's category and area, and the choices in forms."""

    categories: list[tuple[str, str]] = field(default_factory=list)
    areas: list[tuple[str, str]] = field(default_factory=list)

    def category(self, slug: str) -> str:
        # A hidden category is not listed: its short name is shown (see the report).
        return dict(self.categories).get(slug, slug)

    def area(self, slug: str | None) -> str:
        return dict(self.areas).get(slug, slug) if slug else ""

    def category_choices(self) -> list[tuple[str, str]]:
        """For a select: by label, "other" last."""
        choices = sorted((c for c in self.categories if c[0] != "other"),
                         key=lambda c: c[1].casefold())
        return choices + [c for c in self.categories if c[0] == "other"]


async def labels(rt: Runtime) -> Labels:
    return Labels(categories=await rt.group_settings.categories(),
                  areas=await rt.group_settings.areas())


def when(dt: datetime | None) -> str:
    """A time in plain words, in UTC (the group's time zone is not known to the pages)."""
    if dt is None:
        return ""
    dt = dt.astimezone(UTC)
    return f"{dt:%a} {dt.day} {dt:%b %Y}, {dt:%H:%M} UTC"


def day(dt: datetime | None) -> str:
    if dt is None:
        return ""
    dt = dt.astimezone(UTC)
    return f"{dt:%A} {dt.day} {dt:%B %Y}"


def iso(dt: datetime | None) -> str:
    return dt.astimezone(UTC).isoformat() if dt else ""


def number(q: Decimal | None) -> str:
    if q is None:
        return ""
    text = format(q.normalize(), "f")
    return text


def amount(q: Decimal | None, unit: str) -> str:
    if q is None:
        return ""
    return f"{number(q)} {unit}" if unit and unit != "one" else number(q)


def window(post: Post) -> str:
    start, end = post.starts_at, post.ends_at
    if post.kind is Kind.NEED:
        if start and end:
            return f"Needed from {when(start)} until {when(end)}"
        if end:
            return f"Needed by {when(end)}"
        if start:
            return f"Needed from {when(start)}"
        return ""
    if start and end:
        return f"Available from {when(start)} until {when(end)}"
    if start:
        return f"Available from {when(start)}"
    if end:
        return f"Available until {when(end)}"
    return ""


def display_name(rt: Runtime, uri: str) -> str:
    """Who an actor URI is, in words: the group's name, a member's name, or name@server."""
    if uri == rt.identity.group.uri:
        return rt.settings.group_name
    users = rt.urls.base + "/users/"
    if uri.startswith(users):
        return uri.removeprefix(users)
    parts = urlsplit(uri)
    last = parts.path.rstrip("/").rsplit("/", 1)[-1].lstrip("@")
    return f"{last}@{parts.netloc}" if last else parts.netloc


def author_words(rt: Runtime, post: Post) -> str:
    if post.proxy:
        return f"{rt.settings.group_name}, for a neighbor"
    if post.anonymous:
        return f"{rt.settings.group_name} (a neighbor)"
    return display_name(rt, post.author_uri)


def post_item(rt: Runtime, post: Post, names: Labels) -> dict[str, Any]:
    """What a list or a page shows of a post."""
    return {
        "post": post, "id": post.id, "kind": post.kind.value, "kind_word": KIND_WORDS[post.kind],
        "title": post.title, "category": names.category(post.category),
        "area": names.area(post.area), "window": window(post),
        "urgency": post.urgency.value, "urgency_word": URGENCY_WORDS[post.urgency],
        "state": post.state.value, "state_word": STATE_WORDS[post.state],
        "amount": amount(post.quantity, post.unit), "author": author_words(rt, post),
        "created": when(post.created_at), "created_iso": iso(post.created_at),
        "audience": audience_words(post.visibility, rt.settings.group_name),
    }


def field_values(data: Mapping[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else "" for k, v in data.items()}


def to_input_time(dt: datetime | None) -> str:
    """A stored time as a datetime-local input value (UTC)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if dt else ""


def now_utc_words() -> str:
    return f"{datetime.now(UTC):%H:%M} UTC on {day(datetime.now(UTC))}"
