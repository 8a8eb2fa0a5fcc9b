"""Offers and needs: the values, their rules and their allowed state changes.

Pure: no I/O. Every path that changes a post's state goes through ``transition`` and every
path that shows a post asks ``visibility.can_view`` (fediaid/domain/visibility.py).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from fediaid.domain.categories import suggest_category
from fediaid.domain.privacy import DEFAULT_REGION, Finding, find_private, looks_like_street
from fediaid.errors import Conflict, Invalid
from fediaid.i18n import N_, Message

E = TypeVar("E", bound=enum.StrEnum)


class Kind(enum.StrEnum):
    OFFER = "offer"
    NEED = "need"

    @property
    def purpose(self) -> str:
        """FEP-0837 ``purpose``: an offer offers, a need requests."""
        return "offer" if self is Kind.OFFER else "request"

    @classmethod
    def from_purpose(cls, purpose: object) -> Kind | None:
        return {"offer": cls.OFFER, "request": cls.NEED}.get(str(purpose))


class Visibility(enum.StrEnum):
    PUBLIC = "public"  # anyone; federated to followers and as:Public
    NETWORK = "network"  # the group's followers (incl. neighboring groups) and members
    MEMBERS = "members"  # local members only; never federated
    DIRECT = "direct"  # named people only


class State(enum.StrEnum):
    OPEN = "open"
    PROMISED = "promised"  # some or all of it accepted
    FULFILLED = "fulfilled"
    PARTLY_FULFILLED = "partly_fulfilled"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"

    @property
    def closed(self) -> bool:
        return self in CLOSED_STATES


CLOSED_STATES = frozenset({State.FULFILLED, State.PARTLY_FULFILLED, State.WITHDRAWN,
                           State.EXPIRED})

_TRANSITIONS: dict[State, frozenset[State]] = {
    State.OPEN: frozenset({State.PROMISED, State.FULFILLED, State.PARTLY_FULFILLED,
                           State.WITHDRAWN, State.EXPIRED}),
    State.PROMISED: frozenset({State.OPEN, State.FULFILLED, State.PARTLY_FULFILLED,
                               State.WITHDRAWN, State.EXPIRED}),
    State.FULFILLED: frozenset(),
    State.PARTLY_FULFILLED: frozenset(),
    State.WITHDRAWN: frozenset(),
    State.EXPIRED: frozenset(),
}


def kind_words(kind: Kind) -> str:
    """"need" or "offer", as marked words inside other words (the group's log)."""
    return Message(N_("need") if kind is Kind.NEED else N_("offer"), {})


# How a closed post ended, in the words of "This post is already closed (...)".
CLOSED_WORDS: dict[State, str] = {
    State.FULFILLED: N_("done"), State.PARTLY_FULFILLED: N_("partly done"),
    State.WITHDRAWN: N_("withdrawn"), State.EXPIRED: N_("too old"),
}


def transition(current: State, new: State) -> State:
    """The one gate for state changes. Raises Conflict with a plain reason."""
    if new not in _TRANSITIONS[current]:
        if current.closed:
            raise Conflict(N_("This post is already closed ({state}).",
                              state=Message(CLOSED_WORDS[current], {})))
        raise Conflict(N_("A post that is {current} cannot become {new}.",
                          current=current.value, new=new.value))
    return new


class Urgency(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return {"low": 0, "normal": 1, "urgent": 2}[self.value]


class ResponseState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    COMPLETED = "completed"


_RESPONSE_TRANSITIONS: dict[ResponseState, frozenset[ResponseState]] = {
    ResponseState.PENDING: frozenset({ResponseState.ACCEPTED, ResponseState.DECLINED,
                                      ResponseState.WITHDRAWN}),
    ResponseState.ACCEPTED: frozenset({ResponseState.COMPLETED, ResponseState.WITHDRAWN}),
    ResponseState.DECLINED: frozenset(),
    ResponseState.WITHDRAWN: frozenset(),
    ResponseState.COMPLETED: frozenset(),
}


def response_transition(current: ResponseState, new: ResponseState) -> ResponseState:
    if new not in _RESPONSE_TRANSITIONS[current]:
        raise Conflict(N_("An answer that is {current} cannot become {new}.",
                          current=current.value, new=new.value))
    return new


# The categories a new group starts with. Their labels are marked words: shown in each
# reader's language until a coordinator renames one (a label a coordinator typed is shown
# as typed, see ``builtin_label``).
DEFAULT_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("food", N_("Food and groceries")),
    ("meals", N_("Meals")),
    ("rent-bills", N_("Rent and bills")),
    ("housing", N_("Housing")),
    ("transport", N_("Transport and rides")),
    ("childcare", N_("Childcare")),
    ("elder-care", N_("Elder care")),
    ("health", N_("Health and medicine")),
    ("emotional-support", N_("Emotional support")),
    ("clothing", N_("Clothing")),
    ("household", N_("Household goods")),
    ("furniture", N_("Furniture")),
    ("tools", N_("Tools")),
    ("skills", N_("Skills and lessons")),
    ("translation", N_("Translation")),
    ("tech-help", N_("Tech help")),
    ("pet-care", N_("Pet care")),
    ("other", N_("Other")),
)
_DEFAULT_LABELS = dict(DEFAULT_CATEGORIES)


def builtin_label(slug: str, label: str) -> bool:
    """Whether a category's label is still the built-in one (so it may be translated)."""
    return _DEFAULT_LABELS.get(slug) == label


TITLE_MAX = 120
DESCRIPTION_MAX = 5000
MESSAGE_MAX = 2000
AREA_MAX = 64
UNIT_MAX = 32
DEFAULT_EXPIRY = timedelta(days=14)
DEFAULT_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Draft:
    """What a neighbor typed, validated. Everything but kind and title is optional."""

    kind: Kind
    title: str
    description: str = ""
    category: str = "other"
    quantity: Decimal | None = None
    unit: str = "one"
    area: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    urgency: Urgency = Urgency.NORMAL
    visibility: Visibility | None = None  # None: the group's default
    recipients: tuple[str, ...] = ()  # actor URIs, for direct posts


@dataclass(frozen=True)
class Warning_:
    field: str
    message: str


def privacy_warnings(*texts: tuple[str, str], region: str = DEFAULT_REGION) -> list[Warning_]:
    """Text that looks like a street address, phone number or e-mail address
    (fediaid/domain/privacy.py; phone numbers in the group's ``region``). Shown before a
    public post is published; the neighbor can still confirm (it is their choice)."""
    out: list[Warning_] = []
    for field_name, text in texts:
        for finding in find_private(text, region):
            out.append(Warning_(field_name, _PRIVACY_MESSAGES[finding]))
    return out


_PRIVACY_MESSAGES = {
    Finding.STREET: N_("This looks like a street address. Public posts are better with just "
                       "the neighborhood; share the address privately once someone answers."),
    Finding.PHONE: N_("This looks like a phone number. Anyone can read public posts; share it "
                      "privately once someone answers."),
    Finding.EMAIL: N_("This looks like an e-mail address. Anyone can read public posts; share "
                      "it privately once someone answers."),
}


def clean_text(value: object, *, field: str, max_len: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(N_("The {field} must be text.", field=field), field=field)
    text = value.replace("\r\n", "\n").strip()
    text = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
    if required and not text:
        raise Invalid(N_("Please fill in the {field}.", field=field), field=field)
    if len(text) > max_len:
        raise Invalid(N_("The {field} is too long: keep it under {max} characters.",
                         field=field, max=max_len), field=field)
    return text


_QUANTITY_RANGE = N_("The {field} must be more than 0 and at most 1,000,000.",
                     field="quantity")


def parse_quantity(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Invalid(N_("The {field} must be a number.", field="quantity"), field="quantity")
    try:
        q = Decimal(str(value))
    except InvalidOperation as exc:
        raise Invalid(N_("The {field} must be a number, like 2 or 1.5.", field="quantity"),
                      field="quantity") from exc
    if not q.is_finite() or q > Decimal("1000000"):
        raise Invalid(_QUANTITY_RANGE, field="quantity")
    q = q.quantize(Decimal("0.001"))  # what is stored: check the rounded value
    if q <= 0:
        raise Invalid(_QUANTITY_RANGE, field="quantity")
    return q.normalize()


def parse_enum(cls: type[E], value: object, *, field: str, default: E | None = None) -> E:
    if value is None or value == "":
        if default is None:
            raise Invalid(N_("Please choose the {field}.", field=field), field=field)
        return default
    try:
        return cls(str(value))
    except ValueError as exc:
        choices = ", ".join(m.value for m in cls)
        raise Invalid(N_("The {field} must be one of: {choices}.", field=field,
                         choices=choices), field=field) from exc


def title_from(description: str) -> str:
    """"kind + a sentence is enough": the first line or sentence becomes the title."""
    first = description.strip().split("\n", 1)[0]
    sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0]
    if len(sentence) > TITLE_MAX:
        sentence = sentence[: TITLE_MAX - 1].rsplit(" ", 1)[0] + "…"
    return sentence


@dataclass(frozen=True)
class GroupPolicy:
    """The group's settings that shape posts."""

    categories: frozenset[str]
    areas: frozenset[str] = field(default_factory=frozenset)  # empty: any postal area
    default_visibility: Visibility = Visibility.PUBLIC
    expiry: timedelta = DEFAULT_EXPIRY
    retention: timedelta = DEFAULT_RETENTION
    hold_nonmember_posts: bool = True
    # Per category, the words that suggest it (fediaid/domain/categories.py): the built-in
    # English and Spanish keywords and the coordinators' own, for the categories in use.
    category_keywords: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Where local phone numbers are read (the privacy check, the hotline): ISO 3166-1 alpha-2.
    phone_region: str = DEFAULT_REGION


def suggested_category(title: str, description: str, policy: GroupPolicy) -> str:
    """The category for a post whose author chose none: suggested from its words, else
    "other". The author sees it and can change it."""
    return suggest_category(f"{title}\n{description}", dict(policy.category_keywords)) or "other"


_POSTAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$")


def validate_area(area: str | None, policy: GroupPolicy) -> str | None:
    """An area is one of the group's neighborhoods or a postal area; never a street address."""
    if not area:
        return None
    if area in policy.areas:
        return area
    if looks_like_street(area) or len(area) > AREA_MAX:
        raise Invalid(N_("Use a neighborhood or a postal area, not a street address."),
                      field="area")
    if policy.areas and not _POSTAL.fullmatch(area):
        names = ", ".join(sorted(policy.areas))
        raise Invalid(N_("Choose one of the group's neighborhoods ({names}) or a postal area.",
                         names=names), field="area")
    if not policy.areas and not (_POSTAL.fullmatch(area) or re.fullmatch(r"[\w .'-]{2,64}",
                                                                          area)):
        raise Invalid(N_("Use a neighborhood or a postal area."), field="area")
    return area


def validate_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and value.tzinfo is None:
            raise Invalid(N_("The {field} needs a time zone (for example "
                             "2026-12-01T18:00:00Z).", field=name), field=name)
    if starts_at and ends_at and ends_at < starts_at:
        raise Invalid(N_("The time window ends before it starts."), field="ends_at")


@dataclass(frozen=True)
class Post:
    """An offer or need, local or received from another server."""

    id: int
    uri: str
    kind: Kind
    title: str
    description: str
    category: str
    quantity: Decimal | None
    unit: str
    area: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    urgency: Urgency
    visibility: Visibility
    state: State
    local: bool
    author_uri: str  # who the world sees: a member, or the group for anonymous/proxy posts
    creator_user_id: int | None  # the local account that really posted it (private)
    anonymous: bool
    proxy: bool
    held: bool  # waiting for a coordinator's approval
    via_group: bool  # a remote account's post the group shares
    recipients: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    closed_at: datetime | None
    delete_after: datetime | None
    # Hidden by a coordinator: kept, seen only by coordinators and its author
    # (``visibility.can_view``); the reason is told to the author (services/reports.py).
    hidden: bool = False

    @property
    def is_open(self) -> bool:
        return not self.state.closed
