"""The posting form: reading what was typed, turning the form's plain inputs into what
``PostService`` takes, and the words shown next to a field when something is wrong."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData

from fediaid.domain.actors import ActorType
from fediaid.domain.posts import TITLE_MAX, GroupPolicy, Kind, Post, Visibility
from fediaid.errors import Invalid, NotFound
from fediaid.i18n import N_, Message, Reader, marked
from fediaid.services.runtime import Runtime

from .render import ENGLISH, Labels, display_name, number, to_input_time

POST_FIELDS = ("kind", "title", "description", "category", "quantity", "unit", "area",
               "starts_at", "ends_at", "urgency", "visibility", "recipients")
INTAKE_FIELDS = ("name", "callback", "notes")
FORM_FIELDS = frozenset((*POST_FIELDS, *INTAKE_FIELDS, "message"))
DETAIL_FIELDS = ("title", "category", "quantity", "unit", "area", "starts_at", "ends_at",
                 "urgency", "visibility", "recipients", "as_neighbor")

# What a field is called in the words shown to people (marked: the page translates them).
FIELD_WORDS = {
    "kind": N_("kind of post"), "title": N_("title"), "description": N_("description"),
    "category": N_("category"), "quantity": N_("amount"), "unit": N_("unit"),
    "area": N_("area"), "starts_at": N_("start time"), "ends_at": N_("end time"),
    "urgency": N_("urgency"), "visibility": N_("choice of who can see it"),
    "recipients": N_("list of people"), "name": N_("name"),
    "forward": N_("choice about linked groups"),
    "callback": N_("callback number"), "notes": N_("notes"), "message": N_("message"),
    "body": N_("message"), "cap": N_("limit"), "note": N_("note"),
    "default_visibility": N_("choice of who can see new posts"),
    "expiry_days": N_("number of days posts stay open"),
    "retention_days": N_("number of days closed posts are kept"),
}
# More names, only for the {field} of marked words (in plain English sentences these words
# are just words).
FIELD_NAMES = {
    **FIELD_WORDS, "label": N_("label"), "slug": N_("short name"), "keywords": N_("words"),
    "outcome": N_("way it ended"), "username": N_("name"), "password": N_("password"),
    "contact": N_("way to reach you"), "reason": N_("reason"), "comment": N_("comment"),
    "uses": N_("number of people"), "days": N_("number of days"),
}

VISIBILITY_CHOICES = (
    (Visibility.PUBLIC.value, N_("Everyone"),
     N_("Anyone can read it, on this site and from Mastodon and other fediverse apps.")),
    (Visibility.NETWORK.value, N_("Our network"),
     N_("Members of this group, people who follow the group, and neighboring groups.")),
    (Visibility.MEMBERS.value, N_("Members only"),
     N_("Only people with an account here. It never leaves this server.")),
    (Visibility.DIRECT.value, N_("Only people I name"),
     N_("Only the members you name below can see it.")),
)

URGENCY_CHOICES = (("urgent", N_("Urgent")), ("normal", N_("Normal")),
                   ("low", N_("Can wait")))

_LOCAL_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def plain_message(exc: Invalid) -> str:
    """A service message with field names put into words ("quantity must be..." ->
    "The amount must be..."). Marked words (a ``Message`` with a ``field`` value) keep what
    they were made from, so the page says them in the reader's language."""
    text = exc.public
    if isinstance(text, Message):
        params = dict(text.params)
        name = str(params.get("field", ""))
        if name in FIELD_NAMES:
            params["field"] = Message(FIELD_NAMES[name], {})
        return Message(text.msgid, params)
    if marked(text):  # marked words are said as they are, in the reader's language
        return text
    for name, words in FIELD_WORDS.items():
        text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", words, text)
    if text[:1].islower():
        text = "The " + text
    return text


def form_time(value: str, field: str, t: Reader = ENGLISH) -> str:
    """A datetime-local value ("2026-12-01T18:00"), or what an old phone's text box gives
    ("2026-12-01 18:00", "2026-12-01"), typed in the reader's time zone, as an ISO time in
    UTC."""
    from datetime import datetime

    value = value.strip()
    if not value:
        return ""
    m = _LOCAL_TIME.match(value)
    if not m:
        raise Invalid(N_("Use a date and time like 2026-12-01 18:00."), field=field)
    date, hour, minute, second = m.groups()
    if hour is None:
        hour, minute = ("23", "59") if field == "ends_at" else ("00", "00")
    try:
        typed_at = datetime.fromisoformat(f"{date}T{int(hour):02d}:{minute}:{second or '00'}")
    except ValueError as exc:
        raise Invalid(N_("Use a date and time like 2026-12-01 18:00."), field=field) from exc
    return t.from_local(typed_at).isoformat()


