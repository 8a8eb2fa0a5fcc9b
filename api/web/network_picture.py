"""The network's picture (``/picture/network``, members): this group's needs picture and
those of the linked groups that share theirs, added up (what is asked most across the
network, where needs stay unmet, which categories one group offers more of than it asks
for while another lacks them). Service: fediaid/services/network_picture.py; the rules:
fediaid/domain/network_picture.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import runtime
from api.web.render import form_handler, render
from api.web.session import require_user


@form_handler
async def page(request: Request) -> Response:
    rt = runtime(request)
    user = await require_user(request)
    net = await rt.network_picture.network(user)
    return await render(request, "network_picture.html", net=net)
