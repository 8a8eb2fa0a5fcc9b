"""The printed flyer as a PDF (fpdf2) and its QR code (segno): drawing only, no database.

``render_pdf(flyer, paper=..., lang=..., gettext=...)`` lays out one page of A4 or US Letter
(a long week continues onto a second page, the table's headings repeated, rows never split):
the group's name and description, the hotline and its hours, how to join, a QR code to the
group's page, then this week's open needs and offers (what, category, neighborhood).

Letters: fpdf2's built-in fonts know only Latin-1, and neighbors write ñ, other scripts and
emoji. The flyer uses DejaVu Sans (Latin, Greek, Cyrillic, Hebrew, Arabic and Farsi letters,
many symbols) from the system's fonts (Debian: ``fonts-dejavu-core``, in the container image),
and for the characters DejaVu lacks (Chinese, Japanese, Korean) Droid Sans Fallback (Debian:
``fonts-droid-fallback``) as fpdf2's fallback font, embedded only in a flyer that uses it.
Without Droid Sans Fallback those characters print as white squares and the log says so once.
Every character no font can draw is replaced by a white square before drawing, and invisible
joiners and emoji variation marks are dropped, so no text can fail to print. Without DejaVu
Sans the PDF falls back to Helvetica with letters outside Latin-1 reduced to their base
letter or replaced, and says so once in the log.

Right-to-left text (Arabic, Farsi, Hebrew) is shaped by HarfBuzz (fpdf2's text shaping with
``uharfbuzz``): letters joined, each paragraph laid out by the Unicode bidirectional
algorithm (so Latin words and digits inside an Arabic title read the right way), and a
paragraph that starts right-to-left aligned right, in the table's cells too. Shaping is
turned on only for a flyer that holds such text: an all-Latin flyer is drawn as before, at
the same speed.

fpdf2 (with uharfbuzz), fontTools and segno are imported on first use: a server that never
prints a flyer does not load them (idle memory, docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import struct
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fediaid.domain.flyer import Flyer, FlyerItem, Paper

if TYPE_CHECKING:
    from segno import QRCode

log = logging.getLogger(__name__)

Gettext = Callable[[str], str]

#: Where systems keep DejaVu Sans (Debian/Ubuntu, Fedora/Alpine, Arch, FreeBSD, macOS
#: Homebrew), regular and bold.
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts/dejavu",
    "/opt/homebrew/share/fonts",
)
REGULAR, BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
#: Where systems keep Droid Sans Fallback (Chinese, Japanese kana and Korean Hangul in one
#: 3.4 MB TrueType font; fpdf2 embeds only the glyphs a flyer uses). First Debian's copy
#: for Ghostscript, which has every Hangul syllable (Debian's DroidSansFallbackFull.ttf has
#: Japanese forms of some Han characters but almost no Hangul), then that one (Debian,
#: Fedora, Arch).
CJK_FONTS = (
    "/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/google-droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/TTF/DroidSansFallbackFull.ttf",
)
DASH = "\u2013"  # EN DASH, between two days and for no neighborhood
MISSING = "\u25a1"  # WHITE SQUARE: what a character the font lacks becomes
MARGIN = 14.0  # mm
QR_SIZE = 42.0  # mm, with its quiet zone: scannable from a metre away
MAX_PAGES = 2


@dataclass(frozen=True)
class FontSet:
    """The TTF files to embed and the characters both can draw; ``None`` paths mean
    fpdf2's built-in Helvetica (Latin-1). ``fallback`` draws what the two lack (CJK)."""

    regular: Path | None
    bold: Path | None
    codepoints: frozenset[int]
    fallback: Path | None = None

    @property
    def builtin(self) -> bool:
        return self.regular is None

    @cached_property
    def fallback_codepoints(self) -> frozenset[int]:
        """What only the fallback font draws; read on the first flyer that needs it (its
        cmap takes ~80 ms), empty when it cannot be read (logged)."""
        if self.fallback is None:
            return frozenset()
        try:
            return _codepoints(self.fallback) - self.codepoints
        except _font_errors():
            log.warning("flyer: cannot read the font %s", self.fallback, exc_info=True)
            return frozenset()

    @cached_property
    def every_codepoint(self) -> frozenset[int]:
        """What the fonts can draw with the fallback."""
        return self.codepoints | self.fallback_codepoints