def typed(form: FormData, fields: tuple[str, ...]) -> dict[str, str]:
    """What was typed, as text, for showing the form again."""
    out = {f: str(form.get(f) or "") for f in fields}
    out["as_neighbor"] = "1" if form.get("as_neighbor") else ""
    # A need's "offer it to linked groups" choice (default / yes / no; services/forwarding).
    out["forward"] = str(form.get("forward") or "")
    return out


async def draft_data(rt: Runtime, values: Mapping[str, str], t: Reader = ENGLISH, *,
                     with_kind: bool = True) -> dict[str, Any]:
    """The typed values as ``PostService.create``/``edit`` take them (times typed in the
    reader's zone)."""
    data: dict[str, Any] = {f: values.get(f, "") for f in POST_FIELDS if f != "recipients"}
    if not with_kind:
        data.pop("kind")
    data["starts_at"] = form_time(values.get("starts_at", ""), "starts_at", t)
    data["ends_at"] = form_time(values.get("ends_at", ""), "ends_at", t)
    data["title"] = values.get("title", "").strip()
    if values.get("forward") in ("default", "yes", "no"):
        data["forward"] = values["forward"]
    if values.get("visibility") == Visibility.DIRECT.value:
        data["recipients"] = await recipients(rt, values.get("recipients", ""))
    return data


async def recipients(rt: Runtime, text: str) -> list[str]:
    """Member names (``maria, sam``) as actor URIs."""
    out = []
    for raw in re.split(r"[\s,;]+", text):
        name = raw.strip().lstrip("@").lower()
        if not name:
            continue
        if name.startswith(("http://", "https://")):
            out.append(raw.strip())
            continue
        try:
            actor = await rt.discovery.local_actor(name.split("@", 1)[0], ActorType.PERSON)
        except NotFound as exc:
            raise Invalid(N_("There is no member called {name} here.", name=name),
                          field="recipients") from exc
        out.append(actor.uri)
    return out


def values_of(rt: Runtime, post: Post, t: Reader = ENGLISH) -> dict[str, str]:
    """A post's values as the form shows them (for editing; times in the reader's zone)."""
    return {
        "kind": post.kind.value, "title": post.title, "description": post.description,
        "category": post.category, "quantity": number(post.quantity),
        "unit": "" if post.unit == "one" else post.unit, "area": post.area or "",
        "starts_at": to_input_time(post.starts_at, t),
        "ends_at": to_input_time(post.ends_at, t),
        "urgency": post.urgency.value, "visibility": post.visibility.value,
        "recipients": ", ".join(display_name(rt, r) for r in post.recipients),
        "as_neighbor": "1" if post.anonymous else "",
    }


def form_context(policy: GroupPolicy, names: Labels, values: Mapping[str, str],
                 errors: Mapping[str, str]) -> dict[str, Any]:
    """Everything the posting form template needs besides the values and errors."""
    categories = names.category_choices()
    current = values.get("category", "")
    # A post whose category a coordinator has since hidden: say so, and offer "Other".
    category_gone = current if current and current not in dict(categories) else ""
    areas = list(names.areas)
    area = values.get("area", "")
    if areas and area and area not in dict(areas):
        areas.append((area, N_("{area} (not in the group's list)", area=area)))  # keep it
    details_open = any(errors.get(f) for f in DETAIL_FIELDS) or bool(category_gone) or any(
        values.get(f) for f in ("title", "quantity", "unit", "area", "starts_at", "ends_at",
                                "recipients", "as_neighbor"))
    return {
        "categories": categories, "category_gone": category_gone, "areas": areas,
        "visibilities": VISIBILITY_CHOICES, "urgencies": URGENCY_CHOICES,
        "default_visibility": policy.default_visibility.value,
        "details_open": details_open, "title_max": TITLE_MAX,
        "kinds": ((Kind.NEED.value, N_("A need"), N_("I (or someone I know) need something.")),
                  (Kind.OFFER.value, N_("An offer"), N_("I can give, lend or do something."))),
    }


def field_errors(exc: Invalid, values: Mapping[str, str]) -> dict[str, str]:
    """Where to show an error: "title" is the description's error when no title was typed
    (the title comes from the description's first sentence)."""
    field = exc.field or "_"
    if field == "title" and not values.get("title"):
        field = "description"
    if field not in FORM_FIELDS:
        field = "_"  # shown above the form
    return {field: plain_message(exc)}
