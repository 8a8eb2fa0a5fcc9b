"""What coordinators set for the group, as pages: who sees new posts by default, how long
posts stay open and are kept, categories, neighborhoods, and the posts from outside the
group that wait for approval. Coordinators only: members get 403, visitors 401 with a
link to log in."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import wraps
from typing import Any
from urllib.parse import quote_plus

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.forms import plain_message
from api.web.locale import reader
from api.web.render import (
    Handler,
    category_words,
    form_handler,
    labels,
    post_item,
    redirect,
    render,
    when,
)
from api.web.session import check_csrf, require_coordinator
from fediaid.domain.categories import BUILTIN_KEYWORDS, format_keywords
from fediaid.domain.posts import Visibility, builtin_label
from fediaid.domain.users import User
from fediaid.errors import Invalid, NotFound
from fediaid.i18n import N_, Message, language_name, languages, zone_names
from fediaid.services.runtime import Runtime

SETTINGS_FIELDS = ("default_visibility", "expiry_days", "retention_days",
                   "hold_nonmember_posts", "phone_region", "language", "time_zone")
# Forwarding unmet needs to linked groups (issue 12; services/forwarding.py): form field ->
# the service's name for it.
FORWARDING_FIELDS = {"forward_after_hours": "after_hours",
                     "forward_by_default": "by_default",
                     "forwarded_daily_cap": "daily_cap"}

# The four levels, explained for someone choosing what every new post starts with.
DEFAULT_VISIBILITY_CHOICES = (
    (Visibility.PUBLIC.value, N_("Everyone"),
     N_("Anyone can read new posts: on this site without logging in, and from Mastodon and "
        "other fediverse apps.")),
    (Visibility.NETWORK.value, N_("Our network"),
     N_("Members, people who follow the group, and the neighboring groups it is linked "
        "with.")),
    (Visibility.MEMBERS.value, N_("Members only"),
     N_("Only people with an account here. Posts never leave this server.")),
)

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
MAX_AREAS = 500


def coordinator_page(handler: Handler) -> Handler:
    """Coordinators only; refusals (and form refusals) as a page in plain words."""

    @form_handler
    @wraps(handler)
    async def wrapped(request: Request) -> Response:
        user = await require_coordinator(request)
        if request.method == "POST":
            form = await request.form()
            check_csrf(request, form.get("csrf"))
        return await handler(request, user)

    return wrapped


def short_name(text: str) -> str:
    """A short name made from what was typed: "North End" -> "north-end",
    "Südstadt" -> "sudstadt"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:63]


# -- group settings ---------------------------------------------------------------------

@coordinator_page
async def group_settings(request: Request, user: User) -> Response:
    rt = runtime(request)
    if request.method == "GET":
        policy = await rt.posts.policy()
        return await _settings_page(request, {
            "default_visibility": policy.default_visibility.value,
            "expiry_days": str(policy.expiry.days),
            "retention_days": str(policy.retention.days),
            "hold_nonmember_posts": "1" if policy.hold_nonmember_posts else "0",
            "phone_region": policy.phone_region,
        } | await _forwarding_values(rt))
    form = await request.form()
    values = {f: str(form.get(f) or "").strip() for f in (*SETTINGS_FIELDS, *FORWARDING_FIELDS)}
    try:
        # A radio left unset is not sent: leave that setting as it is.
        await rt.group_settings.update(user, {k: v for k, v in values.items() if (
            v or k in ("expiry_days", "retention_days")) and k in SETTINGS_FIELDS})
        await rt.forwarding.update_settings(user, {
            name: values[field] for field, name in FORWARDING_FIELDS.items()
            if values[field] or field != "forward_by_default"})
    except Invalid as exc:
        named = {name: field for field, name in FORWARDING_FIELDS.items()}
        field = named.get(exc.field or "", exc.field)
        field = field if field in (*SETTINGS_FIELDS, *FORWARDING_FIELDS) else "_"
        return await _settings_page(request, values, status=400,
                                    errors={field: plain_message(exc)})
    return redirect("/admin/settings",
                    N_("Saved. New posts follow these settings from now on."))


async def _forwarding_values(rt: Runtime) -> dict[str, str]:
    s = await rt.forwarding.settings_now()
    return {"forward_after_hours": str(s.after_hours),
            "forward_by_default": "1" if s.by_default else "0",
            "forwarded_daily_cap": str(s.daily_cap)}