def _font_errors() -> tuple[type[BaseException], ...]:
    """What fontTools raises on a broken font file."""
    from fontTools.ttLib import TTLibError  # type: ignore[import-untyped]

    return (OSError, ValueError, LookupError, AssertionError, struct.error, TTLibError)


@cache
def system_fonts(dirs: tuple[str, ...] = FONT_DIRS,
                 cjk: tuple[str, ...] = CJK_FONTS) -> FontSet:
    """DejaVu Sans from the first directory holding both faces, else Helvetica; with it the
    first CJK font of ``cjk`` that exists, else none (logged once: white squares)."""
    for folder in dirs:
        regular, bold = Path(folder) / REGULAR, Path(folder) / BOLD
        if regular.is_file() and bold.is_file():
            try:
                fonts = FontSet(regular, bold, _codepoints(regular) & _codepoints(bold))
            except _font_errors():  # a broken font file: try the next, then Helvetica
                log.warning("flyer: cannot read the font %s", regular, exc_info=True)
                continue
            return _with_fallback(fonts, cjk)
    log.warning("flyer: DejaVu Sans not found (Debian: apt install fonts-dejavu-core); the "
                "PDF uses Helvetica and replaces letters outside Latin-1")
    return FontSet(None, None, frozenset(c for c in range(0x20, 0x100)
                                         if not 0x7F <= c < 0xA0))


def _with_fallback(fonts: FontSet, cjk: tuple[str, ...]) -> FontSet:
    for name in cjk:
        if Path(name).is_file():
            return replace(fonts, fallback=Path(name))
    log.warning("flyer: no CJK font found (Debian: apt install fonts-droid-fallback); "
                "Chinese, Japanese and Korean letters print as white squares")
    return fonts


def _codepoints(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap())


# -- text the font can draw --------------------------------------------------------------

_DROP_CATEGORIES = ("Cf", "Cc", "Cs", "Co", "Cn", "Zl", "Zp")


#: Plain stand-ins for punctuation a font may lack (Helvetica has no dashes or curly quotes).
_PLAIN = {"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
          "\u2015": "-", "\u2212": "-", "\u2018": "'", "\u2019": "'", "\u201a": "'",
          "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2026": "...", "\u2022": "*",
          "\u00a0": " ", "\u202f": " ", "\u2009": " "}


def drawable(text: str, codepoints: frozenset[int]) -> str:
    """``text`` with only characters in ``codepoints`` (and line breaks, as ``\\n``):
    invisible format characters (zero width joiners, emoji variation selectors and skin
    tones) dropped, a letter the font lacks reduced to its base letter (``ő`` -> ``o``) or
    to plain punctuation when those are there, anything else replaced by a white square (or
    ``?``)."""
    missing = MISSING if ord(MISSING) in codepoints else "?"
    out: list[str] = []
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n"))
    for ch in text:
        cp = ord(ch)
        if cp in codepoints or ch == "\n":
            out.append(ch)
            continue
        if ch in "\t\r\v\f\u2028\u2029\x85":
            out.append(" ")
            continue
        category = unicodedata.category(ch)
        if category in _DROP_CATEGORIES or category == "Mn" or 0xFE00 <= cp <= 0xFE0F or (
                0x1F3FB <= cp <= 0x1F3FF) or 0xE0020 <= cp <= 0xE007F:
            continue
        plain = _PLAIN.get(ch) or "".join(
            c for c in unicodedata.normalize("NFKD", ch)
            if ord(c) in codepoints and unicodedata.category(c) != "Mn")
        out.append(plain if plain and len(plain) <= 3 and all(
            ord(c) in codepoints for c in plain) else missing)
    return "".join(out)


#: Chinese, Japanese and Korean: Hangul jamo, CJK radicals to Yi, Hangul jamo extended,
#: Hangul syllables, compatibility ideographs and forms, full and half widths, and the
#: supplementary ideographic planes. Only these send a flyer to the fallback font (so an
#: emoji alone does not read it).
_CJK_RANGES = ((0x1100, 0x11FF), (0x2E80, 0xA4CF), (0xA960, 0xA97F), (0xAC00, 0xD7FF),
               (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x20000, 0x3FFFF))


