"""The ASGI application: routes, middleware and error mapping, wired to a Runtime."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from api import fediaid_api, mastodon
from api import ids as _ids  # noqa: F401  (registers the {id:id} path convertor)
from api import metrics as api_metrics
from api.activitypub import actors, blocklist, wellknown
from api.activitypub import needs_picture as ap_needs_picture
from api.activitypub.inbox import InboxFastPath
from api.errors import HANDLERS
from api.limits import RequestLimits
from api.mastodon import instance as mastodon_instance
from api.mastodon import oauth as mastodon_oauth
from api.mastodon import reports as mastodon_reports
from api.metrics import RequestMetrics
from api.middleware import RequestContext, SecurityHeaders, compression
from api.web import alerts as web_alerts
from api.web import audit as web_audit
from api.web import blocks as web_blocks
from api.web import conversations, coordination, domains, joining, my_data, pages, posts
from api.web import directory as web_directory
from api.web import email as web_email
from api.web import flyer as web_flyer
from api.web import group_profile as web_group_profile
from api.web import locale as web_locale
from api.web import my_posts as web_my_posts
from api.web import network as web_network
from api.web import network_picture as web_network_picture
from api.web import picture as web_picture
from api.web import reading as web_reading
from api.web import reports as web_reports
from api.web import sms as web_sms
from api.web import two_factor as web_two_factor
from fediaid.services.runtime import Runtime

STATIC = Path(__file__).parent / "web" / "static"


def routes() -> list[Route | Mount]:
    actor_kinds = ("groups", "users")
    out: list[Route | Mount] = [
        Route("/.well-known/webfinger", wellknown.webfinger),
        *(Route(path, fn, methods=methods) for path, fn, methods in web_email.ROUTES),
        *(Route(path, fn, methods=methods) for path, fn, methods in web_sms.ROUTES),
        Route("/.well-known/host-meta", wellknown.host_meta),
        Route("/.well-known/nodeinfo", wellknown.nodeinfo_discovery),
        Route("/nodeinfo/{version}", wellknown.nodeinfo_document),
        Route("/healthz", wellknown.healthz),
        Route("/metrics", api_metrics.endpoint),
        Route("/actor", actors.instance_actor),
        Route("/activities/{id}", actors.activity),
        Route("/objects/{id}", actors.obj),
        Route("/", posts.home),
        Route("/flyer", web_flyer.flyer_page),
        Route("/flyer.pdf", web_flyer.flyer_pdf),
        Route("/posts/new", posts.new_post, methods=["GET", "POST"]),
        Route("/posts/{id:id}", posts.show_post),
        Route("/posts/{id:id}/edit", posts.edit_post, methods=["GET", "POST"]),
        Route("/posts/{id:id}/respond", posts.respond, methods=["POST"]),
        Route("/posts/{id:id}/close", posts.close_post, methods=["POST"]),
        Route("/posts/{id:id}/responses/{rid:id}/{action:str}", posts.response_action,
              methods=["POST"]),
        Route("/intake", posts.intake, methods=["GET", "POST"]),
        Route("/conversations", conversations.conversation_list),
        Route("/conversations/{id:id}", conversations.conversation),
        Route("/conversations/{id:id}/send", conversations.send, methods=["POST"]),
        Route("/conversations/{id:id}/reopen", conversations.reopen, methods=["POST"]),
        Route("/settings/limits", conversations.limits, methods=["GET", "POST"]),
        Route("/settings/language", web_reading.settings_page, methods=["GET", "POST"]),
        Route("/language", web_locale.switch),
        Route("/@{name}", pages.profile),
        Route("/@{name}/{action:str}", web_blocks.profile_action, methods=["POST"]),
        Route("/settings/blocks", web_blocks.settings, methods=["GET", "POST"]),
        Route("/login", pages.login_form, methods=["GET", "POST"]),
        Route("/login/code", web_two_factor.login_code, methods=["GET", "POST"]),
        Route("/login/{secret}", pages.login_link),
        Route("/settings/two-factor", web_two_factor.settings, methods=["GET", "POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/settings/password", pages.password, methods=["GET", "POST"]),
        Route("/admin", pages.admin),
        Route("/admin/follow", pages.admin_follow, methods=["POST"]),
        Route("/admin/followers", pages.admin_followers, methods=["POST"]),
        Route("/admin/settings", coordination.group_settings, methods=["GET", "POST"]),
        Route("/admin/profile", web_group_profile.edit, methods=["GET", "POST"]),
        Route("/admin/categories", coordination.categories, methods=["GET", "POST"]),
        Route("/admin/categories/{slug:str}", coordination.category_action, methods=["POST"]),
        Route("/admin/areas", coordination.areas, methods=["GET", "POST"]),
        Route("/report", web_reports.report_form, methods=["GET", "POST"]),
        Route("/reports", web_reports.my_reports),
        Route("/my/posts", web_my_posts.my_posts),
        Route("/notifications", web_my_posts.notifications),
        Route("/picture", web_picture.page),
        Route("/picture.csv", web_picture.csv_download),
        Route("/picture/network", web_network_picture.page),
        Route("/picture.json", ap_needs_picture.published),
        Route("/admin/posts.csv", web_picture.posts_export),
        Route("/admin/reports", web_reports.queue),
        Route("/admin/reports/{id:id}", web_reports.act, methods=["POST"]),
        Route("/admin/reports/{id:id}/forward", web_reports.forward, methods=["POST"]),
        Route("/posts/{id:id}/takedown", web_reports.takedown, methods=["POST"]),
        Route("/api/v1/reports", mastodon_reports.create, methods=["POST", "OPTIONS"]),
        Route("/admin/domains", domains.page, methods=["GET", "POST"]),
        Route("/admin/network", web_network.page, methods=["GET", "POST"]),
        Route("/admin/alerts", web_alerts.page, methods=["GET", "POST"]),
        Route("/directory", web_directory.page),
        Route("/directory.json", web_directory.published),
        Route("/admin/domains/export.csv", domains.export),
        Route("/groups/{name}/blocklist", blocklist.published),
        Route("/admin/held", coordination.held),
        Route("/audit", web_audit.log),
        Route("/admin/members", web_audit.members, methods=["GET", "POST"]),
        Route("/admin/invitations", joining.invitations, methods=["GET", "POST"]),
        Route("/join", joining.ask, methods=["GET", "POST"]),
        Route("/join/{secret}", joining.invitation, methods=["GET", "POST"]),
        Route("/admin/held/{id:id}", coordination.held_decision, methods=["POST"]),
        Route("/api/v1/apps", mastodon_oauth.register_app, methods=["POST", "OPTIONS"]),
        Route("/oauth/authorize", mastodon_oauth.authorize, methods=["GET", "POST"]),
        Route("/oauth/token", mastodon_oauth.token, methods=["POST", "OPTIONS"]),
        Route("/oauth/revoke", mastodon_oauth.revoke, methods=["POST", "OPTIONS"]),
        Route("/.well-known/oauth-authorization-server", mastodon_oauth.server_metadata,
              methods=["GET", "OPTIONS"]),
        Route("/api/v1/instance", mastodon_instance.instance_v1, methods=["GET", "OPTIONS"]),
        Route("/api/v1/instance/", mastodon_instance.instance_v1, methods=["GET", "OPTIONS"]),
        Route("/api/v2/instance", mastodon_instance.instance_v2, methods=["GET", "OPTIONS"]),
        Route("/api/v2/instance/", mastodon_instance.instance_v2, methods=["GET", "OPTIONS"]),
        *(Route(path, fn, methods=methods) for path, fn, methods in my_data.ROUTES),
        *mastodon.routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Mount(fediaid_api.PREFIX, routes=fediaid_api.routes()),
    ]
    for kind in actor_kinds:
        out += [
            Route(f"/{kind}/{{name}}", actors.actor),
            Route(f"/{kind}/{{name}}/featured", actors.featured),
            Route(f"/{kind}/{{name}}/{{which:str}}", actors.collection),
        ]
    return out


def create_app(rt: Runtime) -> ASGIApp:
    """Build the application around an opened runtime (the caller owns its lifetime).

    Inbox POSTs take a short path in front of the router (api/activitypub/inbox.py);
    everything else goes through the request limits (api/limits.py), then Starlette.
    Security headers go on both, and every request is timed for /metrics (api/metrics.py)."""
    app = Starlette(routes=routes(), exception_handlers=HANDLERS,  # type: ignore[arg-type]
                    middleware=[RequestContext.middleware(), compression()])
    app.state.runtime = rt
    return SecurityHeaders(RequestMetrics(InboxFastPath(RequestLimits(app, rt), rt)))
