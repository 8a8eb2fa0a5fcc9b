"""The printable flyer: ``/flyer`` (a page with a print stylesheet) and ``/flyer.pdf``.

What is printed is read back as a neighbor would: the PDF's text (pypdf), its page drawn as
an image (PDFium) and the QR code scanned (zxing-cpp), on SQLite and PostgreSQL. The drawing
alone (paper sizes, a long week, fonts) is checked without a database.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import httpx
import pypdfium2
import pytest
import zxingcpp
from babel.dates import format_date
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw
from pypdf import PdfReader

from api.app import create_app
from fediaid.domain.actors import Role
from fediaid.domain.flyer import MAX_ITEMS, Flyer, FlyerItem, Paper
from fediaid.domain.group_profile import GroupProfile
from fediaid.flyer_pdf import drawable, render_pdf, system_fonts
from fediaid.services.posts import Intake
from fediaid.services.runtime import Runtime

PAÑALES = "Señora Muñoz necesita pañales"
PUBLIC_NEED = PAÑALES + " 🙏"
PUBLIC_OFFER = "Spare rice and beans from our pantry"
ANONYMOUS_NEED = "Groceries for a family of four"
PROXY_NEED = "Ride to the clinic on Tuesday"
MEMBERS_NEED = "Insulin needs a cold fridge"
WITHDRAWN_NEED = "A winter coat, size M"
HOTLINE = "+1 201-555-0123"
DESCRIPTION = "Neighbors sharing groceries and rides."
HOURS = "Mon\u2013Fri 9:00\u201318:00"

# A4 is 210 x 297 mm, US Letter 8.5 x 11 in, in PDF points (1/72 in).
PAGE_POINTS = {Paper.A4: (595.28, 841.89), Paper.LETTER: (612.0, 792.0)}


# -- reading a PDF back ------------------------------------------------------------------

def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def page_sizes(data: bytes) -> list[tuple[float, float]]:
    return [(round(float(p.mediabox.width), 2), round(float(p.mediabox.height), 2))
            for p in PdfReader(io.BytesIO(data)).pages]


def scan_pdf(data: bytes) -> list[str]:
    """Every QR code on the first page, drawn at 144 dpi."""
    document = pypdfium2.PdfDocument(data)
    try:
        image = document[0].render(scale=2).to_pil()
    finally:
        document.close()
    return [code.text for code in zxingcpp.read_barcodes(image)]


def scan_svg(svg: str) -> list[str]:
    """Draw segno's inline SVG (a viewBox and one path of horizontal strokes, one module
    high, centred on each row: ``M x y``, ``h n``, ``m dx dy``) and scan it."""
    view = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    path = re.search(r' d="([^"]+)"', svg)
    assert view and path, svg[:200]
    scale = 8
    image = Image.new("L", (int(view.group(1)) * scale, int(view.group(2)) * scale), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for op, a, b in re.findall(r"([MmHhVv])\s*(-?[\d.]+)(?:[ ,](-?[\d.]+))?", path.group(1)):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        elif op == "h":
            row = int(y)  # the stroke is centred on y + 0.5
            draw.rectangle((int(x * scale), row * scale,
                            int((x + float(a)) * scale) - 1, (row + 1) * scale - 1), fill=0)
            x += float(a)
        else:
            raise AssertionError(f"unexpected path command {op}")
    return [code.text for code in zxingcpp.read_barcodes(image)]


# -- an instance with a week of posts ------------------------------------------------------

async def week_of_posts(rt: Runtime) -> None:
    maria = await rt.accounts.create_user("maria")
    rosalind = await rt.accounts.create_user("rosalind")
    coord = await rt.accounts.create_user("coordtess", role=Role.COORDINATOR)
    await rt.posts.create(maria, {"kind": "need", "title": PUBLIC_NEED,
                                  "category": "childcare", "visibility": "public"},
                          confirm=True)
    await rt.posts.create(maria, {"kind": "offer", "title": PUBLIC_OFFER, "category": "food",
                                  "area": "Riverside", "visibility": "public"}, confirm=True)
    # Posted as a neighbor: public, but nobody may learn it was rosalind.
    await rt.posts.create(rosalind, {"kind": "need", "title": ANONYMOUS_NEED,
                                     "category": "food", "visibility": "public"},
                          confirm=True, as_neighbor=True)
    # A need that came by phone: the caller's name stays in the private intake record.
    await rt.posts.create(coord, {"kind": "need", "title": PROXY_NEED,
                                  "category": "transport", "visibility": "public"},
                          confirm=True, intake=Intake("Mrs. Kowalczyk", "555 0100", None))
    await rt.posts.create(maria, {"kind": "need", "title": MEMBERS_NEED,
                                  "visibility": "members"}, confirm=True)
    withdrawn = await rt.posts.create(maria, {"kind": "need", "title": WITHDRAWN_NEED,
                                              "visibility": "public"}, confirm=True)
    await rt.posts.close(maria, withdrawn.id, "withdrawn")
    await rt.group_settings.update_profile(
        coord, description=DESCRIPTION, hotline_number=HOTLINE, hotline_hours=HOURS,
        how_to_join="Come to the Saturday pantry at the library.", contact="elm@example.org")


def visitor(rt: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)),
                             base_url=rt.settings.base_url)


# -- the PDF -------------------------------------------------------------------------------

async def test_pdf_lists_the_weeks_public_posts_and_nobody_who_asked(runtime: Runtime) -> None:
    await week_of_posts(runtime)
    group_url = runtime.identity.group.url
    async with visitor(runtime) as anyone:
        r = await anyone.get("/flyer.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert "sandbox" not in r.headers["content-security-policy"]  # PDF viewers refuse it
    text = pdf_text(r.content)
    # The group, its hotline and hours, how to join; this week's public open posts.
    assert "Elm St Mutual Aid" in text and DESCRIPTION in text
    assert HOTLINE in text and HOURS in text
    assert "Saturday pantry" in text and "elm@example.org" in text
    assert f"{runtime.settings.base_url}/join" in text
    for title in (PAÑALES, PUBLIC_OFFER, ANONYMOUS_NEED, PROXY_NEED):
        assert title in text, title
    assert "Riverside" in text
    # The emoji the font cannot draw became a square, not an error.
    assert PAÑALES + " \u25a1" in text
    # Never a members-only or closed post, never who asked.
    for secret in (MEMBERS_NEED, WITHDRAWN_NEED, "rosalind", "Kowalczyk", "maria",
                   "coordtess", "555 0100"):
        assert secret not in text, secret
    # The QR code on the printed page opens the group's page.
    assert group_url and scan_pdf(r.content) == [group_url]
    assert page_sizes(r.content) == [PAGE_POINTS[Paper.A4]]

    # In Spanish when the browser asks for it: the flyer's words, dates and built-in
    # category names; the group's and neighbors' words as written.
    async with visitor(runtime) as anyone:
        es = await anyone.get("/flyer.pdf", headers={"Accept-Language": "es-MX,es;q=0.9"})
        page = (await anyone.get("/flyer", headers={"Accept-Language": "es"})).text
    assert es.headers["etag"] != r.headers["etag"]
    spanish = pdf_text(es.content)
    today = datetime.now(UTC).date()
    for words in ("Necesidades: ¿puede ayudar?", "Llame o escriba", "Cómo unirse",
                  format_date(today, "long", locale="es"), PAÑALES, HOTLINE):
        assert words in spanish, words
    assert "Needs: can you help?" not in spanish and "How to join" not in spanish
    assert '<html lang="es"' in page and "Imprimir un volante" in page and PAÑALES in page
    assert scan_pdf(es.content) == [group_url]

    # "This week": the last seven days; a week later they are last week's.
    flyer = await runtime.flyer.gather(today=today)
    assert {i.title for i in flyer.needs} == {PUBLIC_NEED, ANONYMOUS_NEED, PROXY_NEED}
    assert [i.title for i in flyer.offers] == [PUBLIC_OFFER]
    assert flyer.since == today - timedelta(days=6)
    later = await runtime.flyer.gather(today=today + timedelta(days=7))
    assert later.needs == () and later.offers == ()


# -- the page ------------------------------------------------------------------------------

async def test_page_print_css_qr_code_letter_and_the_kept_pdf(runtime: Runtime) -> None:
    await week_of_posts(runtime)
    async with visitor(runtime) as anyone:
        r = await anyone.get("/flyer?paper=letter")
        assert r.status_code == 200
        page = r.text
        assert '<link rel="stylesheet" href="/static/print.css">' in page
        assert 'class="flyer paper-letter"' in page and 'href="/flyer.pdf?paper=letter"' in page
        assert "style=" not in page and "<script" not in page  # the strict CSP
        assert "script-src 'none'" in r.headers["content-security-policy"]
        assert '<link rel="stylesheet" href="/static/paper-letter.css" media="print">' in page
        css = (await anyone.get("/static/print.css")).text
        assert "@media print" in css and ".flyer-tools" in css
        assert "size:letter" in (await anyone.get("/static/paper-letter.css")).text
        assert "size:A4" in (await anyone.get("/static/paper-a4.css")).text
        a4 = (await anyone.get("/flyer")).text
        assert 'class="flyer paper-a4"' in a4 and "/static/paper-a4.css" in a4
    for title in (PAÑALES, PUBLIC_OFFER, ANONYMOUS_NEED, HOTLINE, HOURS, DESCRIPTION):
        assert title in page
    for secret in (MEMBERS_NEED, WITHDRAWN_NEED, "rosalind", "Kowalczyk", "coordtess"):
        assert secret not in page
    svg = re.search(r"<svg .*?</svg>", page, re.S)
    assert svg and 'role="img"' in svg.group(0) and "<title>" in svg.group(0)
    assert scan_svg(svg.group(0)) == [runtime.identity.group.url]

    # US Letter; the PDF kept until something changes.
    async with visitor(runtime) as anyone:
        letter = await anyone.get("/flyer.pdf?paper=letter")
        assert page_sizes(letter.content) == [PAGE_POINTS[Paper.LETTER]]
        assert PUBLIC_OFFER in pdf_text(letter.content)
        assert scan_pdf(letter.content) == [runtime.identity.group.url]
        made = runtime.flyer.made
        # The same flyer again: from memory; with its ETag: not even sent.
        again = await anyone.get("/flyer.pdf?paper=letter")
        assert again.content == letter.content and runtime.flyer.made == made
        etag = letter.headers["etag"]
        r = await anyone.get("/flyer.pdf?paper=letter", headers={"If-None-Match": etag})
        assert r.status_code == 304 and not r.content
        # A new post: a new flyer.
        maria = await runtime.accounts.create_user("maria2")
        await runtime.posts.create(maria, {"kind": "offer", "title": "Two folding chairs",
                                           "visibility": "public"}, confirm=True)
        r = await anyone.get("/flyer.pdf?paper=letter", headers={"If-None-Match": etag})
        assert r.status_code == 200 and r.headers["etag"] != etag
        assert "Two folding chairs" in pdf_text(r.content) and runtime.flyer.made == made + 1


# -- drawing alone: paper, a long week, letters ---------------------------------------------

def a_week(needs: int, offers: int, title: str = PUBLIC_NEED) -> Flyer:
    profile = GroupProfile(name="Elm St Mutual Aid", description="Neighbors sharing food.",
                           how_to_join="Ask at the pantry.", hotline_number=HOTLINE,
                           hotline_hours=HOURS)
    return Flyer(profile=profile, page_url="https://a.test/@elm",
                 join_url="https://a.test/join", since=date(2026, 11, 30),
                 printed=date(2026, 12, 6),
                 needs=tuple(FlyerItem(f"{title} {n}", "Childcare", "Riverside")
                             for n in range(needs)),
                 offers=tuple(FlyerItem(f"Offer number {n}", "Food", "") for n in range(offers)),
                 more_needs=3)


@pytest.mark.parametrize("paper", list(Paper))
def test_a_full_week_continues_cleanly_on_a_second_page(paper: Paper) -> None:
    data = render_pdf(a_week(MAX_ITEMS, MAX_ITEMS), paper=paper)
    sizes = page_sizes(data)
    assert len(sizes) == 2 and set(sizes) == {PAGE_POINTS[paper]}
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]
    # Every item printed once, whole; the table's headings repeated on the second page.
    text = "\n".join(pages)
    for n in range(MAX_ITEMS):
        assert text.count(f"{PAÑALES} \u25a1 {n} Childcare") == 1
        assert text.count(f"Offer number {n} Food") == 1
    assert "What Category Neighborhood" in pages[1]
    assert "… and 3 more at https://a.test/@elm" in text
    assert "page 1 of 2" in pages[0] and "page 2 of 2" in pages[1]


def test_a_quiet_week_fits_one_page() -> None:
    for paper in Paper:
        data = render_pdf(a_week(0, 0), paper=paper)
        assert page_sizes(data) == [PAGE_POINTS[paper]]
        assert "No open needs were posted this week." in pdf_text(data)


def test_letters_no_font_has_never_fail() -> None:
    fonts = system_fonts()
    assert not fonts.builtin, "DejaVu Sans (Debian: fonts-dejavu-core) is not installed"
    odd = "中文 Ковчег Ωμέγα ő 👍🏽 e\u0301"
    data = render_pdf(a_week(1, 0, title=odd), paper=Paper.A4)
    assert "Ковчег Ωμέγα ő □ é 0" in pdf_text(data)
    assert drawable("a\u0000b\tc\r\nd", fonts.codepoints) == "ab c\nd"


def test_without_dejavu_helvetica_prints_latin_letters() -> None:
    helvetica = system_fonts.__wrapped__(("/nonexistent",))
    assert helvetica.builtin
    data = render_pdf(a_week(1, 0, title="Mon\u2013Fri \u201ccoats\u201d 中 ő"), paper=Paper.LETTER,
                      fonts=helvetica)
    text = pdf_text(data)
    assert 'Mon-Fri "coats" ? o 0' in text and "Mon-Fri 9:00-18:00" in text
    assert scan_pdf(data) == ["https://a.test/@elm"]


def test_long_titles_never_take_a_third_page() -> None:
    wordy = "Someone to help carry groceries up four flights of stairs every Tuesday " * 2
    data = render_pdf(a_week(MAX_ITEMS, MAX_ITEMS, title=wordy.strip()), paper=Paper.LETTER)
    assert len(page_sizes(data)) == 2
    text = pdf_text(data)
    shown = len(re.findall(r"Tuesday \d+\s+Childcare", text))
    assert 0 < shown < MAX_ITEMS
    # What did not fit is counted, with the 3 left off before.
    assert f"… and {MAX_ITEMS - shown + 3} more at https://a.test/@elm" in text


# -- scripts: right to left shaped, CJK from the fallback font --------------------------------

ARABIC = "حليب للأطفال 2 علب"  # milk for the children, 2 cans
ARABIC_LATIN = "حليب Nido 400g"
HEBREW = "חלב לתינוקות 2 קופסאות"
CJK = "米 5公斤 ご飯 쌀 2kg"
NO_CJK_FONT = ("no CJK font: Debian's fonts-droid-fallback is not installed (python3 dev.py "
               "test installs it, as root with apt-get)")


def scripts_week(*titles: str, name: str = "Elm St Mutual Aid") -> Flyer:
    week = a_week(0, 0)
    return replace(week, profile=replace(week.profile, name=name), more_needs=0,
                   needs=tuple(FlyerItem(title, "Food", "Riverside") for title in titles))


def glyph_boxes(data: bytes) -> list[tuple[str, float, float, float]]:
    """Every character PDFium finds on the first page, in drawing order: the character (from
    the font's ToUnicode map), its box's left and right edges and its middle's height, in
    points."""
    document = pypdfium2.PdfDocument(data)
    try:
        text = document[0].get_textpage()
        boxes = []
        for i in range(text.count_chars()):
            left, bottom, right, top = text.get_charbox(i)
            boxes.append((text.get_text_range(i, 1), left, right, (bottom + top) / 2))
        return boxes
    finally:
        document.close()


def line_of(boxes: list[tuple[str, float, float, float]], char: str) -> dict[str, float]:
    """The left edge of each character on the line that holds ``char`` (once on the page),
    by character; those on the line twice are left out."""
    (y,) = [mid for c, _, _, mid in boxes if c == char]
    line: dict[str, float] = {}
    twice: set[str] = set()
    for c, left, _, mid in boxes:
        if abs(mid - y) < 3 and c.strip():
            if c in line:
                twice.add(c)
            line[c] = left
    return {c: left for c, left in line.items() if c not in twice}


def to_unicode(data: bytes) -> dict[str, dict[int, str]]:
    """Each embedded font's glyphs (CIDs) and the text each stands for, by font name."""
    fonts: dict[str, dict[int, str]] = {}
    for page in PdfReader(io.BytesIO(data)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            cmap = font["/ToUnicode"].get_data().decode()
            glyphs = fonts.setdefault(str(font["/BaseFont"]).split("+")[-1], {})
            for cid, text in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]+)>", cmap):
                glyphs[int(cid, 16)] = "".join(chr(int(text[i:i + 4], 16))
                                               for i in range(0, len(text), 4))
    return fonts