async def _settings_page(request: Request, values: Mapping[str, str], *, status: int = 200,
                         errors: Mapping[str, str] | None = None) -> Response:
    group_language, group_zone = await runtime(request).group_settings.reading_defaults()
    values = {"language": group_language, "time_zone": group_zone, **values}
    return await render(request, "admin_settings.html", status=status, values=values,
                        errors=errors or {}, visibilities=DEFAULT_VISIBILITY_CHOICES,
                        language_options=[(c, language_name(c)) for c in languages()],
                        zones=zone_names())


# -- categories -------------------------------------------------------------------------

@coordinator_page
async def categories(request: Request, user: User) -> Response:
    """The list (GET), or add one (POST)."""
    rt = runtime(request)
    if request.method == "GET":
        return await _categories_page(request)
    form = await request.form()
    if form.get("do") == "keywords":
        typed_words = str(form.get("keywords") or "")
        try:
            await rt.group_settings.set_category_keywords(user, typed_words)
        except Invalid as exc:
            return await _categories_page(request, status=400, keywords=typed_words,
                                          errors={"keywords": plain_message(exc)})
        return redirect("/admin/categories", N_("Saved the words that suggest a category."))
    label = str(form.get("label") or "").strip()
    typed_slug = str(form.get("slug") or "").strip()
    slug = short_name(typed_slug or label)
    new = {"slug": typed_slug, "label": label}
    if not slug:
        return await _categories_page(request, status=400, new=new, errors={
            "slug": N_("Please type a short name with letters a to z, digits and dashes, "
                       "like bike-repair.")})
    current = dict(await rt.group_settings.categories())
    if slug in current:
        return await _categories_page(request, status=400, new=new, errors={
            "slug": N_("There is already a category with the short name {slug} (“{label}”). "
                       "You can change its label in the list above.", slug=slug,
                       label=current[slug])})
    try:
        await rt.group_settings.set_category(user, slug, label, active=True)
    except Invalid as exc:
        field = "label" if exc.field == "label" else "slug"
        return await _categories_page(request, status=400, new=new,
                                      errors={field: plain_message(exc)})
    return redirect("/admin/categories", N_("Added “{label}”. People can choose it now.",
                                            label=label))


@coordinator_page
async def category_action(request: Request, user: User) -> Response:
    """Rename, hide, or show again (after hiding) one category."""
    rt = runtime(request)
    slug = request.path_params["slug"]
    form = await request.form()
    action = str(form.get("do") or "")
    current = dict(await rt.group_settings.categories())
    label = str(form.get("label") or "").strip()
    if action == "show":
        if not _SLUG.fullmatch(slug):
            raise NotFound(N_("No such category."))
        await rt.group_settings.set_category(user, slug, label or slug, active=True)
        return redirect("/admin/categories", N_("“{label}” is offered again.",
                                                label=_said(slug, label or slug)))
    if slug not in current:
        raise NotFound(N_("No such category (or it is hidden)."))
    if action == "hide":
        if slug == "other":
            return await _categories_page(request, status=400, errors={
                "label-other": N_("“Other” is used when someone does not choose a category, "
                                  "so it cannot be hidden.")})
        await rt.group_settings.set_category(user, slug, current[slug], active=False)
        return redirect(f"/admin/categories?hidden={slug}&label={quote_plus(current[slug])}",
                        N_("Hidden: “{label}” is no longer offered for new posts.",
                           label=_said(slug, current[slug])))
    if action != "rename":
        raise Invalid(N_("Choose to save the label or to hide the category."))
    if builtin_label(slug, current[slug]) and label == category_words(
            slug, current[slug], await reader(request)):
        # The built-in label as this coordinator reads it: nothing changed (saving it would
        # fix it in one language for everyone).
        return redirect("/admin/categories", N_("Saved: “{label}”.",
                                                label=_said(slug, current[slug])))
    try:
        await rt.group_settings.set_category(user, slug, label, active=True)
    except Invalid as exc:
        return await _categories_page(request, status=400, typed={slug: label},
                                      errors={f"label-{slug}": plain_message(exc)})
    return redirect("/admin/categories", N_("Saved: “{label}”.", label=label))


