"""Remote HTML, made safe once, on arrival: the one home of sanitizing (and of its plain text).

Every piece of HTML from another server (a Note's ``content``, an offer's description, a
profile's ``summary``) goes through ``sanitize_html`` before it is stored; what is stored is
shown as it is. The work is done by ``nh3`` (the Python binding of the Rust crate Ammonia,
which parses with html5ever, the HTML5 parser of Servo): we only say what to keep.

What is kept is Mastodon's allow-list (PROTOCOL.md 3.7, Mastodon 4.2+):

- tags ``p br a span strong em b i u del pre code ul ol li blockquote``; anything else is
  removed and its text kept (``<img>`` too: attachments are their own thing);
- ``script style`` and the other elements whose content is not text to read (``template
  iframe object embed svg math noscript textarea select title head``) are removed with
  their content;
- on ``a`` and ``span`` only the classes of microformats (``h-* p-* u-* dt-* e-*``) and
  ``mention hashtag ellipsis invisible``; other classes and every other attribute go;
- ``a href`` only with an absolute ``http``/``https`` URL (others lose the ``href``, the text
  stays); every link gets ``rel="nofollow noopener noreferrer"``. Mastodon also keeps ``dat
  dweb ipfs ipns ssb gopher xmpp magnet gemini`` links; we do not (a mutual aid group's
  members are sent to the web only);
- ``ol start``, ``ol reversed`` and ``li value`` (numbers only);
- headings ``h1``-``h6`` become ``<p><strong>...</strong></p>`` (as Mastodon does) and
  ``div section article`` become ``p``, so their text keeps its own paragraph. Ammonia
  cannot rename a tag, so the names are mapped *before* it parses (``_pre_map``): a mapping
  that misfires (say, inside an attribute value) only changes formatting, since everything
  still goes through the sanitizer; mapping before parsing also lets the parser nest the
  new paragraphs as a browser would (no ``<p>`` inside a ``<p>``). Empty paragraphs that
  this leaves are dropped.

Comments are dropped. At most ``MAX_HTML`` characters of a document are looked at.

``html_to_text`` is text extraction, not sanitizing (titles, search, hashtags in content):
the same parser keeps only block tags, and the result has one line per paragraph, list
item or ``<br>``.
"""

from __future__ import annotations

import html
import re

import nh3

__all__ = ["MAX_HTML", "html_to_text", "sanitize_html"]

MAX_HTML = 50_000  # characters of remote HTML looked at

KEEP_TAGS = frozenset({"p", "br", "a", "span", "strong", "em", "b", "i", "u", "del", "pre",
                       "code", "ul", "ol", "li", "blockquote"})
DROP_WITH_CONTENT = frozenset({"script", "style", "template", "iframe", "object", "embed",
                               "svg", "math", "noscript", "textarea", "select", "title",
                               "head"})
# "*" empty: Ammonia's generic attributes (``lang``, ``title``) are not kept either.
_ATTRIBUTES = {"*": set[str](), "a": {"href", "class"}, "span": {"class"},
               "ol": {"start", "reversed"}, "li": {"value"}}
_KEEP_CLASS = re.compile(r"^(?:(?:h|p|u|dt|e)-[\w-]+|mention|hashtag|ellipsis|invisible)$",
                         re.ASCII)
LINK_REL = "nofollow noopener noreferrer"
_HEADING = re.compile(r"<(/?)h[1-6](?=[\s/>])", re.IGNORECASE)
_AS_PARAGRAPH = re.compile(r"<(/?)(?:div|section|article)(?=[\s/>])", re.IGNORECASE)
_EMPTY_P = re.compile(r"<p>(?:\s|<br>)*</p>")

# Text extraction: the tags that end a line.
_BLOCK_TAGS = frozenset({"p", "br", "li", "blockquote", "pre", "ul", "ol", "tr", "h1", "h2",
                         "h3", "h4", "h5", "h6", "div", "section", "article"})
_TAG = re.compile(r"<[^>]*>")  # exact on Ammonia's output: its kept tags have no attributes


def _attribute(tag: str, name: str, value: str) -> str | None:
    """Ammonia's ``attribute_filter``: the value to keep, or None to drop the attribute.
    URLs (``href``) were already checked by Ammonia (http/https, absolute)."""
    if name == "class":
        kept = " ".join(c for c in value.split() if _KEEP_CLASS.match(c))
        return kept or None
    if name in ("start", "value"):
        digits = value.strip()
        return str(int(digits[:9])) if digits.isascii() and digits.isdigit() else None
    if name == "reversed":
        return ""
    return value


def _pre_map(source: str) -> str:
    """Headings -> ``<p><strong>``, ``div section article`` -> ``p`` (attributes are left for
    the sanitizer to drop)."""
    source = _HEADING.sub(lambda m: "</strong></p" if m[1] else "<p><strong", source)
    return _AS_PARAGRAPH.sub(r"<\1p", source)


# Built once (Ammonia's builder), reused by every call.
_SANITIZER = nh3.Cleaner(
    tags=set(KEEP_TAGS),
    clean_content_tags=set(DROP_WITH_CONTENT),
    attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
    attribute_filter=_attribute,
    link_rel=LINK_REL,
    url_schemes={"http", "https"},
    url_relative="deny",
    strip_comments=True,
)
_TEXT_BLOCKS = nh3.Cleaner(tags=set(_BLOCK_TAGS), clean_content_tags=set(DROP_WITH_CONTENT),
                           attributes={"*": set()}, link_rel=None, strip_comments=True)


def sanitize_html(source: str) -> str:
    """Remote HTML reduced to what Mastodon keeps (see the module's docstring)."""
    if not isinstance(source, str) or not source:
        return ""
    return _EMPTY_P.sub("", _SANITIZER.clean(_pre_map(source[:MAX_HTML])))


def html_to_text(source: str) -> str:
    """Plain text of remote HTML, one line per paragraph / list item / ``<br>``; scripts,
    styles and the like leave nothing."""
    if not isinstance(source, str) or not source:
        return ""
    raw = html.unescape(_TAG.sub("\n", _TEXT_BLOCKS.clean(source[:MAX_HTML])))
    lines = (" ".join(line.split()) for line in raw.split("\n"))
    return "\n".join(line for line in lines if line)
