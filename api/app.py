"""The ASGI application: routes, middleware and error mapping, wired to a Runtime."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from api.activitypub import actors, inbox, wellknown
from api.errors import HANDLERS
from api.middleware import RequestContext
from api.web import pages
from fediaid.services.runtime import Runtime

STATIC = Path(__file__).parent / "web" / "static"


def routes() -> list[Route | Mount]:
    actor_kinds = ("groups", "users")
    out: list[Route | Mount] = [
        Route("/.well-known/webfinger", wellknown.webfinger),
        Route("/.well-known/host-meta", wellknown.host_meta),
        Route("/.well-known/nodeinfo", wellknown.nodeinfo_discovery),
        Route("/nodeinfo/{version}", wellknown.nodeinfo_document),
        Route("/healthz", wellknown.healthz),
        Route("/inbox", inbox.shared_inbox, methods=["POST"]),
        Route("/actor", actors.instance_actor),
        Route("/actor/inbox", inbox.instance_inbox, methods=["POST"]),
        Route("/activities/{id}", actors.activity),
        Route("/objects/{id}", actors.obj),
        Route("/", pages.home),
        Route("/@{name}", pages.profile),
        Route("/login", pages.login_form, methods=["GET", "POST"]),
        Route("/login/{secret}", pages.login_link),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/settings/password", pages.password, methods=["GET", "POST"]),
        Route("/admin", pages.admin),
        Route("/admin/follow", pages.admin_follow, methods=["POST"]),
        Route("/admin/followers", pages.admin_followers, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    for kind in actor_kinds:
        out += [
            Route(f"/{kind}/{{name}}", actors.actor),
            Route(f"/{kind}/{{name}}/inbox", inbox.actor_inbox, methods=["POST"]),
            Route(f"/{kind}/{{name}}/{{which:str}}", actors.collection),
        ]
    return out


def create_app(rt: Runtime) -> Starlette:
    """Build the application around an opened runtime (the caller owns its lifetime)."""
    app = Starlette(routes=routes(), exception_handlers=HANDLERS,  # type: ignore[arg-type]
                    middleware=[RequestContext.middleware()])
    app.state.runtime = rt
    return app