def _said(slug: str, label: str) -> str:
    """A category's label as a value in marked words: a built-in one is translated."""
    return Message(label, {}) if builtin_label(slug, label) else label


async def _categories_page(request: Request, *, status: int = 200,
                           errors: Mapping[str, str] | None = None,
                           new: Mapping[str, str] | None = None,
                           typed: Mapping[str, str] | None = None,
                           keywords: str | None = None) -> Response:
    rt = runtime(request)
    t = await reader(request)
    everything = await rt.group_settings.all_categories()
    # A built-in label is shown in the reader's language (and said so); a typed one as typed.
    items = [(slug, category_words(slug, label, t), builtin_label(slug, label))
             for slug, label, shown in everything if shown]
    hidden_items = [(slug, category_words(slug, label, t), label)
                    for slug, label, shown in everything if not shown]
    if keywords is None:
        keywords = format_keywords(await rt.group_settings.category_keywords())
    builtin = [(slug, label, ", ".join(BUILTIN_KEYWORDS[slug])) for slug, label, _ in items
               if slug in BUILTIN_KEYWORDS]
    return await render(request, "admin_categories.html", status=status, items=items,
                        errors=errors or {}, new=new or {}, typed=typed or {},
                        hidden_items=hidden_items, keywords=keywords, builtin=builtin)


# -- neighborhoods ----------------------------------------------------------------------

def parse_areas(text: str) -> list[tuple[str, str]]:
    """One neighborhood a line: "short-name = Label", or just "Label" (the short name is
    made from it)."""
    out: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) > MAX_AREAS:
        raise Invalid(N_("That is more than {n} neighborhoods. Please shorten the list.",
                         n=MAX_AREAS), field="areas")
    for n, line in lines:
        left, _, right = line.partition("=")
        label = right.strip() or left.strip()
        slug = short_name(left)
        if not slug:
            raise Invalid(N_("Line {n} ({line}): the short name needs letters a to z or "
                             "digits, like north-end.", n=n, line=line), field="areas")
        if slug in seen:
            raise Invalid(N_("Line {n}: the short name {slug} is already used on line "
                             "{first}.", n=n, slug=slug, first=seen[slug]), field="areas")
        seen[slug] = n
        out.append((slug, label))
    return out


@coordinator_page
async def areas(request: Request, user: User) -> Response:
    rt = runtime(request)
    if request.method == "GET":
        current = await rt.group_settings.areas()
        return await _areas_page(request, "\n".join(f"{s} = {lbl}" for s, lbl in current))
    form = await request.form()
    text = str(form.get("areas") or "")
    try:
        items = parse_areas(text)
        await rt.group_settings.set_areas(user, items)
    except Invalid as exc:
        return await _areas_page(request, text, status=400, error=plain_message(exc))
    if not items:
        return redirect("/admin/areas", N_("Saved: people can give any postal area."))
    if len(items) == 1:
        return redirect("/admin/areas", N_("Saved: 1 neighborhood."))
    return redirect("/admin/areas", N_("Saved: {n} neighborhoods.", n=len(items)))


async def _areas_page(request: Request, text: str, *, status: int = 200, error: str = ""
                      ) -> Response:
    return await render(request, "admin_areas.html", status=status, text=text, error=error)


# -- posts waiting for approval ---------------------------------------------------------

@coordinator_page
async def held(request: Request, user: User) -> Response:
    rt = runtime(request)
    t = await reader(request)
    names = await labels(rt, t)
    items: list[dict[str, Any]] = []
    for post in await rt.group_settings.held_posts(user):
        item = post_item(rt, post, names, t)
        item.update(description=post.description if post.description != post.title else "",
                    received=when(post.created_at, t))
        items.append(item)
    return await render(request, "admin_held.html", items=items)


@coordinator_page
async def held_decision(request: Request, user: User) -> Response:
    rt = runtime(request)
    form = await request.form()
    decision = form.get("decision")
    if decision not in ("approve", "reject"):
        raise Invalid(N_("Choose Approve or Turn away."))
    await rt.group_settings.decide_held(user, int(request.path_params["id"]),
                                        approve=decision == "approve")
    if decision == "approve":
        return redirect("/admin/held", N_("Approved: the group shares it now."))
    return redirect("/admin/held", N_("Turned away: it is removed from this server."))