def is_cjk(cp: int) -> bool:
    return cp >= 0x1100 and any(low <= cp <= high for low, high in _CJK_RANGES)


# -- direction ----------------------------------------------------------------------------

def needs_shaping(text: str) -> bool:
    """Whether ``text`` holds right-to-left letters or Arabic digits (Arabic, Farsi, Hebrew,
    Syriac...), which only HarfBuzz and the bidirectional algorithm draw right."""
    return not text.isascii() and any(
        unicodedata.bidirectional(ch) in ("R", "AL", "AN") for ch in text)


def right_to_left(text: str) -> bool:
    """Whether a paragraph reads right to left: its first strong letter does (rule P2 of
    the Unicode bidirectional algorithm, as fpdf2 decides it; digits and punctuation do not
    count)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind == "L":
            return False
        if kind in ("R", "AL"):
            return True
    return False


@cache
def _can_shape() -> bool:
    """uharfbuzz is a dependency; without it (a broken install) right-to-left text prints
    unshaped, as before, and the log says so once."""
    try:
        import uharfbuzz  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        log.warning("flyer: uharfbuzz cannot be imported; Arabic and Hebrew print unjoined, "
                    "left to right")
        return False
    return True


def _flyer_text(flyer: Flyer, lang: str, gettext: Gettext) -> str:
    """The text a flyer will print, near enough to choose its fonts and shaping: the group's
    and neighbors' words, and the flyer's own in ``lang`` (a sample, and a date)."""
    p = flyer.profile
    parts = [p.name, p.description, p.how_to_join, p.hotline_number, p.hotline_hours,
             p.contact, flyer.page_url, flyer.join_url, day_words(flyer.printed, lang),
             gettext("Needs: can you help?"), gettext("What"), gettext("How to join")]
    for item in (*flyer.needs, *flyer.offers):
        parts += (item.title, item.category, item.area)
    return "\n".join(parts)


# -- words --------------------------------------------------------------------------------

def day_words(day: date, lang: str) -> str:
    """A day in the language's long form, by Babel (``December 6, 2026``, ``6 de diciembre
    de 2026``)."""
    from babel.dates import format_date

    try:
        return str(format_date(day, format="long", locale=lang))
    except (ValueError, LookupError):  # an unknown locale: English
        return str(format_date(day, format="long", locale="en"))


def _identity(text: str) -> str:
    return text


# -- the QR code --------------------------------------------------------------------------

def qr_code(url: str) -> QRCode:
    """The QR code to the group's page (error correction M, raised when it fits)."""
    import segno

    return segno.make(url, error="m", micro=False)


def qr_svg(url: str, title: str) -> str:
    """An inline ``<svg>`` (no script, no style attribute: it passes the pages' CSP) with a
    viewBox, so CSS sizes it; its ``<title>`` names it for screen readers."""
    svg = str(qr_code(url).svg_inline(scale=1, border=4, omitsize=True, title=title,
                                      svgclass="qr", lineclass="qr-line"))
    return svg.replace("<svg ", '<svg role="img" ', 1)


def _qr_runs(url: str) -> tuple[int, list[tuple[int, int, int]]]:
    """The code's size in modules (with a 4-module quiet zone) and its dark runs
    (row, first column, length)."""
    matrix = [list(row) for row in qr_code(url).matrix_iter(border=4)]
    runs: list[tuple[int, int, int]] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                runs.append((y, start, x - start))
            else:
                x += 1
    return len(matrix), runs


# -- the PDF ------------------------------------------------------------------------------

@cache
def _document_class() -> Any:
    from fpdf import FPDF

    class FlyerDocument(FPDF):
        footer_text = ""
        body = "Helvetica"

        def footer(self) -> None:
            self.set_y(-MARGIN + 2)
            self.set_font(self.body, "", 8)
            self.set_text_color(90)
            self.cell(0, 4, self.footer_text.replace("{page}", str(self.page_no())),
                      align="C")
            self.set_text_color(0)

    return FlyerDocument


