"""Who can see a post, in words, and needs about sensitive topics (pure).

Every post shows its audience as a sentence ("Only members of Elm St Mutual Aid can see
this"), and the posting form offers the same sentences as its choices. A need about money,
health or housing is met, before it is published to more than the group's members, with a
suggestion to choose "members only" and to post as a neighbor (the author may keep their
choice).
"""

from __future__ import annotations

import re
from enum import StrEnum

from fediaid.domain.posts import Kind, Visibility
from fediaid.i18n import N_, Message


def audience_words(visibility: Visibility | str, group_name: str) -> str:
    """Who can see a post at this level, as one sentence (marked words: a page says them
    in the reader's language)."""
    level = Visibility(visibility)
    if level is Visibility.PUBLIC:
        return N_("Anyone on the internet can see this")
    if level is Visibility.NETWORK:
        return N_("Members of {group} and the groups it is linked with can see this",
                  group=group_name)
    if level is Visibility.MEMBERS:
        return N_("Only members of {group} can see this", group=group_name)
    return N_("Only the people named can see this")


def anonymity_words(*, anonymous: bool, proxy: bool, to_author: bool) -> str:
    """Whose name a post shows, said to its author (an empty string to anyone else: an
    anonymous post never says more than the group's name)."""
    if not to_author:
        return ""
    if proxy:
        return N_("The neighbor's name is not shown; only coordinators can see the intake "
                  "record")
    if anonymous:
        return N_("Your name is not shown")
    return N_("Your name is shown")


class Topic(StrEnum):
    MONEY = "money"
    HEALTH = "health"
    HOUSING = "housing"


# English and Spanish words, matched whole (a "rent" is not "parent"), case-insensitively.
_WORDS: dict[Topic, tuple[str, ...]] = {
    Topic.MONEY: (
        "money", "cash", "broke", "bills?", "debts?", "loans?", "paycheck", "wages?",
        "dollars?", "bucks", "venmo", "cashapp", "utilit(?:y|ies)",
        "electric bill", "overdraft", "food stamps", "ebt",
        "dinero", "efectivo", "deudas?", "préstamos?", "prestamos?", "pagar", "pago",
        "facturas?", "sueldo", "d[oó]lares", "plata",
    ),
    Topic.HEALTH: (
        "health", "illness", "doctors?", "hospital", "clinic", "medic(?:al|ine|ines"
        "|ation|ations)", "prescriptions?", "pharmacy", "insulin", "therapy", "therapist",
        "surgery", "pregnan(?:t|cy)", "cancer", "diabetes", "disab(?:led|ility)",
        "mental health", "depression", "anxiety", "covid", "dentist",
        "salud", "enferm[oa]s?", "enfermedad", "m[eé]dicos?", "hospital", "cl[ií]nica",
        "medicinas?", "medicamentos?", "farmacia", "embarazada", "embarazo",
        "terapia", "dentista",
    ),
    Topic.HOUSING: (
        "rent", "rental", "evict(?:ed|ion)?", "landlord", "housing", "homeless(?:ness)?",
        "shelter", "mortgage", "lease", "foreclosure", "motel",
        "renta", "alquiler", "desalojo", "desalojar", "desahucio", "casero", "vivienda",
        "sin hogar", "hipoteca", "refugio", "albergue",
    ),
}
_PATTERNS = {topic: re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", re.IGNORECASE)
             for topic, words in _WORDS.items()}
_AMOUNT = re.compile(r"[$€£]\s?\d|\d\s?(?:[$€£]|usd|eur|pesos)\b", re.IGNORECASE)

TOPIC_WORDS = {Topic.MONEY: N_("money"), Topic.HEALTH: N_("health"),
               Topic.HOUSING: N_("housing")}


def sensitive_topics(*texts: str) -> tuple[Topic, ...]:
    """The sensitive topics (money, health, housing) a text is about, in that order."""
    joined = "\n".join(texts)
    found = [topic for topic, pattern in _PATTERNS.items() if pattern.search(joined)]
    if Topic.MONEY not in found and _AMOUNT.search(joined):
        found.insert(0, Topic.MONEY)
    return tuple(t for t in Topic if t in found)


def sensitive_suggestion(kind: Kind, visibility: Visibility, anonymous: bool,
                         *texts: str) -> str | None:
    """What to suggest before a need about money, health or housing is published beyond
    the group's members, or posted under the author's name; None when nothing needs
    saying (offers, members-only or direct posts made as a neighbor, other topics)."""
    if kind is not Kind.NEED:
        return None
    wide = visibility in (Visibility.PUBLIC, Visibility.NETWORK)
    if not wide:
        return None
    topics = sensitive_topics(*texts)
    if not topics:
        return None
    about = Message(TOPIC_WORDS[topics[0]], {})
    for t in topics[1:]:
        about = Message(N_("{first} and {second}"),
                        {"first": about, "second": Message(TOPIC_WORDS[t], {})})
    if anonymous:
        return N_("This need seems to be about {about}. Many neighbors prefer to keep such "
                  "needs within the group: consider choosing \"Members only\". It is your "
                  "choice.", about=about)
    return N_("This need seems to be about {about}. Many neighbors prefer to keep such "
              "needs within the group: consider choosing \"Members only\" and \"Post as a "
              "neighbor\" (the group's name is shown instead of yours). It is your choice.",
              about=about)
