"""The words of every e-mail we send: a plain-text body and a simple HTML part with the same
words. Pure: the caller passes what to say and a ``gettext`` for the member's language
(identity until the catalogs are wired in; the words are written as ``gettext("...")`` calls
so Babel extracts them).

What an e-mail never holds: the text of an answer or of an exchange message (they stay on
the server, behind a login), a phone number, anyone's e-mail address but the reader's own.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Gettext = Callable[[str], str]


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class DigestItem:
    kind: str  # "need" or "offer"
    title: str
    category: str
    area: str
    url: str
    from_group: str = ""  # a need a linked group offered this group: that group's name


def _html(paragraphs: Sequence[str | tuple[str, str]], footer: Sequence[str | tuple[str, str]]
          ) -> str:
    """Paragraphs as HTML; a (words, url) pair is a link."""
    def para(p: str | tuple[str, str]) -> str:
        if isinstance(p, tuple):
            words, url = p
            return f'<p><a href="{html.escape(url)}">{html.escape(words)}</a></p>'
        return "<p>" + html.escape(p).replace("\n", "<br>") + "</p>"

    body = "\n".join(para(p) for p in paragraphs)
    if footer:
        body += '\n<hr>\n<div style="font-size:small;color:#555">' + "\n".join(
            para(p) for p in footer) + "</div>"
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>"
            f"<body>\n{body}\n</body></html>\n")


def _text(paragraphs: Sequence[str | tuple[str, str]],
          footer: Sequence[str | tuple[str, str]]) -> str:
    def para(p: str | tuple[str, str]) -> str:
        return f"{p[0]}:\n{p[1]}" if isinstance(p, tuple) else p

    out = "\n\n".join(para(p) for p in paragraphs)
    if footer:
        out += "\n\n-- \n" + "\n\n".join(para(p) for p in footer)
    return out + "\n"


def _compose(subject: str, paragraphs: Sequence[str | tuple[str, str]],
             footer: Sequence[str | tuple[str, str]] = ()) -> Composed:
    return Composed(subject=subject, text=_text(paragraphs, footer),
                    html=_html(paragraphs, footer))


def _chosen_footer(gettext: Gettext, settings_url: str, unsubscribe_url: str
                   ) -> list[str | tuple[str, str]]:
    return [(gettext("You chose to get these e-mails. Change what you get"), settings_url),
            (gettext("Stop these e-mails with one click"), unsubscribe_url)]


def confirm(*, group: str, link: str, gettext: Gettext = _same) -> Composed:
    return _compose(
        gettext("Confirm your e-mail address for {group}").format(group=group),
        [gettext("Someone (we hope you) added this address to an account at {group}.")
         .format(group=group),
         (gettext("Confirm it by opening this link (it works once, for two days)"), link),
         gettext("If it was not you, do nothing: the address is not used without this "
                 "step.")])


def login(*, group: str, link: str, gettext: Gettext = _same) -> Composed:
    return _compose(
        gettext("Your login link for {group}").format(group=group),
        [gettext("You asked for a link to log in to {group}.").format(group=group),
         (gettext("Log in by opening this link (it works once, for an hour)"), link),
         gettext("If you did not ask for it, do nothing: nobody can use it without this "
                 "e-mail.")])


def test(*, group: str, gettext: Gettext = _same) -> Composed:
    return _compose(
        gettext("Test message from {group}").format(group=group),
        [gettext("This is a test of the e-mail settings of {group}. It arrived, so the "
                 "settings work.").format(group=group)])


def answer(*, group: str, post_title: str, need: bool, responder: str, url: str,
           settings_url: str, unsubscribe_url: str, gettext: Gettext = _same) -> Composed:
    words = (gettext("{name} answered your need “{title}”.") if need
             else gettext("{name} answered your offer “{title}”."))
    return _compose(
        gettext("New answer: {title}").format(title=post_title),
        [words.format(name=responder, title=post_title),
         (gettext("Read the answer and reply"), url)],
        _chosen_footer(gettext, settings_url, unsubscribe_url))


def message(*, group: str, post_title: str, sender: str, what: str, url: str,
            settings_url: str, unsubscribe_url: str, gettext: Gettext = _same) -> Composed:
    """``what``: "message", "accepted" or "declined"."""
    if what == "accepted":
        line = gettext("{name} accepted your answer to “{title}”. You can now talk "
                       "privately.")
    elif what == "declined":
        line = gettext("{name} declined your answer to “{title}”.")
    else:
        line = gettext("{name} sent you a message about “{title}”.")
    return _compose(
        gettext("New message: {title}").format(title=post_title),
        [line.format(name=sender, title=post_title),
         (gettext("Read it and reply"), url)],
        _chosen_footer(gettext, settings_url, unsubscribe_url))


def digest(*, group: str, items: Sequence[DigestItem], weekly: bool, more_url: str,
           settings_url: str, unsubscribe_url: str, gettext: Gettext = _same) -> Composed:
    subject = (gettext("This week at {group}: {n} new offers and needs") if weekly
               else gettext("Today at {group}: {n} new offers and needs"))
    paragraphs: list[str | tuple[str, str]] = [
        (gettext("New offers and needs this week, in the categories and neighborhoods you "
                 "chose:") if weekly else
         gettext("New offers and needs today, in the categories and neighborhoods you "
                 "chose:"))]
    for item in items:
        label = gettext("Need") if item.kind == "need" else gettext("Offer")
        where = ", ".join(x for x in (item.category, item.area) if x)
        if item.from_group:
            where = ", ".join(x for x in (where, gettext(
                "offered by the linked group {group}").format(group=item.from_group)) if x)
        paragraphs.append((f"{label}: {item.title}" + (f" ({where})" if where else ""),
                           item.url))
    paragraphs.append((gettext("See everything"), more_url))
    return _compose(subject.format(group=group, n=len(items)), paragraphs,
                    _chosen_footer(gettext, settings_url, unsubscribe_url))