def test_arabic_is_joined_and_reads_right_to_left_with_latin_and_digits() -> None:
    data = render_pdf(scripts_week(ARABIC, ARABIC_LATIN, name="بيت الجيران"),
                      paper=Paper.A4)
    # Joined: one letter, several shapes. Lam (ل) starts "للأطفال" and sits inside "علب":
    # two different glyphs; lam with alef (لأ) is one glyph, as handwriting has it.
    glyphs = to_unicode(data)["DejaVuSansBook"]
    lams = {cid for cid, text in glyphs.items() if text == "\u0644"}
    assert len(lams) >= 2, glyphs
    assert "\u0644\u0623" in glyphs.values()
    # Read back in logical order (the words right to left, each word's letters in order).
    text = pdf_text(data)
    assert "حليب للأطفال" in text and "بيت الجيران" in text, text
    # Right to left on paper: the first word rightmost, then the number, then the last
    # word; the Latin brand and the weight in between read left to right, left of Arabic.
    boxes = glyph_boxes(data)
    title = line_of(boxes, "ع")
    assert title["ح"] > title["2"] > title["ع"], title
    mixed = line_of(boxes, "4")
    assert mixed["N"] < mixed["4"] < mixed["g"] < mixed["ح"], mixed
    # Aligned right: in the table's first column (60 % of the page), and the group's name.
    width = PAGE_POINTS[Paper.A4][0]
    assert title["ح"] > width * 0.45, title
    name = line_of(boxes, "ج")
    assert name["ب"] > name["ت"] > name["ج"] > name["ن"] and name["ب"] > width * 0.5, name


