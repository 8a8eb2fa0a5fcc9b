"""Rendering pages: the template environments (one per language), the context every page
gets, plain-words error pages for forms, the one-time notice after a form, and the small
helpers that turn posts into words in the reader's language and time zone."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, wraps
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.context import runtime
from api.errors import status_for
from api.web import notice
from api.web.locale import choices, reader
from api.web.session import csrf_token, current_user, set_visitor_cookie
from fediaid.domain.audience import audience_words
from fediaid.domain.posts import Kind, Post, State, Urgency, builtin_label
from fediaid.errors import FediaidError, RateLimited, SecondFactorNeeded
from fediaid.i18n import N_, Reader, translations
from fediaid.services.runtime import Runtime

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment(language: str = "en") -> Any:
    """One environment per language, built on the first page in it: servers that only
    federate never load Jinja2 (idle memory, docs/benchmarks.md). Templates mark their
    words with _("...") and {% trans %} (whitespace inside trans blocks is collapsed, as
    babel.cfg extracts them); the language's catalog translates them."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      auto_reload=False, extensions=["jinja2.ext.i18n"])
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations(language),  # type: ignore[attr-defined]
                                     newstyle=True)
    return env

Handler = Callable[..., Awaitable[Response]]


async def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    rt = runtime(request)
    user = await current_user(request)
    t = await reader(request)
    group_name = rt.settings.group_name
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context: dict[str, Any] = {
        "group_name": group_name, "domain": rt.settings.domain, "user": user,
        "csrf": _LazyToken(request), "flash": notice.take(request),
        "path": request.url.path, "here": safe_next(here, request.url.path),
        "lang": t.language, "t": t, "languages": choices(t.language),
        "audience_of": lambda level: t(audience_words(level, group_name)),
        # The header's badge: unread answers and messages (one small indexed count).
        "unread": await rt.my_posts.unread_count(user) if user is not None else 0,
    }
    context.update(ctx)
    if context["flash"]:  # a notice or an error's words: in the reader's language
        context["flash"] = t(context["flash"])
    html = _environment(t.language).get_template(name).render(**context)
    # A page for a logged-in member, or with a token bound to this browser's cookie, is not
    # for shared caches.
    private = user is not None or request.scope.get(_CSRF_SHOWN, False)
    headers = {"Vary": "Accept-Language, Cookie"}
    if private:
        headers["Cache-Control"] = "private, no-store"
    response = HTMLResponse(html, status_code=status, headers=headers)
    set_visitor_cookie(request, response)
    notice.forget(request, response)
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
    t = await reader(request)
    page = await render(request, "error.html", status=status_for(exc),
                        message=t(plain_words(exc)), login_next=safe_next(back, ""))
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
    """A 303 to ``path``; ``message`` (marked words, or an error's) is shown once on the
    next page, in the reader's language, from a signed cookie (api/web/notice.py)."""
    return notice.NoticeRedirect(path, message)


def plain_words(exc: FediaidError) -> str:
    """An error's words for a page (a ``Message`` keeps what it was made from)."""
    return exc.public


_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%?=&+:@-]*")


def safe_next(value: object, default: str = "/") -> str:
    """A local path to return to after logging in (never another site: no "//host", no
    backslashes, no spaces or control characters that browsers drop)."""
    if isinstance(value, str) and len(value) < 500 and _LOCAL_PATH.fullmatch(value) and (
            "//" not in value):
        return value
    return default


# -- words for posts ------------------------------------------------------------------

# Marked words: say them with the reader, t(KIND_WORDS[kind]).
KIND_WORDS = {Kind.NEED: N_("Need"), Kind.OFFER: N_("Offer")}
STATE_WORDS = {
    State.OPEN: N_("Open"),
    State.PROMISED: N_("Someone is helping"),
    State.FULFILLED: N_("Done"),
    State.PARTLY_FULFILLED: N_("Partly done"),
    State.WITHDRAWN: N_("Withdrawn"),
    State.EXPIRED: N_("Closed (too old)"),
}
URGENCY_WORDS = {Urgency.URGENT: N_("Urgent"), Urgency.NORMAL: N_("Normal"),
                 Urgency.LOW: N_("Can wait")}
ENGLISH = Reader()


