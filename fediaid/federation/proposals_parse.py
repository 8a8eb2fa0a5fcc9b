"""Remote offers and needs (and answers to ours) parsed from untrusted JSON.

Pure: no I/O, never raises on bad input, never fetches a JSON-LD context. Keys are matched in
their compact form, types also when prefixed (``vf:Proposal``) or expanded
(``https://w3id.org/valueflows/ont/vf#Proposal``). Accepted shapes (PROTOCOL.md 1.1):

- a ``Note``/``Page``/``Article`` with FEP-0837 properties (what fediaid renders);
- a ``Proposal`` in the three revisions: oldest (no ``purpose``; ``provider``/``receiver`` on
  the primary intent tell offer from request), middle, newest (``purpose``);
- a plain post whose hashtags include ``#need`` or ``#offer`` (``structured=False``).

Nothing keeps coordinates: a location is reduced to its ``name``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from activitypub.vocab import as_list, id_of, ids_of
from activitypub.vocab import is_http_uri as _vocab_is_http_uri
from fediaid.domain.posts import AREA_MAX, MESSAGE_MAX, TITLE_MAX, UNIT_MAX, Kind, title_from
from fediaid.federation.proposals_render import (
    DEFAULT_CATEGORY_SLUGS,
    KIND_HASHTAGS,
    KIND_LABELS,
    UNIT_ONE,
    hashtag_key,
)
from fediaid.federation.sanitize import html_to_text, sanitize_html

MAX_DESCRIPTION_HTML = 20_000
MAX_LIST = 500  # addressees / tags looked at
QUANTITY_MAX = Decimal("1000000")

OBJECT_TYPES = frozenset({"Note", "Page", "Article", "Proposal"})
WRAPPER_TYPES = frozenset({"Create", "Update", "Announce"})
_HASHTAG_KINDS: Mapping[str, Kind] = {v: k for k, v in KIND_HASHTAGS.items()}


# Small tolerant readers ---------------------------------------------------------------------


def type_names(obj: Any) -> set[str]:
    """All type names of an object, without prefix or namespace (``vf:Proposal`` -> Proposal)."""
    if not isinstance(obj, Mapping):
        return set()
    out = set()
    for t in as_list(obj.get("type"))[:16]:
        if isinstance(t, str) and t:
            out.add(re.split(r"[:#/]", t)[-1])
    return out


def is_http_uri(value: Any) -> bool:
    """``activitypub.vocab.is_http_uri`` without its ValueError on hostile input (urlsplit
    raises on ``http://[x`` and on netlocs that change under NFKC normalisation)."""
    try:
        return _vocab_is_http_uri(value)
    except ValueError:
        return False


def _mapping(value: Any) -> Mapping[str, Any] | None:
    """The value if it is an object, or the first object of a list."""
    for v in as_list(value)[:MAX_LIST]:
        if isinstance(v, Mapping):
            return v
    return None


def _str(value: Any) -> str | None:
    """A string property, or the first string of a list / language map."""
    if isinstance(value, Mapping):
        value = list(value.values())[:MAX_LIST]
    for v in as_list(value)[:MAX_LIST]:
        if isinstance(v, str) and v:
            return v
    return None


def _text_of(obj: Mapping[str, Any], key: str) -> str | None:
    return _str(obj.get(key)) or _str(obj.get(f"{key}Map"))


def _http_id(value: Any) -> str | None:
    for v in as_list(value)[:MAX_LIST]:
        ident = id_of(v)
        if ident and is_http_uri(ident):
            return ident
    return None


def _uris(value: Any) -> tuple[str, ...]:
    raw = value[:MAX_LIST] if isinstance(value, list) else value
    return tuple(dict.fromkeys(i for i in ids_of(raw) if len(i) <= 2048))


def _clean(text: str, limit: int) -> str:
    out = " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())
    if len(out) > limit:
        out = out[: limit - 1].rsplit(" ", 1)[0] + "…"
    return out


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date-time; naive values are taken as UTC; anything else is None."""
    text = _str(value)
    if not text or len(text) > 64:
        return None
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def parse_amount(value: Any) -> Decimal | None:
    """A positive quantity (number or numeric string) of at most 1,000,000, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    text = str(value).strip()
    if not text or len(text) > 40:
        return None
    try:
        q = Decimal(text)
    except InvalidOperation:
        return None
    if not q.is_finite() or q <= 0 or q > QUANTITY_MAX:
        return None
    q = q.quantize(Decimal("0.001"))
    return q.normalize() if q > 0 else None


def parse_unit(value: Any) -> str | None:
    """``hasUnit``: a unit name; ``om2:kilogram`` or the full om-2 IRI become ``kilogram``."""
    text = _str(value)
    if not text:
        return None
    name = _clean(re.split(r"[:#/]", text.strip().rstrip("/"))[-1], UNIT_MAX)
    return name[:UNIT_MAX] or None


def parse_quantity(value: Any) -> tuple[Decimal | None, str | None]:
    """``resourceQuantity`` -> (amount, unit)."""
    q = _mapping(value)
    if q is None:
        return None, None
    return parse_amount(q.get("hasNumericalValue")), parse_unit(q.get("hasUnit"))


# HTML: sanitizing and plain text are fediaid/federation/sanitize.py (nh3) -----------------


# A #word of text starts the text or follows whitespace or one of "([,;". The pattern finds
# every "#word" and ``_content_hashtags`` checks the character before it: a lookbehind in
# the pattern (``(?:^|(?<=[\s(\[,;]))#``) gives the same matches but is tried at every
# position of the text, 10-15 times slower on a note (~50 us of 2 KB).
_CONTENT_HASHTAG = re.compile(r"#(\w{1,64})", re.UNICODE)
_BEFORE_HASHTAG = frozenset("([,;")


def _content_hashtags(text: str) -> list[str]:
    out = []
    for m in _CONTENT_HASHTAG.finditer(text):
        i = m.start()
        if i == 0 or text[i - 1].isspace() or text[i - 1] in _BEFORE_HASHTAG:
            out.append(m.group(1))
    return out


def hashtags(obj: Any) -> set[str]:
    """Lower-cased hashtag names without '#': the ``Hashtag`` entries of ``tag``, and also the
    ``#words`` of the text content (Lemmy and some others only have them there)."""
    if not isinstance(obj, Mapping):
        return set()
    out: set[str] = set()
    for t in as_list(obj.get("tag"))[:MAX_LIST]:
        if isinstance(t, Mapping) and "Hashtag" in type_names(t):
            name = _str(t.get("name"))
            if name and name.lstrip("#").strip():
                out.add(name.lstrip("#").strip().lower()[:100])
    content = _text_of(obj, "content")
    if content:
        out.update(m.lower() for m in _content_hashtags(html_to_text(content)))
    return out


def mentions(obj: Any) -> list[str]:
    """The ``href`` of every ``Mention`` tag (http(s) only), in order, without repeats."""
    if not isinstance(obj, Mapping):
        return []
    out: list[str] = []
    for t in as_list(obj.get("tag"))[:MAX_LIST]:
        if isinstance(t, Mapping) and "Mention" in type_names(t):
            href = id_of(t.get("href"))
            if href and is_http_uri(href) and href not in out:
                out.append(href)
    return out


def embedded_object(activity: Any, *, max_depth: int = 3) -> Any:
    """The object inside ``Announce``/``Create``/``Update`` wrappers (as Lemmy and FEP-1b12
    groups send them), or the value itself. Stops at a bare id. Authenticity (who may wrap
    what) is the caller's business."""
    current = activity
    for _ in range(max_depth):
        if not (type_names(current) & WRAPPER_TYPES):
            break
        assert isinstance(current, Mapping)
        inner = current.get("object")
        if isinstance(inner, list):
            inner = inner[0] if len(inner) == 1 else None
        if inner is None:
            break
        current = inner
    return current


# Proposals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteProposal:
    uri: str
    author_uri: str
    kind: Kind
    title: str
    description_html: str  # sanitized (sanitize_html)
    category: str | None
    quantity: Decimal | None
    unit: str
    area: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    published: datetime | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    audience: str | None
    in_reply_to: str | None
    structured: bool


def _kind_from_intent(intent: Mapping[str, Any], author: str) -> Kind | None:
    """Oldest revision: the primary intent's ``provider`` (offer) or ``receiver`` (request)."""
    provider, receiver = _http_id(intent.get("provider")), _http_id(intent.get("receiver"))
    if provider == author and receiver != author:
        return Kind.OFFER
    if receiver == author and provider != author:
        return Kind.NEED
    if provider and not receiver:
        return Kind.OFFER
    if receiver and not provider:
        return Kind.NEED
    return None


def _kind_from_hashtags(tags: set[str]) -> Kind | None:
    kinds = {_HASHTAG_KINDS[t] for t in tags if t in _HASHTAG_KINDS}
    return kinds.pop() if len(kinds) == 1 else None


def _category(intent: Mapping[str, Any] | None, tags: set[str],
              categories: Iterable[str]) -> str | None:
    known = sorted({c for c in categories if isinstance(c, str)})  # sets: fixed order
    if intent is not None:
        conforms = _str(intent.get("resourceConformsTo")) or id_of(
            _mapping(intent.get("resourceConformsTo")))
        if conforms:
            path = conforms.strip().split("?", 1)[0]
            last = re.split(r"[:#/]", path.rstrip("/#"))[-1].lower()
            if last in known:
                return last
    keys = {hashtag_key(t) for t in tags} - set(KIND_HASHTAGS.values())
    for slug in known:
        if hashtag_key(slug) in keys:
            return slug
    return None


_LABEL = re.compile(r"^(?:need|needed|offer|offering|request)\s*:\s*", re.IGNORECASE)


def _title(obj: Mapping[str, Any], text: str, kind: Kind) -> str:
    """``name``, else the first line/sentence of the text without leading @mentions and
    #hashtags; a leading "Need:"/"Offer:" label is dropped (the kind says it)."""
    title = ""
    name = _text_of(obj, "name")
    if name and name.strip():
        title = _clean(_LABEL.sub("", html_to_text(name)), TITLE_MAX)
    for line in text.split("\n") if not title else ():
        words = line.split()
        while words and words[0][:1] in ("@", "#"):
            words.pop(0)
        title = _clean(title_from(_LABEL.sub("", " ".join(words))), TITLE_MAX)
        if title:
            break
    return title[:1].upper() + title[1:] if title else KIND_LABELS[kind]


def may_be_proposal(obj: Mapping[str, Any], tags: Iterable[str]) -> bool:
    """False when ``parse_proposal(obj)`` is None whatever the categories, given ``tags``, the
    object's hashtags as ``hashtags(obj)`` finds them (all of them): it says what it is
    neither with FEP-0837's ``publishes``/``purpose`` nor with one of #offer or #need. True
    otherwise (then only ``parse_proposal`` knows). Cheaper when the hashtags are known."""
    if obj.get("publishes") is not None or obj.get("purpose") is not None:
        return True
    return _kind_from_hashtags(set(tags)) is not None


def parse_proposal(obj: Any, *,
                   categories: Iterable[str] = DEFAULT_CATEGORY_SLUGS) -> RemoteProposal | None:
    """An offer or need, or None for anything else. ``categories`` are the slugs a category
    may be recognised as (the default categories unless the group has its own)."""
    if not isinstance(obj, Mapping) or not (type_names(obj) & OBJECT_TYPES):
        return None
    uri, author = id_of(obj), _http_id(obj.get("attributedTo"))
    if not (uri and is_http_uri(uri) and author):
        return None
    tags = hashtags(obj)
    intent = _mapping(obj.get("publishes"))
    structured_kind = None
    if intent is not None:
        structured_kind = Kind.from_purpose(_str(obj.get("purpose"))) or _kind_from_intent(
            intent, author)
    kind = structured_kind or _kind_from_hashtags(tags) or Kind.from_purpose(
        _str(obj.get("purpose")))
    if kind is None:
        return None
    structured = structured_kind is not None
    if not structured:
        intent = None
    content = _text_of(obj, "content") or ""
    text = html_to_text(content)
    quantity, unit = parse_quantity(intent.get("resourceQuantity")) if intent else (None, None)
    place = _mapping(obj.get("location"))
    area = _text_of(place, "name") if place is not None else None
    starts = parse_datetime(obj.get("startTime")) or parse_datetime(obj.get("hasBeginning"))
    ends = parse_datetime(obj.get("endTime")) or parse_datetime(obj.get("hasEnd"))
    if starts and ends and ends < starts:
        ends = None
    return RemoteProposal(
        uri=uri,
        author_uri=author,
        kind=kind,
        title=_title(obj, text, kind),
        description_html=sanitize_html(content[:MAX_DESCRIPTION_HTML]),
        category=_category(intent, tags, categories),
        quantity=quantity,
        unit=unit or UNIT_ONE,
        area=(_clean(area, AREA_MAX) or None) if area else None,
        starts_at=starts,
        ends_at=ends,
        published=parse_datetime(obj.get("published")),
        to=_uris(obj.get("to")),
        cc=_uris(obj.get("cc")),
        audience=_http_id(obj.get("audience")),
        in_reply_to=_http_id(obj.get("inReplyTo")),
        structured=structured,
    )


# Answers: Offer / Accept / Reject -----------------------------------------------------------


@dataclass(frozen=True)
class RemoteOffer:
    """An "I can help" from a fediaid/FEP-0837 peer."""

    id: str
    actor_uri: str
    post_uri: str
    quantity: Decimal | None
    unit: str | None
    message: str  # plain text


def _primary_commitment(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    names = type_names(obj)
    if "Commitment" in names or ("satisfies" in obj and "Agreement" not in names):
        return obj  # oldest: Offer(Commitment)
    for key in ("stipulates", "stiplulates"):  # newest (and the FEP example's typo)
        found = _mapping(obj.get(key))
        if found is not None:
            return found
    for key in ("clauses", "commitments"):  # middle / oldest Accept result
        items = [c for c in as_list(obj.get(key))[:MAX_LIST] if isinstance(c, Mapping)]
        for c in items:
            sat = _http_id(c.get("satisfies"))
            if sat and sat.endswith("#primary"):
                return c
        if items:
            return items[0]
    return None


def parse_offer(activity: Any) -> RemoteOffer | None:
    """``Offer(Agreement{stipulates})`` (newest), ``Offer(Agreement{clauses})`` (middle) or
    ``Offer(Commitment)`` + ``inReplyTo`` (oldest); None for anything else."""
    if not isinstance(activity, Mapping) or "Offer" not in type_names(activity):
        return None
    offer_id, actor = id_of(activity), _http_id(activity.get("actor"))
    obj = _mapping(activity.get("object"))
    if not (offer_id and is_http_uri(offer_id) and actor and obj is not None):
        return None
    commitment = _primary_commitment(obj)
    if commitment is None:
        return None
    satisfies = _http_id(commitment.get("satisfies"))
    post_uri = satisfies.split("#", 1)[0] if satisfies else None
    if not is_http_uri(post_uri):
        post_uri = _http_id(activity.get("inReplyTo"))
    if not post_uri:
        return None
    quantity, unit = parse_quantity(commitment.get("resourceQuantity"))
    content = _text_of(activity, "content")
    message = html_to_text(content)[:MESSAGE_MAX] if content else ""
    return RemoteOffer(id=offer_id, actor_uri=actor, post_uri=post_uri, quantity=quantity,
                       unit=unit, message=message)


@dataclass(frozen=True)
class RemoteAgreementAnswer:
    accepted: bool
    offer_id: str
    agreement_id: str | None
    reason: str | None


def parse_offer_answer(activity: Any) -> RemoteAgreementAnswer | None:
    """``Accept``/``Reject`` whose object is an Offer id or an embedded Offer. A bare id may
    name anything: the caller matches it against the offers it sent."""
    if not isinstance(activity, Mapping):
        return None
    names = type_names(activity)
    accepted = "Accept" in names
    if accepted == ("Reject" in names):
        return None
    target = activity.get("object")
    if isinstance(target, list):
        target = target[0] if len(target) == 1 else None
    if isinstance(target, Mapping) and type_names(target) and "Offer" not in type_names(target):
        return None
    offer_id = id_of(target)
    if not (offer_id and is_http_uri(offer_id)):
        return None
    agreement_id = None
    if accepted:
        result = activity.get("result")
        agreement = _mapping(result)
        agreement_id = id_of(agreement) if agreement is not None else _str(result)
        if agreement_id and not is_http_uri(agreement_id):
            agreement_id = None
    reason = None
    if not accepted:
        content = _text_of(activity, "content") or _text_of(activity, "summary")
        reason = (html_to_text(content)[:MESSAGE_MAX] or None) if content else None
    return RemoteAgreementAnswer(accepted=accepted, offer_id=offer_id,
                                 agreement_id=agreement_id, reason=reason)
