"""Shared domain blocklists (pure; no I/O): Mastodon's CSV format, the list we publish for
linked groups, the public list of moderated servers, and what a subscribed list proposes.

- **CSV** is Mastodon's export/import format (Moderation -> Federation -> Export):
  ``#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate``, severity
  ``suspend``, ``silence`` or ``noop``. Reading is all or nothing: ``parse_csv`` raises
  ``BlocklistError`` naming the first bad line, and returns nothing.
- **The published document** (docs/federation.md, "Shared blocklists") is what a linked
  group's server fetches, signed, from ``/groups/<slug>/blocklist``.
- **Proposals** (``proposals``): a subscribed list never changes our rules by itself; each
  difference becomes a proposal a coordinator accepts or dismisses. A list only proposes to
  make a rule stricter (or, for a rule we took from that list, to follow its change or its
  retraction).
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fediaid.domain.federation import clean_domain
from fediaid.i18n import N_

CSV_HEADER = ("#domain", "#severity", "#reject_media", "#reject_reports", "#public_comment",
              "#obfuscate")
MAX_ENTRIES = 20_000
MAX_COMMENT = 1000
DOCUMENT_TYPE = "DomainBlocklist"
NAMESPACE = "https://fediaid.org/ns#"
CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    {"fediaid": NAMESPACE, "DomainBlocklist": "fediaid:DomainBlocklist",
     "blocklist": {"@id": "fediaid:blocklist", "@type": "@id"},
     "domain": "fediaid:domain", "severity": "fediaid:severity",
     "comment": "fediaid:comment"},
]


class BlocklistError(ValueError):
    """A blocklist (CSV or published document) that cannot be read; nothing was changed."""


class Severity(enum.StrEnum):
    """A domain's rule, as Mastodon names it. ``NOOP``: no block (the allow-list is apart)."""

    SUSPEND = "suspend"
    SILENCE = "silence"
    NOOP = "noop"

    @property
    def rank(self) -> int:
        return {Severity.NOOP: 0, Severity.SILENCE: 1, Severity.SUSPEND: 2}[self]


@dataclass(frozen=True)
class Entry:
    """One line of a blocklist: a domain, what to do with it, and the public comment."""

    domain: str
    severity: Severity
    comment: str = ""
    obfuscate: bool = False
    reject_media: bool = False
    reject_reports: bool = False


def digest(domain: str) -> str:
    """Mastodon's ``digest`` of a moderated domain: SHA-256 of the name, hex."""
    return hashlib.sha256(domain.encode()).hexdigest()


def obfuscated(domain: str) -> str:
    """Mastodon's ``public_domain`` of an obfuscated block: the middle letters as ``*``."""
    length = len(domain)
    keep = length // 4
    return "".join(c if i <= keep or i >= length - keep or c == "." else "*"
                   for i, c in enumerate(domain))


def _clean_comment(text: object) -> str:
    value = " ".join(str(text or "").split())
    return value[:MAX_COMMENT]


