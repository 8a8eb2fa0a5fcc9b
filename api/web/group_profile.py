"""The group's profile as coordinators edit it (``/admin/profile``): the description (the
group's fediverse summary), how to join, the hotline number and hours, and a contact. The
home page shows it (``_group_profile.html``). Service: ``GroupSettingsService.profile`` and
``update_profile``."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.coordination import coordinator_page
from api.web.forms import plain_message
from api.web.render import redirect, render
from fediaid.domain.group_profile import MAX_LENGTHS
from fediaid.domain.users import User
from fediaid.errors import Invalid
from fediaid.i18n import N_

FIELDS = ("description", "how_to_join", "hotline_number", "hotline_hours", "contact")


@coordinator_page
async def edit(request: Request, user: User) -> Response:
    rt = runtime(request)
    if request.method == "GET":
        profile = await rt.group_settings.profile()
        return await _page(request, {f: getattr(profile, f) for f in FIELDS})
    form = await request.form()
    values = {f: str(form.get(f) or "") for f in FIELDS}
    try:
        await rt.group_settings.update_profile(user, **values)
    except Invalid as exc:
        field = exc.field if exc.field in FIELDS else "_"
        return await _page(request, values, status=400, errors={field: plain_message(exc)})
    return redirect("/admin/profile", N_("Saved. The group's page shows it now."))


async def _page(request: Request, values: Mapping[str, str], *, status: int = 200,
                errors: Mapping[str, str] | None = None) -> Response:
    rt = runtime(request)
    policy = await rt.posts.policy()
    return await render(request, "admin_profile.html", status=status, values=values,
                        errors=errors or {}, limits=MAX_LENGTHS, region=policy.phone_region)