@dataclass(frozen=True)
class Labels:
    """The group's categories and neighborhoods as (short name, label), in the group's
    order: the words shown for a post's category and area, and the choices in forms."""

    categories: list[tuple[str, str]] = field(default_factory=list)
    areas: list[tuple[str, str]] = field(default_factory=list)

    def category(self, slug: str) -> str:
        # A hidden category is not listed: its short name is shown (see the report).
        return dict(self.categories).get(slug, slug)

    def translated(self, t: Reader) -> Labels:
        """The same, with the built-in category names in the reader's language (a name a
        coordinator typed is shown as typed; fediaid/domain/posts.py DEFAULT_CATEGORIES)."""
        return Labels(categories=[(slug, category_words(slug, label, t))
                                  for slug, label in self.categories], areas=self.areas)

    def area(self, slug: str | None) -> str:
        return dict(self.areas).get(slug, slug) if slug else ""

    def category_choices(self) -> list[tuple[str, str]]:
        """For a select: by label, "other" last."""
        choices = sorted((c for c in self.categories if c[0] != "other"),
                         key=lambda c: c[1].casefold())
        return choices + [c for c in self.categories if c[0] == "other"]


def category_words(slug: str, label: str, t: Reader) -> str:
    """A category's label as a reader sees it: a built-in one in their language, one a
    coordinator typed as typed."""
    return t(label) if builtin_label(slug, label) else label


async def labels(rt: Runtime, t: Reader | None = None) -> Labels:
    found = Labels(categories=await rt.group_settings.categories(),
                   areas=await rt.group_settings.areas())
    return found.translated(t) if t is not None else found


def when(dt: datetime | None, t: Reader = ENGLISH) -> str:
    """A date and time in the reader's language and time zone."""
    return t.when(dt)


def day(dt: datetime | None, t: Reader = ENGLISH) -> str:
    return t.day(dt)


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


def window(post: Post, t: Reader = ENGLISH) -> str:
    start, end = t.when(post.starts_at), t.when(post.ends_at)
    if post.kind is Kind.NEED:
        if start and end:
            return t(N_("Needed from {start} until {end}"), start=start, end=end)
        if end:
            return t(N_("Needed by {end}"), end=end)
        if start:
            return t(N_("Needed from {start}"), start=start)
        return ""
    if start and end:
        return t(N_("Available from {start} until {end}"), start=start, end=end)
    if start:
        return t(N_("Available from {start}"), start=start)
    if end:
        return t(N_("Available until {end}"), end=end)
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


def author_words(rt: Runtime, post: Post, t: Reader = ENGLISH) -> str:
    if post.proxy:
        return t(N_("{group}, for a neighbor"), group=rt.settings.group_name)
    if post.anonymous:
        return t(N_("{group} (a neighbor)"), group=rt.settings.group_name)
    return display_name(rt, post.author_uri)


def post_item(rt: Runtime, post: Post, names: Labels, t: Reader = ENGLISH) -> dict[str, Any]:
    """What a list or a page shows of a post, in the reader's words."""
    return {
        "post": post, "id": post.id, "kind": post.kind.value,
        "kind_word": t(KIND_WORDS[post.kind]),
        "title": post.title,
        "category": category_words(post.category, names.category(post.category), t),
        "area": names.area(post.area), "window": window(post, t),
        "urgency": post.urgency.value, "urgency_word": t(URGENCY_WORDS[post.urgency]),
        "state": post.state.value, "state_word": t(STATE_WORDS[post.state]),
        "amount": amount(post.quantity, post.unit), "author": author_words(rt, post, t),
        "created": t.when(post.created_at), "created_iso": iso(post.created_at),
        "audience": t(audience_words(post.visibility, rt.settings.group_name)),
    }


def field_values(data: Mapping[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else "" for k, v in data.items()}


def to_input_time(dt: datetime | None, t: Reader = ENGLISH) -> str:
    """A stored time as a datetime-local input value, in the reader's time zone."""
    return t.input_time(dt)


def now_words(t: Reader = ENGLISH) -> str:
    """The time now, as the posting form's hint says it ("6:05 PM on Tuesday, ...")."""
    now = datetime.now(UTC)
    return t(N_("{time} on {day}"), time=t.clock(now), day=t.day(now))


now_utc_words = now_words  # the name other modules knew