def _bool(text: str, line: int, column: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise BlocklistError(N_("Line {n}: {column} should be true or false, not “{text}”.",
                            n=line, column=column, text=text))


def _severity(text: str, line: int) -> Severity:
    try:
        return Severity(text.strip().lower() or "suspend")
    except ValueError:
        raise BlocklistError(N_("Line {n}: the severity should be suspend, silence or noop, "
                                "not “{text}”.", n=line, text=text)) from None


def parse_csv(text: str) -> list[Entry]:
    """Read a blocklist in Mastodon's CSV format (its header, or a bare list of domains, one
    a line, as older exports and many shared lists are). All or nothing: the first bad line
    raises ``BlocklistError`` with its number."""
    if "\x00" in text:
        raise BlocklistError(N_("This is not a CSV file (it contains binary data)."))
    text = text.lstrip("\ufeff")
    try:
        raw = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise BlocklistError(N_("This CSV file cannot be read: {problem}.",
                                problem=str(exc))) from None
    rows = [(n, r) for n, r in enumerate(raw, start=1) if any(c.strip() for c in r)]
    if not rows:
        raise BlocklistError(N_("The file is empty: there is no domain in it."))
    columns: list[str] = ["#domain"]
    first_n, first = rows[0]
    if first and first[0].strip().startswith("#"):
        columns = [c.strip().lower() for c in first]
        if "#domain" not in columns:
            raise BlocklistError(N_("The first line names the columns but has no #domain "
                                    "column."))
        unknown = [c for c in columns if c not in CSV_HEADER]
        if unknown:
            raise BlocklistError(N_("Line {n}: unknown column {column} (expected {columns}).",
                                    n=first_n, column=unknown[0],
                                    columns=",".join(CSV_HEADER)))
        rows = rows[1:]
    if len(rows) > MAX_ENTRIES:
        raise BlocklistError(N_("The file has {n} lines; at most {max} are read.",
                                n=len(rows), max=MAX_ENTRIES))
    seen: dict[str, int] = {}
    out: list[Entry] = []
    for n, row in rows:
        if len(row) > len(columns):
            raise BlocklistError(N_("Line {n}: {values} values, but the header names "
                                    "{columns} columns.", n=n, values=len(row),
                                    columns=len(columns)))
        cells = dict(zip(columns, (c.strip() for c in row), strict=False))
        if "*" in cells.get("#domain", ""):
            raise BlocklistError(N_("Line {n}: “{domain}” is obfuscated; give the full name.",
                                    n=n, domain=cells["#domain"]))
        try:
            domain = clean_domain(cells.get("#domain", ""))
        except ValueError:
            raise BlocklistError(N_(
                "Line {n}: “{domain}” is not a domain name (write it like spam.example, "
                "without https://).", n=n, domain=cells.get("#domain", ""))) from None
        if domain in seen:
            raise BlocklistError(N_("Line {n}: {domain} is already on line {first}.", n=n,
                                    domain=domain, first=seen[domain]))
        seen[domain] = n
        out.append(Entry(
            domain=domain, severity=_severity(cells.get("#severity", ""), n),
            comment=_clean_comment(cells.get("#public_comment", "")),
            obfuscate=_bool(cells.get("#obfuscate", ""), n, "#obfuscate"),
            reject_media=_bool(cells.get("#reject_media", ""), n, "#reject_media"),
            reject_reports=_bool(cells.get("#reject_reports", ""), n, "#reject_reports")))
    return out


def _cell(text: str) -> str:
    """A value that a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_csv(entries: Iterable[Entry]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for e in sorted(entries, key=lambda e: e.domain):
        writer.writerow([e.domain, e.severity.value, str(e.reject_media).lower(),
                         str(e.reject_reports).lower(), _cell(e.comment),
                         str(e.obfuscate).lower()])
    return buf.getvalue()


# -- what an import or a subscribed list would change --------------------------------------

class Change(enum.StrEnum):
    ADD = "add"  # a new rule
    CHANGE = "change"  # another severity
    COMMENT = "comment"  # the same severity, another public comment
    LIFT = "lift"  # lift our rule (noop in an import; a retraction by a subscribed list)


@dataclass(frozen=True)
class Current:
    """Our rule for a domain as the blocklist features compare it."""

    severity: Severity
    comment: str = ""
    source: int | None = None  # the subscription the rule was taken from


@dataclass(frozen=True)
class Difference:
    domain: str
    change: Change
    severity: Severity  # what the rule would become
    comment: str
    before: Severity  # what it is now


def import_plan(entries: Sequence[Entry], current: Mapping[str, Current]
                ) -> list[Difference]:
    """What importing ``entries`` changes (a ``noop`` line lifts our rule)."""
    out: list[Difference] = []
    for e in entries:
        now = current.get(e.domain)
        before = now.severity if now else Severity.NOOP
        if e.severity is before:
            if now is not None and e.severity is not Severity.NOOP and e.comment and (
                    e.comment != now.comment):
                out.append(Difference(e.domain, Change.COMMENT, e.severity, e.comment, before))
            continue
        kind = (Change.LIFT if e.severity is Severity.NOOP
                else Change.ADD if before is Severity.NOOP else Change.CHANGE)
        out.append(Difference(e.domain, kind, e.severity, e.comment, before))
    return out


def proposals(theirs: Sequence[Entry], current: Mapping[str, Current], source: int, *,
              own_domain: str) -> list[Difference]:
    """What a subscribed list (``source``) proposes against our rules ``current``.

    - a stricter rule than ours for one of their domains: proposed;
    - a rule we took from this list and they changed: their new severity proposed;
    - a rule we took from this list that they dropped (a retraction): lifting it proposed;
    - a milder rule than one of our own: nothing (a list never weakens our own rules).
    Our own domain is never proposed."""
    out: list[Difference] = []
    listed: set[str] = set()
    for e in theirs:
        if e.severity is Severity.NOOP or e.domain == own_domain:
            continue
        listed.add(e.domain)
        now = current.get(e.domain)
        before = now.severity if now else Severity.NOOP
        ours_from_them = now is not None and now.source == source
        if e.severity is before:
            continue
        if e.severity.rank > before.rank or ours_from_them:
            kind = Change.ADD if before is Severity.NOOP else Change.CHANGE
            out.append(Difference(e.domain, kind, e.severity, e.comment, before))
    for domain, now in current.items():
        if now.source == source and domain not in listed and now.severity is not Severity.NOOP:
            out.append(Difference(domain, Change.LIFT, Severity.NOOP, "", now.severity))
    return sorted(out, key=lambda d: d.domain)


# -- the published document ------------------------------------------------------------------

def render_document(uri: str, publisher: str, updated: str, entries: Iterable[Entry]
                    ) -> dict[str, Any]:
    items = [{"domain": e.domain, "severity": e.severity.value, "comment": e.comment}
             for e in sorted(entries, key=lambda e: e.domain)
             if e.severity is not Severity.NOOP]
    return {"@context": CONTEXT, "id": uri, "type": DOCUMENT_TYPE, "attributedTo": publisher,
            "updated": updated, "totalItems": len(items), "items": items}


def parse_document(doc: Mapping[str, Any]) -> list[Entry]:
    """A published list as fetched (all or nothing, like the CSV)."""
    if doc.get("type") != DOCUMENT_TYPE:
        raise BlocklistError(N_("That address is not a published blocklist."))
    items = doc.get("items")
    if not isinstance(items, list) or len(items) > MAX_ENTRIES:
        raise BlocklistError(N_("The published blocklist has no readable list of items."))
    out: list[Entry] = []
    seen: set[str] = set()
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("domain"), str):
            raise BlocklistError(N_("Item {n} of the published blocklist has no domain.",
                                    n=n))
        try:
            domain = clean_domain(item["domain"])
            severity = Severity(str(item.get("severity") or "suspend"))
        except ValueError:
            raise BlocklistError(N_("Item {n} of the published blocklist cannot be read.",
                                    n=n)) from None
        if domain in seen:
            continue
        seen.add(domain)
        out.append(Entry(domain, severity, _clean_comment(item.get("comment"))))
    return out
