"""The printed flyer as a PDF (fpdf2) and its QR code (segno): drawing only, no database.

``render_pdf(flyer, paper=..., lang=..., gettext=...)`` lays out one page of A4 or US Letter
(a long week continues onto a second page, the table's headings repeated, rows never split):
the group's name and description, the hotline and its hours, how to join, a QR code to the
group's page, then this week's open needs and offers (what, category, neighborhood).

Letters: fpdf2's built-in fonts know only Latin-1, and neighbors write ñ, other scripts and
emoji. The flyer uses DejaVu Sans (Latin, Greek, Cyrillic, Hebrew, Arabic letters, many
symbols) from the system's fonts (Debian: ``fonts-dejavu-core``, in the container image).
Every character the font cannot draw is replaced by a white square before drawing, and
invisible joiners and emoji variation marks are dropped, so no text can fail to print.
Without DejaVu Sans the PDF falls back to Helvetica with letters outside Latin-1 reduced to
their base letter or replaced, and says so once in the log. Right-to-left scripts are not
shaped (no HarfBuzz): their letters appear, unjoined.

fpdf2 and segno are imported on first use: a server that never prints a flyer does not load
them (idle memory, docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import struct
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
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
DASH = "\u2013"  # EN DASH, between two days and for no neighborhood
MISSING = "\u25a1"  # WHITE SQUARE: what a character the font lacks becomes
MARGIN = 14.0  # mm
QR_SIZE = 42.0  # mm, with its quiet zone: scannable from a metre away
MAX_PAGES = 2


@dataclass(frozen=True)
class FontSet:
    """The TTF files to embed and the characters both can draw; ``None`` paths mean
    fpdf2's built-in Helvetica (Latin-1)."""

    regular: Path | None
    bold: Path | None
    codepoints: frozenset[int]

    @property
    def builtin(self) -> bool:
        return self.regular is None


@cache
def system_fonts(dirs: tuple[str, ...] = FONT_DIRS) -> FontSet:
    """DejaVu Sans from the first directory holding both faces, else Helvetica."""
    from fontTools.ttLib import TTLibError  # type: ignore[import-untyped]

    for folder in dirs:
        regular, bold = Path(folder) / REGULAR, Path(folder) / BOLD
        if regular.is_file() and bold.is_file():
            try:
                return FontSet(regular, bold, _codepoints(regular) & _codepoints(bold))
            except (OSError, ValueError, LookupError, AssertionError, struct.error,
                    TTLibError):  # a broken font file: try the next, then Helvetica
                log.warning("flyer: cannot read the font %s", regular, exc_info=True)
    log.warning("flyer: DejaVu Sans not found (Debian: apt install fonts-dejavu-core); the "
                "PDF uses Helvetica and replaces letters outside Latin-1")
    return FontSet(None, None, frozenset(c for c in range(0x20, 0x100)
                                         if not 0x7F <= c < 0xA0))


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

    def t(text: str) -> str:
        return drawable(text, fonts.codepoints)

    pdf = _document_class()(orientation="P", unit="mm",
                            format="A4" if paper is Paper.A4 else "Letter")
    pdf.body = body
    if not fonts.builtin:
        pdf.add_font(body, "", str(fonts.regular))
        pdf.add_font(body, "B", str(fonts.bold))
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
    pdf.multi_cell(left, 9, t(profile.name), align="L", **line)
    if profile.description:
        pdf.ln(1)
        pdf.set_font(body, "", 11)
        pdf.multi_cell(left, 5.2, t(profile.description), align="L", **line)
    pdf.ln(3)
    if profile.hotline_number:
        pdf.set_font(body, "", 11)
        pdf.multi_cell(left, 5.2, t(_("Call or text our hotline")), align="L", **line)
        pdf.set_font(body, "B", 18)
        pdf.multi_cell(left, 8, t(profile.hotline_number), align="L", **line)
        if profile.hotline_hours:
            pdf.set_font(body, "", 11)
            pdf.multi_cell(left, 5.2, t(_("Hours: {hours}").format(
                hours=profile.hotline_hours)), align="L", **line)
        pdf.ln(2)
    pdf.set_font(body, "B", 11)
    pdf.multi_cell(left, 5.2, t(_("How to join")), align="L", **line)
    pdf.set_font(body, "", 11)
    if profile.how_to_join:
        pdf.multi_cell(left, 5.2, t(profile.how_to_join), align="L", **line)
    pdf.multi_cell(left, 5.2, t(_("Ask to join at {url}").format(url=flyer.join_url)),
                   align="L", **line)
    if profile.contact:
        pdf.multi_cell(left, 5.2, t(_("Contact: {contact}").format(contact=profile.contact)),
                       align="L", **line)
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
        pdf.multi_cell(width, 7, t(heading), align="L", **line)
        pdf.set_font(body, "", 9)
        pdf.set_text_color(70)
        pdf.multi_cell(width, 4.5, t(_("Open, posted {span}").format(span=span)), align="L",
                       **line)
        pdf.set_text_color(0)
        pdf.ln(1.5)
        pdf.set_font(body, "", 10.5)
        if not items:
            pdf.multi_cell(width, 5.5, t(nothing), align="L", **line)
        else:
            _table(pdf, FontFace, TableBordersLayout, headings, items, t)
        if more:
            pdf.set_font(body, "", 10)
            pdf.multi_cell(width, 5.5, t(_("… and {count} more at {url}").format(
                count=more, url=flyer.page_url)), align="L", **line)
        pdf.ln(4)

    pdf.set_font(body, "B", 11)
    pdf.multi_cell(width, 5.5, t(_("Anyone can ask, anyone can offer. Neighbors help "
                                   "neighbors directly.")), align="L", **line)
    pages = pdf.page_no()
    return bytes(pdf.output()), pages


def _table(pdf: Any, font_face: Any, layout: Any, headings: tuple[str, str, str],
           items: Iterable[FlyerItem], t: Callable[[str], str]) -> None:
    with pdf.table(col_widths=(60, 22, 18), width=pdf.epw, text_align="LEFT",
                   borders_layout=layout.HORIZONTAL_LINES, line_height=5.2, padding=(1.2, 1),
                   headings_style=font_face(emphasis="BOLD", fill_color=(232, 232, 232)),
                   v_align="TOP") as table:
        row = table.row()
        for heading in headings:
            row.cell(heading)
        for item in items:
            row = table.row()
            row.cell(t(item.title))
            row.cell(t(item.category))
            row.cell(t(item.area or DASH))
