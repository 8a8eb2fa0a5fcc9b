"""The printable flyer: ``GET /flyer`` (a page with a print stylesheet, api/web/static/print.css)
and ``GET /flyer.pdf`` (the same as a PDF), each with ``?paper=a4|letter``.

Anyone may ask: the flyer shows only what anyone can see (fediaid/services/flyer.py). The
PDF is kept by the service and answered with an ETag, so a refresh or a second printer costs
nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.render import render
from fediaid.domain.flyer import Paper
from fediaid.flyer_pdf import day_words, qr_svg

# A PDF is not a page: no script may run in it and nothing may frame it, but no ``sandbox``
# (the middleware's default for other responses), which Chromium's PDF viewer refuses.
PDF_CSP = "default-src 'none'; frame-ancestors 'none'"


def _language(request: Request) -> tuple[str, Callable[[str], str]]:
    """The flyer's language and the translator of its own words. English until the pages
    choose a language (the i18n work wires this to the page's reader); the flyer's words are
    marked with ``_()`` in flyer.html and fediaid/flyer_pdf.py for the catalogs."""
    return "en", _english


def _english(text: str) -> str:
    return text


async def flyer_page(request: Request) -> Response:
    rt = runtime(request)
    paper = Paper.parse(request.query_params.get("paper"))
    lang, _ = _language(request)
    flyer = await rt.flyer.gather()
    return await render(
        request, "flyer.html", flyer=flyer, profile=flyer.profile, paper=paper.value,
        lang=lang, since=day_words(flyer.since, lang), printed=day_words(flyer.printed, lang),
        qr=qr_svg(flyer.page_url, _("QR code: the group's page, {url}").format(
            url=flyer.page_url)),
        pdf_url=f"/flyer.pdf?paper={paper.value}")


async def flyer_pdf(request: Request) -> Response:
    rt = runtime(request)
    paper = Paper.parse(request.query_params.get("paper"))
    lang, gettext = _language(request)
    flyer = await rt.flyer.gather()
    headers = {
        "ETag": f'"{flyer.digest}-{paper.value}-{lang}"',
        # Shared caches may keep it a few minutes: it holds only public words.
        "Cache-Control": "public, max-age=300",
        "Vary": "Accept-Language, Cookie",
        "Content-Disposition": f'inline; filename="flyer-{paper.value}.pdf"',
        "Content-Security-Policy": PDF_CSP,
    }
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = await rt.flyer.pdf(flyer, paper=paper, lang=lang, gettext=gettext)
    return Response(body, media_type="application/pdf", headers=headers)
