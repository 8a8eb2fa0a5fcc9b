"""Offers and needs: posting, editing, closing, finding, and proxy intake.

Every read goes through ``fediaid.domain.visibility``; every state change through
``fediaid.domain.posts.transition``. Federation side effects are written in the same
transaction as the change (``PostFederation``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from activitypub.vocab import is_http_uri
from fediaid.domain.actors import Actor
from fediaid.domain.audit import AuditAction
from fediaid.domain.categories import CATEGORY_KEYWORDS, keywords_for, parse_keywords
from fediaid.domain.picture import Deletion
from fediaid.domain.posts import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    UNIT_MAX,
    Draft,
    GroupPolicy,
    Kind,
    Post,
    State,
    Urgency,
    Visibility,
    Warning_,
    clean_text,
    kind_words,
    parse_enum,
    parse_quantity,
    privacy_warnings,
    suggested_category,
    title_from,
    transition,
    validate_area,
    validate_window,
)
from fediaid.domain.privacy import DEFAULT_REGION, PHONE_REGION, known_region
from fediaid.domain.rate_limits import POSTING_PAUSED, POSTS_ACCOUNT
from fediaid.domain.roles import Permission
from fediaid.domain.users import User
from fediaid.domain.visibility import Viewer, can_view
from fediaid.errors import Forbidden, Invalid, NotFound
from fediaid.i18n import N_
from fediaid.services import post_records
from fediaid.services.core import Core, Service
from fediaid.services.retention import keep_counts
from fediaid.storage import actors as actors_repo
from fediaid.storage import forwarding as forwarding_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import reports as reports_repo
from fediaid.storage import responses as responses_repo
from fediaid.storage.posts import Filters as Filters  # re-exported for the HTTP surfaces
from fediaid.storage.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from fediaid.services.blocks import BlockService
    from fediaid.services.follows import FollowService
    from fediaid.services.post_federation import PostFederation
    from fediaid.services.rate_limits import RateLimiter


class NeedsConfirmation(Invalid):
    """A public post contains what looks like private details; ask before publishing."""

    def __init__(self, warnings: list[Warning_]) -> None:
        super().__init__(" ".join(dict.fromkeys(w.message for w in warnings)),
                         field=warnings[0].field)
        self.warnings = warnings


@dataclass(frozen=True)
class Intake:
    name: str
    callback: str | None
    notes: str | None


def _parse_time(value: Any, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise Invalid(N_("The {field} must be a date and time.", field=field), field=field)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid(N_("The {field} must be a date and time like 2026-12-01T18:00:00Z.",
                         field=field), field=field) from exc
    if dt.tzinfo is None:
        raise Invalid(N_("The {field} needs a time zone (for example 2026-12-01T18:00:00Z).",
                         field=field), field=field)
    try:
        utc = dt.astimezone(UTC)
    except OverflowError as exc:
        raise Invalid(N_("The {field} is out of range.", field=field), field=field) from exc
    if not 1900 <= utc.year <= 2999:
        raise Invalid(N_("The {field} is out of range.", field=field), field=field)
    return utc


MAX_RECIPIENTS = 20
_HANDLE = re.compile(r"@[A-Za-z0-9_.-]{1,64}(@[A-Za-z0-9.-]{1,253}(:\d{1,5})?)?")

KNOWN_FIELDS = frozenset({"kind", "title", "description", "category", "quantity", "unit", "area",
                          "starts_at", "ends_at", "urgency", "visibility", "recipients"})


def _fields_of(post: Post) -> dict[str, Any]:
    return {
        "kind": post.kind.value, "title": post.title, "description": post.description,
        "category": post.category, "quantity": post.quantity, "unit": post.unit,
        "area": post.area, "starts_at": post.starts_at, "ends_at": post.ends_at,
        "urgency": post.urgency.value, "visibility": post.visibility.value,
        "recipients": list(post.recipients),
    }


def forward_choice(data: Mapping[str, Any]) -> tuple[bool, bool | None]:
    """A need's "offer it to linked groups if nobody here helps" choice (issue 12;
    fediaid/domain/forwarding.py): (given, choice). ``"yes"``/``"no"`` (or booleans) opt in
    or out; ``""``/``"default"`` follows the group's default."""
    if "forward" not in data:
        return False, None
    value = data["forward"]
    if value in (True, "yes", "1", "on", "true"):
        return True, True
    if value in (False, "no", "0", "off", "false"):
        return True, False
    if value in (None, "", "default"):
        return True, None
    raise Invalid(N_("Choose yes, no or the group's default."), field="forward")