def test_hebrew_reads_right_to_left_in_the_table() -> None:
    data = render_pdf(scripts_week(HEBREW, PUBLIC_OFFER), paper=Paper.LETTER)
    assert "חלב לתינוקות" in pdf_text(data)
    line = line_of(glyph_boxes(data), "ח")
    # "חלב" rightmost, then "לתינוקות", "2", "קופסאות" leftmost.
    assert line["ח"] > line["נ"] > line["2"] > line["פ"], line
    assert line["ח"] > PAGE_POINTS[Paper.LETTER][0] * 0.45, line
    # Latin on the next row starts on the left, as always.
    boxes = glyph_boxes(data)
    spare = "".join(c for c, *_ in boxes).index("Spare rice")
    assert boxes[spare][1] < 60, boxes[spare]


def test_chinese_japanese_korean_print_with_the_fallback_font() -> None:
    fonts = system_fonts()
    if fonts.fallback is None:
        pytest.skip(NO_CJK_FONT)
    data = render_pdf(scripts_week(CJK, PAÑALES), paper=Paper.A4)
    text = pdf_text(data)
    assert CJK in text and "\u25a1" not in text, text
    # Drawn with Droid Sans Fallback, embedded (only the glyphs used), real outlines.
    embedded = to_unicode(data)
    fallback = next(name for name in embedded if name.startswith("DroidSansFallback"))
    assert {"米", "公", "ご", "飯", "쌀"} <= set(embedded[fallback].values())
    reader = PdfReader(io.BytesIO(data))
    for ref in reader.pages[0]["/Resources"]["/Font"].values():
        font = ref.get_object()
        if fallback in str(font["/BaseFont"]):
            program = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]["/FontFile2"]
            subset = TTFont(io.BytesIO(program.get_data()))
            glyf = subset["glyf"]
            for char in "米公ご飯쌀":  # outlines (some made of parts), not an empty box
                points, _, _ = glyf[f"uni{ord(char):04X}"].getCoordinates(glyf)
                assert len(points) > 20, char
    # Mixed with Latin and digits on one line, left to right.
    line = line_of(glyph_boxes(data), "米")
    assert line["米"] < line["5"] < line["公"] < line["ご"] < line["쌀"] < line["k"], line
    # An all-Latin flyer (an emoji too) does not embed the CJK font.
    latin = render_pdf(scripts_week(PUBLIC_NEED), paper=Paper.A4)
    assert not any(name.startswith("DroidSans") for name in to_unicode(latin))


def test_without_a_cjk_font_cjk_prints_white_squares(caplog: pytest.LogCaptureFixture) -> None:
    fonts = system_fonts.__wrapped__(cjk=("/nonexistent/DroidSansFallback.ttf",))
    assert fonts.fallback is None and not fonts.builtin
    assert "fonts-droid-fallback" in caplog.text
    data = render_pdf(scripts_week(CJK), paper=Paper.A4, fonts=fonts)
    assert "\u25a1 5\u25a1\u25a1 \u25a1\u25a1 \u25a1 2kg" in pdf_text(data)
