"""The printable flyer: ``GET /flyer`` (a page with a print stylesheet, api/web/static/print.css)
and ``GET /flyer.pdf`` (the same as a PDF), each with ``?paper=a4|letter``.

Anyone may ask: the flyer shows only what anyone can see (fediaid/services/flyer.py). The
PDF is kept by the service and answered with an ETag, so a refresh or a second printer costs
nothing. Both are in the reader's language (api/web/locale.py).
"""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.locale import reader
from api.web.render import render
from fediaid.domain.flyer import Flyer, Paper
from fediaid.domain.group_profile import said_description
from fediaid.flyer_pdf import day_words, qr_svg
from fediaid.i18n import Reader

# A PDF is not a page: no script may run in it and nothing may frame it, but no ``sandbox``
# (the middleware's default for other responses), which Chromium's PDF viewer refuses.
PDF_CSP = "default-src 'none'; frame-ancestors 'none'"


async def _flyer(request: Request, t: Reader) -> Flyer:
    """This week's flyer, for the reader: the week ends today in the reader's time zone, and
    the built-in category names are in the reader's language (a name a coordinator typed
    stays as typed)."""
    found = await runtime(request).flyer.gather(zone=t.tz)
    profile = replace(found.profile, description=t(said_description(found.profile.description)))
    return replace(found, profile=profile).with_categories(t)


async def flyer_page(request: Request) -> Response:
    paper = Paper.parse(request.query_params.get("paper"))
    t = await reader(request)
    flyer = await _flyer(request, t)
    return await render(
        request, "flyer.html", flyer=flyer, profile=flyer.profile, paper=paper.value,
        since=day_words(flyer.since, t.language), printed=day_words(flyer.printed, t.language),
        qr=qr_svg(flyer.page_url, t("QR code: the group's page, {url}", url=flyer.page_url)),
        pdf_url=f"/flyer.pdf?paper={paper.value}")


async def flyer_pdf(request: Request) -> Response:
    """The PDF in the page's language (the same browser asks for both: the member's setting,
    the language cookie or Accept-Language; docs/languages.md)."""
    paper = Paper.parse(request.query_params.get("paper"))
    t = await reader(request)
    flyer = await _flyer(request, t)
    headers = {
        "ETag": f'"{flyer.digest}-{paper.value}-{t.language}"',
        # Shared caches may keep it a few minutes: it holds only public words.
        "Cache-Control": "public, max-age=300",
        "Vary": "Accept-Language, Cookie",
        "Content-Disposition": f'inline; filename="flyer-{paper.value}.pdf"',
        "Content-Security-Policy": PDF_CSP,
    }
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = await runtime(request).flyer.pdf(flyer, paper=paper, lang=t.language,
                                            gettext=t.gettext)
    return Response(body, media_type="application/pdf", headers=headers)