def parse_draft(data: Mapping[str, Any], policy: GroupPolicy, *, partial_of: Post | None = None
                ) -> Draft:
    """Validate what was typed. With ``partial_of`` (an edit), missing fields keep the post's
    values and the kind cannot change."""
    unknown = sorted(set(data) - KNOWN_FIELDS - {"confirm", "as_neighbor", "forward"})
    if unknown:
        raise Invalid(N_("Unknown field: {name}.", name=unknown[0]), field=unknown[0])
    merged: dict[str, Any] = dict(data)
    if partial_of is not None:
        if "kind" in data and str(data["kind"]) != partial_of.kind.value:
            raise Invalid(N_("An offer cannot become a need (or back): close it and post "
                             "anew."), field="kind")
        merged = _fields_of(partial_of) | merged
    kind = parse_enum(Kind, merged.get("kind"), field="kind")
    description = clean_text(merged.get("description"), field="description",
                             max_len=DESCRIPTION_MAX)
    title = clean_text(merged.get("title"), field="title", max_len=TITLE_MAX)
    if not title:
        if not description:
            raise Invalid(N_("Say in a sentence what you need or offer."), field="title")
        title = title_from(description)
    # No category chosen on a new post: suggested from what was written (shown to the
    # author, who can change it); an edit keeps the post's category.
    category = str(merged.get("category") or (
        suggested_category(title, description, policy) if partial_of is None else "other"))
    kept = partial_of is not None and category == partial_of.category  # hidden since: fine
    if category not in policy.categories and not kept:
        raise Invalid(N_("Unknown category: {category}.", category=category), field="category")
    quantity = parse_quantity(merged.get("quantity"))
    unit = clean_text(merged.get("unit") or "one", field="unit", max_len=UNIT_MAX) or "one"
    area_raw = merged.get("area")
    if area_raw is not None and not isinstance(area_raw, str):
        raise Invalid(N_("The {field} must be text.", field="area"), field="area")
    area = validate_area(area_raw.strip() if area_raw else None, policy)
    starts_at = _parse_time(merged.get("starts_at"), "starts_at")
    ends_at = _parse_time(merged.get("ends_at"), "ends_at")
    validate_window(starts_at, ends_at)
    urgency = parse_enum(Urgency, merged.get("urgency"), field="urgency",
                         default=Urgency.NORMAL)
    visibility = parse_enum(Visibility, merged.get("visibility"), field="visibility",
                            default=policy.default_visibility)
    recipients = merged.get("recipients") or []
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise Invalid(N_("The {field} must be a list of accounts.", field="recipients"),
                      field="recipients")
    if len(recipients) > MAX_RECIPIENTS:
        raise Invalid(N_("Name at most {n} people.", n=MAX_RECIPIENTS), field="recipients")
    for r in recipients:
        if not (is_http_uri(r) or _HANDLE.fullmatch(r)) or not r.isprintable():
            raise Invalid(N_("Not an account: “{name}”. Use @name or @name@server.",
                             name=r[:60]), field="recipients")
    if visibility is Visibility.DIRECT and not recipients:
        raise Invalid(N_("Name at least one person who can see it."), field="recipients")
    return Draft(kind=kind, title=title, description=description, category=category,
                 quantity=quantity, unit=unit, area=area, starts_at=starts_at, ends_at=ends_at,
                 urgency=urgency, visibility=visibility, recipients=tuple(recipients))