def render_pdf(flyer: Flyer, *, paper: Paper, lang: str = "en",
               gettext: Gettext = _identity, fonts: FontSet | None = None) -> bytes:
    """The flyer as PDF bytes. ``gettext`` translates the flyer's own words into ``lang``
    (the group's words are printed as written). At most ``MAX_PAGES``: when long titles
    would need more, the lists are shortened and the rest counted ("... and 5 more")."""
    fonts = fonts or system_fonts()
    while True:
        data, pages = _draw(flyer, paper=paper, lang=lang, gettext=gettext, fonts=fonts)
        if pages <= MAX_PAGES or not (flyer.needs or flyer.offers):
            return data
        flyer = _shorter(flyer)


def _shorter(flyer: Flyer) -> Flyer:
    """The flyer with a quarter of its longer list moved into "more"."""
    if len(flyer.needs) >= len(flyer.offers):
        cut = max(1, len(flyer.needs) // 4)
        return replace(flyer, needs=flyer.needs[:-cut], more_needs=flyer.more_needs + cut)
    cut = max(1, len(flyer.offers) // 4)
    return replace(flyer, offers=flyer.offers[:-cut], more_offers=flyer.more_offers + cut)


def _draw(flyer: Flyer, *, paper: Paper, lang: str, gettext: Gettext,
          fonts: FontSet) -> tuple[bytes, int]:
    from fpdf.enums import TableBordersLayout, XPos, YPos
    from fpdf.fonts import FontFace

    _ = gettext
    body = "Helvetica" if fonts.builtin else "DejaVu"
    # The fallback font and HarfBuzz only for a flyer that needs them: reading the CJK
    # font costs more than drawing an all-Latin flyer, and shaping slows every line.
    words = _flyer_text(flyer, lang, gettext)
    wide = {cp for cp in map(ord, words) if is_cjk(cp)}
    cjk = bool(wide) and fonts.fallback is not None and not wide.isdisjoint(
        fonts.fallback_codepoints)
    shaping = not fonts.builtin and needs_shaping(words) and _can_shape()
    codepoints = fonts.every_codepoint if cjk else fonts.codepoints

    def t(text: str) -> str:
        return drawable(text, codepoints)

    def side(text: str) -> str:
        """Where a paragraph starts: right for one that reads right to left."""
        return "R" if shaping and right_to_left(text) else "L"

    def say(w: float, h: float, text: str) -> None:
        text = t(text)
        pdf.multi_cell(w, h, text, align=side(text), **line)

    pdf = _document_class()(orientation="P", unit="mm",
                            format="A4" if paper is Paper.A4 else "Letter")
    pdf.body = body
    if not fonts.builtin:
        pdf.add_font(body, "", str(fonts.regular))
        pdf.add_font(body, "B", str(fonts.bold))
    if cjk:
        # Bold text too: Droid Sans Fallback has one face.
        pdf.add_font("Fallback", "", str(fonts.fallback))
        pdf.set_fallback_fonts(["Fallback"], exact_match=False)
    if shaping:
        # fpdf2 splits each paragraph into directional runs (the Unicode bidirectional
        # algorithm, base direction from its first strong letter) and HarfBuzz shapes each.
        pdf.set_text_shaping(True)
    profile = flyer.profile
    pdf.set_title(t(profile.name))
    pdf.set_lang(lang)
    pdf.set_creator("fediaid")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=MARGIN + 2)
    # "{nb}": fpdf2's alias for the number of pages, filled in at the end.
    pdf.footer_text = t(_("Printed {day} from {url}").format(
        day=day_words(flyer.printed, lang), url=flyer.page_url) + " · " + _(
        "page {page} of {pages}").replace("{pages}", "{nb}"))
    pdf.add_page()
    width = pdf.epw
    line = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}

    # The QR code at the top right, with what it is for under it.
    top = pdf.get_y()
    qr_x = pdf.l_margin + width - QR_SIZE
    size, runs = _qr_runs(flyer.page_url)
    module = QR_SIZE / size
    pdf.set_fill_color(0)
    for y, x, length in runs:
        # A hair taller than a module, so rows meet without a seam when printed.
        pdf.rect(qr_x + x * module, top + y * module, length * module, module * 1.02,
                 style="F")
    pdf.set_xy(qr_x, top + QR_SIZE)
    pdf.set_font(body, "B", 9)
    pdf.multi_cell(QR_SIZE, 4, t(_("Scan to see every offer and need")), align="C",
                   new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(body, "", 7.5)
    pdf.multi_cell(QR_SIZE, 3.5, t(flyer.page_url), align="C", new_x=XPos.LEFT,
                   new_y=YPos.NEXT)
    qr_bottom = pdf.get_y()

    # Beside it: who we are, the hotline, how to join.
    left = width - QR_SIZE - 6
    pdf.set_xy(pdf.l_margin, top)
    pdf.set_font(body, "B", 22)
    say(left, 9, profile.name)
    if profile.description:
        pdf.ln(1)
        pdf.set_font(body, "", 11)
        say(left, 5.2, profile.description)
    pdf.ln(3)
    if profile.hotline_number:
        pdf.set_font(body, "", 11)
        say(left, 5.2, _("Call or text our hotline"))
        pdf.set_font(body, "B", 18)
        say(left, 8, profile.hotline_number)
        if profile.hotline_hours:
            pdf.set_font(body, "", 11)
            say(left, 5.2, _("Hours: {hours}").format(hours=profile.hotline_hours))
        pdf.ln(2)
    pdf.set_font(body, "B", 11)
    say(left, 5.2, _("How to join"))
    pdf.set_font(body, "", 11)
    if profile.how_to_join:
        say(left, 5.2, profile.how_to_join)
    say(left, 5.2, _("Ask to join at {url}").format(url=flyer.join_url))
    if profile.contact:
        say(left, 5.2, _("Contact: {contact}").format(contact=profile.contact))
    pdf.set_y(max(pdf.get_y(), qr_bottom) + 4)

    span = f"{day_words(flyer.since, lang)} {DASH} {day_words(flyer.printed, lang)}"
    sections = (
        (_("Needs: can you help?"), flyer.needs, flyer.more_needs,
         _("No open needs were posted this week.")),
        (_("Offers: ask for them"), flyer.offers, flyer.more_offers,
         _("No open offers were posted this week.")),
    )
    headings = (t(_("What")), t(_("Category")), t(_("Neighborhood")))
    for heading, items, more, nothing in sections:
        # A heading never ends a page alone: it keeps its first rows with it.
        if pdf.will_page_break(30):
            pdf.add_page()
        pdf.set_font(body, "B", 14)
        say(width, 7, heading)
        pdf.set_font(body, "", 9)
        pdf.set_text_color(70)
        say(width, 4.5, _("Open, posted {span}").format(span=span))
        pdf.set_text_color(0)
        pdf.ln(1.5)
        pdf.set_font(body, "", 10.5)
        if not items:
            say(width, 5.5, nothing)
        else:
            _table(pdf, FontFace, TableBordersLayout, headings, items, t, side)
        if more:
            pdf.set_font(body, "", 10)
            say(width, 5.5, _("… and {count} more at {url}").format(
                count=more, url=flyer.page_url))
        pdf.ln(4)

    pdf.set_font(body, "B", 11)
    say(width, 5.5, _("Anyone can ask, anyone can offer. Neighbors help neighbors "
                      "directly."))
    pages = pdf.page_no()
    return bytes(pdf.output()), pages


def _table(pdf: Any, font_face: Any, layout: Any, headings: tuple[str, str, str],
           items: Iterable[FlyerItem], t: Callable[[str], str],
           side: Callable[[str], str]) -> None:
    """Needs or offers; a cell whose text reads right to left is aligned right."""
    with pdf.table(col_widths=(60, 22, 18), width=pdf.epw, text_align="LEFT",
                   borders_layout=layout.HORIZONTAL_LINES, line_height=5.2, padding=(1.2, 1),
                   headings_style=font_face(emphasis="BOLD", fill_color=(232, 232, 232)),
                   v_align="TOP") as table:
        row = table.row()
        for heading in headings:
            row.cell(heading, align=side(heading))
        for item in items:
            row = table.row()
            for text in (t(item.title), t(item.category), t(item.area or DASH)):
                row.cell(text, align=side(text))