class PostService(Service):
    def __init__(self, core: Core, *,
                 blocks: BlockService, follows: FollowService, limits: RateLimiter,
                 post_federation: PostFederation) -> None:
        super().__init__(core)
        self.blocks = blocks
        self.follows = follows
        self.limits = limits
        self.post_federation = post_federation

    # -- policy and viewers -------------------------------------------------------------
    async def policy(self) -> GroupPolicy:
        async with self.db.read() as conn:
            return await self._policy(conn)

    async def _policy(self, conn: AsyncConnection) -> GroupPolicy:
        s = await posts_repo.settings(conn)
        cats = frozenset(slug for slug, _ in await posts_repo.category_list(conn))
        areas = frozenset(slug for slug, _ in await posts_repo.area_list(conn))
        return GroupPolicy(
            categories=cats, areas=areas,
            default_visibility=Visibility(s.get("default_visibility", "public")),
            expiry=timedelta(days=int(s.get("expiry_days", "14"))),
            retention=timedelta(days=int(s.get("retention_days", "30"))),
            hold_nonmember_posts=s.get("hold_nonmember_posts", "1") == "1",
            category_keywords=tuple(keywords_for(
                cats, parse_keywords(s.get(CATEGORY_KEYWORDS, ""))).items()),
            phone_region=known_region(s.get(PHONE_REGION, "")) or self.default_phone_region,
        )

    @property
    def default_phone_region(self) -> str:
        """The instance's ``phone_region`` (fediaid.toml), else "US"."""
        return known_region(self.settings.phone_region) or DEFAULT_REGION

    def viewer_for(self, user: User | None, actor: Actor | None = None) -> Viewer:
        if user is None:
            return Viewer()
        uri = actor.uri if actor else None
        return Viewer(actor_uri=uri, user_id=user.id, coordinator=user.is_coordinator)

    async def viewer_for_remote(self, actor_uri: str | None) -> Viewer:
        """A remote requester (a signed fetch), with its relationship to the group: on the
        server of a linked group, it is in the group's network (``Viewer.in_network``)."""
        if actor_uri is None:
            return Viewer()
        from fediaid.storage import links as links_repo

        async with self.db.read() as conn:
            actor = await actors_repo.find_by_uri(conn, actor_uri)
            if actor is None or actor.local:
                return Viewer(actor_uri=actor_uri)
            linked = actor.domain in await links_repo.active_domains(conn)
            # Members who block this account or its server: not shown to it.
            blocked_by = await self.blocks.remote_blocked_by(conn, actor)
        return Viewer(actor_uri=actor_uri, in_network=linked, blocked_by=blocked_by)

    async def viewer_for_user(self, user: User | None) -> Viewer:
        if user is None:
            return Viewer()
        async with self.db.read() as conn:
            actor = await actors_repo.get_by_id(conn, user.actor_id)
            relations = await self.blocks.viewer_fields(conn, actor.id)
        return replace(self.viewer_for(user, actor), **relations)

    # -- writing ------------------------------------------------------------------------
    async def create(self, user: User, data: Mapping[str, Any], *, confirm: bool = False,
                     as_neighbor: bool = False, intake: Intake | None = None,
                     suggest: bool = False) -> Post:
        """Post an offer or need as ``user``; ``as_neighbor`` attributes it to the group;
        ``intake`` (coordinators only) records a neighbor's need that came by phone or
        paper, attributed to the group, with a private intake record. ``suggest`` (the web
        form, which has a confirm step): a need about money, health or housing published
        beyond the members first gets a suggestion (``NeedsConfirmation``)."""
        if intake is not None and not user.may(Permission.INTAKE):
            raise Forbidden(N_("Only coordinators can record a need on someone's behalf."))
        group = self.identity.group
        current = await self.policy()
        draft = parse_draft(data, current)
        forward_given, forward = forward_choice(data)
        self._check_privacy(draft, confirm, current, self._sensitive(
            draft, current.default_visibility, anonymous=as_neighbor or intake is not None)
            if suggest else None)
        recipients = await self._resolve_recipients(draft.recipients)
        await self.limits.enforce(POSTS_ACCOUNT, str(user.id), POSTING_PAUSED)
        async with self.db.write() as conn:
            policy = await self._policy(conn)
            author_id = group.id if (as_neighbor or intake) else user.actor_id
            now = utcnow()
            visibility = draft.visibility or policy.default_visibility
            if visibility in (Visibility.PUBLIC, Visibility.NETWORK) and (
                    await reports_repo.is_limited(conn, user.id)):
                visibility = Visibility.MEMBERS  # limited by a coordinator (services/reports)
            values = {
                "uri": self.urls.new_object(),
                "kind": draft.kind.value, "title": draft.title,
                "description": draft.description, "category": draft.category,
                "quantity": draft.quantity, "unit": draft.unit, "area": draft.area,
                "starts_at": draft.starts_at, "ends_at": draft.ends_at,
                "urgency": draft.urgency.value,
                "visibility": visibility.value,
                "state": State.OPEN.value, "local": True, "author_actor_id": author_id,
                "creator_user_id": user.id, "anonymous": as_neighbor and intake is None,
                "proxy": intake is not None, "held": False, "via_group": False,
                "expires_at": now + policy.expiry,
            }
            post_id = await post_records.insert_post(conn, values, recipients)
            if forward_given and draft.kind is Kind.NEED:
                await forwarding_repo.set_choice(conn, post_id, forward)
            if intake is not None:
                await posts_repo.add_intake(
                    conn, post_id=post_id, user_id=user.id,
                    name=clean_text(intake.name, field="name", max_len=128, required=True),
                    callback=clean_text(intake.callback, field="callback", max_len=64) or None,
                    notes=clean_text(intake.notes, field="notes", max_len=2000) or None)
                from fediaid.services.audit import record

                await record(conn, user, AuditAction.INTAKE_RECORDED, target_kind="post",
                             target_id=post_id,
                             summary=N_("recorded {kind} #{id} for a neighbor who called or "
                                        "wrote (the intake record stays private)",
                                        kind=kind_words(draft.kind), id=post_id))
            post = await posts_repo.get(conn, post_id)
            await self.post_federation.created(conn, post)
        return post

    def _check_privacy(self, draft: Draft, confirm: bool, policy: GroupPolicy,
                       suggestions: list[Warning_] | None = None) -> None:
        if confirm:
            return
        warnings = list(suggestions or [])
        if draft.visibility not in (Visibility.MEMBERS, Visibility.DIRECT):
            warnings += privacy_warnings(("title", draft.title),
                                         ("description", draft.description),
                                         region=policy.phone_region)
        if warnings:
            raise NeedsConfirmation(warnings)

    @staticmethod
    def _sensitive(draft: Draft, default: Visibility, *, anonymous: bool) -> list[Warning_]:
        """A need about money, health or housing, published beyond the group's members:
        suggest "members only" and posting as a neighbor first (the author may keep their
        choice: ``confirm``)."""
        from fediaid.domain.audience import sensitive_suggestion

        suggestion = sensitive_suggestion(draft.kind, draft.visibility or default, anonymous,
                                          draft.title, draft.description)
        return [Warning_("visibility", suggestion)] if suggestion else []

    async def _managed(self, conn: AsyncConnection, user: User, post_id: int) -> Post:
        post = await posts_repo.find(conn, post_id)
        if post is None or not post.local:
            raise NotFound(N_("No such post here."))
        if not self.can_manage(user, post):
            if can_view(self.viewer_for(user), post):
                raise Forbidden(N_("Only the person who posted this can change it."))
            raise NotFound(N_("No such post here."))
        return post

    async def _resolve_recipients(self, names: tuple[str, ...]) -> list[str]:
        """Actor URIs for the people named in a direct post (``@name`` for a member here,
        ``@name@server`` or an actor URL for anyone else). Unknown people are an error, not a
        silent drop."""
        from fediaid.errors import FediaidError

        out: list[str] = []
        domain = self.settings.domain.lower()
        for name in names:
            if not is_http_uri(name):
                user_part, _, host = name.lstrip("@").partition("@")
                if not host or host.lower() == domain:
                    async with self.db.read() as conn:
                        local = await actors_repo.find_local(conn, user_part.lower())
                    if local is None:
                        raise Invalid(N_("There is nobody called @{name} here.",
                                         name=user_part), field="recipients")
                    out.append(local.uri)
                    continue
            try:
                actor = await self.follows.find_remote_actor(name)
            except FediaidError as exc:
                raise Invalid(N_("Could not find {name}: {problem}", name=name[:80],
                                 problem=exc.public), field="recipients") from exc
            out.append(actor.uri)
        return list(dict.fromkeys(out))

    @staticmethod
    def can_manage(user: User, post: Post) -> bool:
        return post.creator_user_id == user.id or (post.proxy and user.is_coordinator)

    async def edit(self, user: User, post_id: int, data: Mapping[str, Any], *,
                   confirm: bool = False) -> Post:
        async with self.db.read() as conn:
            before = await self._managed(conn, user, post_id)
        current = await self.policy()
        draft = parse_draft(data, current, partial_of=before)
        forward_given, forward = forward_choice(data)
        self._check_privacy(draft, confirm, current)
        recipients = await self._resolve_recipients(draft.recipients)
        async with self.db.write() as conn:
            post = await self._managed(conn, user, post_id)
            if not post.is_open:
                raise Invalid(N_("Only open posts can be edited."), field="state")
            narrowed = draft.visibility is Visibility.MEMBERS
            if post.visibility is not Visibility.MEMBERS and narrowed:
                # Narrowing to members-only takes it back from everyone who has it.
                await self.post_federation.deleted(conn, post, gone=False)
            await post_records.update_post(conn, post_id, {
                "title": draft.title, "description": draft.description,
                "category": draft.category, "quantity": draft.quantity, "unit": draft.unit,
                "area": draft.area, "starts_at": draft.starts_at, "ends_at": draft.ends_at,
                "urgency": draft.urgency.value,
                "visibility": (draft.visibility or post.visibility).value,
            })
            await posts_repo.replace_recipients(conn, post_id, recipients)
            if forward_given and post.kind is Kind.NEED:
                await forwarding_repo.set_choice(conn, post_id, forward)
                if forward is False:  # offered to linked groups already: taken back
                    await self.post_federation.offers_taken_back(conn, post)
            updated = await posts_repo.get(conn, post_id)
            await self.post_federation.updated(conn, updated, previous=post)
        return updated

    async def close(self, user: User, post_id: int, outcome: str) -> Post:
        new = parse_enum(State, outcome, field="outcome")
        if new not in (State.FULFILLED, State.PARTLY_FULFILLED, State.WITHDRAWN):
            raise Invalid(N_("Close a post as fulfilled, partly_fulfilled or withdrawn."),
                          field="outcome")
        async with self.db.write() as conn:
            post = await self._managed(conn, user, post_id)
            return await self._close(conn, post, new)

    async def _close(self, conn: AsyncConnection, post: Post, new: State) -> Post:
        transition(post.state, new)
        now = utcnow()
        policy = await self._policy(conn)
        await post_records.update_post(conn, post.id, {
            "state": new.value, "closed_at": now, "delete_after": now + policy.retention})
        await responses_repo.close_conversations(conn, post.id)
        closed = await posts_repo.get(conn, post.id)
        await self.post_federation.updated(conn, closed, previous=post)
        if new in (State.FULFILLED, State.PARTLY_FULFILLED):
            from fediaid.domain.posts import ResponseState

            done = [r for r in await responses_repo.for_post(conn, post.id)
                    if r.state is ResponseState.ACCEPTED]
            for r in done:
                await responses_repo.set_state(conn, r.id, ResponseState.COMPLETED)
            await self.post_federation.completed(conn, closed, done)
        return closed

    async def set_promised(self, conn: AsyncConnection, post: Post, promised: bool) -> None:
        """Called by the response service when acceptances change."""
        target = State.PROMISED if promised else State.OPEN
        if post.state is target or post.state.closed:
            return
        transition(post.state, target)
        await post_records.update_post(conn, post.id, {"state": target.value})

    # -- reading ------------------------------------------------------------------------
    async def get(self, viewer: Viewer, post_id: int) -> Post:
        async with self.db.read() as conn:
            post = await posts_repo.find(conn, post_id)
        if post is None or not can_view(viewer, post):
            raise NotFound(N_("No such post, or it is not shared with you."))
        return post

    async def get_by_uri(self, viewer: Viewer, uri: str) -> Post:
        async with self.db.read() as conn:
            post = await posts_repo.find_by_uri(conn, uri)
        if post is None or not can_view(viewer, post):
            raise NotFound(N_("No such post, or it is not shared with you."))
        return post

    async def search(self, viewer: Viewer, filters: Filters) -> list[Post]:
        """Posts the viewer may see, matching ``filters``, at most ``filters.limit``."""
        from fediaid.domain.visibility import post_in_lists

        out: list[Post] = []
        before = filters.before_id
        async with self.db.read() as conn:
            for _ in range(20):  # bounded: skip pages of posts the viewer cannot see
                batch = await posts_repo.search(
                    conn, replace(filters, limit=filters.limit * 2, before_id=before,
                                  order=filters.order))
                # Not those of accounts the viewer blocked or muted (visibility.py).
                out += [p for p in batch if post_in_lists(viewer, p)]
                if len(out) >= filters.limit or len(batch) < filters.limit * 2 or (
                        filters.order != "newest"):
                    break
                before = batch[-1].id
        return out[: filters.limit]

    async def intake_record(self, user: User, post_id: int) -> dict[str, Any] | None:
        """A proxy post's intake record (name, callback number, notes): a sensitive read,
        so opening it is in the group's audit log (in the same transaction)."""
        if not user.may(Permission.INTAKE):
            raise Forbidden(N_("Only coordinators can see intake records."))
        from fediaid.services.audit import record

        async with self.db.write() as conn:
            post = await posts_repo.find(conn, post_id)
            if post is None or not post.proxy:
                raise NotFound(N_("No intake record for that post."))
            found = await posts_repo.intake_for(conn, post_id)
            if found is not None:
                await record(conn, user, AuditAction.INTAKE_OPENED, target_kind="post",
                             target_id=post_id,
                             summary=N_("opened the intake record of {kind} #{id}",
                                        kind=kind_words(post.kind), id=post_id))
            return found

    async def creator_name(self, viewer: Viewer, post: Post) -> str | None:
        from fediaid.domain.visibility import can_see_creator

        if post.creator_user_id is None or not can_see_creator(viewer, post):
            return None
        async with self.db.read() as conn:
            from fediaid.storage import users as users_repo

            return (await users_repo.get(conn, post.creator_user_id)).username

    # -- lifecycle jobs -----------------------------------------------------------------
    async def delete_now(self, user: User, post_id: int) -> None:
        """The author (or a coordinator) deletes a post at once, with everything private
        attached; everyone who received it gets a Delete. (From the Mastodon apps' delete.)
        The needs picture keeps counting it only if it was fulfilled or expired
        (``picture.kept_outcome``)."""
        async with self.db.write() as conn:
            post = await self._managed(conn, user, post_id)
            await keep_counts(conn, post, Deletion.AUTHOR)
            await self.post_federation.deleted(conn, post)
            await post_records.remove_post(conn, post.id)

    async def expire_due(self) -> int:
        now = utcnow()
        async with self.db.read() as conn:
            ids = await posts_repo.due_to_expire(conn, now)
        for pid in ids:
            async with self.db.write() as conn:
                post = await posts_repo.find(conn, pid)
                if post is not None and post.is_open:
                    await self._close(conn, post, State.EXPIRED)
        return len(ids)

    async def delete_due(self) -> int:
        """Delete closed posts whose retention window has passed, with everything private
        attached, and federate the Delete to everyone who received them. The needs picture
        keeps their counts (``retention.keep_counts``, in the same transaction)."""
        now = utcnow()
        async with self.db.read() as conn:
            ids = await posts_repo.due_for_deletion(conn, now)
        for pid in ids:
            async with self.db.write() as conn:
                post = await posts_repo.find(conn, pid)
                if post is None:
                    continue
                await keep_counts(conn, post, Deletion.RETENTION)
                await self.post_federation.deleted(conn, post)
                await post_records.remove_post(conn, pid)
        return len(ids)

