"""What coordinators set for the group: categories, neighborhoods, default visibility,
expiry and retention windows, approval of posts from outside the group, the region phone
numbers are read in, and the group's profile (description, how to join, hotline, contact)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fediaid.domain.audit import AuditAction
from fediaid.domain.categories import CATEGORY_KEYWORDS, format_keywords, parse_keywords
from fediaid.domain.group_profile import (
    CONTACT,
    HOTLINE_HOURS,
    HOTLINE_NUMBER,
    HOW_TO_JOIN,
    MAX_LENGTHS,
    PROFILE_KEYS,
    GroupProfile,
    normalise_phone,
)
from fediaid.domain.posts import (
    GroupPolicy,
    Post,
    Visibility,
    clean_text,
    kind_words,
    parse_enum,
)
from fediaid.domain.privacy import PHONE_REGION, known_region
from fediaid.domain.roles import ROLE_SETTING, Permission
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Invalid, NotFound
from fediaid.i18n import N_, SOURCE, Listed, Message, languages, zone
from fediaid.services import post_records
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import actors as actors_repo
from fediaid.storage import posts as posts_repo
from fediaid.storage import relationships as relationships_repo
from fediaid.storage.posts import Filters

if TYPE_CHECKING:
    from fediaid.services.outbox import Outbox
    from fediaid.services.post_federation import PostFederation
    from fediaid.services.posts import PostService

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
KEYWORDS_MAX = 5000

# A changed setting in the group's log (marked words; {value} is the new value).
_SETTING_WORDS = {
    "default_visibility": N_("new posts are seen by {value}"),
    "expiry_days": N_("posts close after {value} days"),
    "retention_days": N_("closed posts are deleted after {value} days"),
    "hold_nonmember_posts": N_("posts from outside the group wait for approval: {value}"),
    PHONE_REGION: N_("phone numbers are read as in the region {value}"),
    ROLE_SETTING: N_("role changes need a second coordinator: {value}"),
    "language": N_("the group's language is {value}"),
    "time_zone": N_("the group's time zone is {value}"),
}
_LEVEL_WORDS = {"public": N_("everyone"), "network": N_("the group's network"),
                "members": N_("members only")}


# The profile's fields in the audit log.
_PROFILE_WORDS = {"description": N_("description"), HOW_TO_JOIN: N_("how to join"),
                  HOTLINE_NUMBER: N_("hotline number"), HOTLINE_HOURS: N_("hotline hours"),
                  CONTACT: N_("contact")}


def setting_words(key: str, value: str) -> str:
    """A changed setting in plain (marked) words, for the audit log."""
    said: object = value
    if key == "default_visibility" and value in _LEVEL_WORDS:
        said = Message(_LEVEL_WORDS[value], {})
    elif key in ("hold_nonmember_posts", ROLE_SETTING):
        said = Message(N_("yes") if value == "1" else N_("no"), {})
    if key in _SETTING_WORDS:
        return Message(_SETTING_WORDS[key], {"value": said})
    return Message(N_("{name}: {value}"), {"name": key, "value": said})


class GroupSettingsService(Service):

    def __init__(self, core: Core, *,
                 post_federation: PostFederation, posts: PostService, outbox: Outbox) -> None:
        super().__init__(core)
        self.post_federation = post_federation
        self.posts = posts
        self.outbox = outbox

    @staticmethod
    def _require(user: User, permission: Permission = Permission.GROUP_SETTINGS) -> None:
        if not user.may(permission):
            raise Forbidden(N_("Only coordinators can change the group's settings."))

    async def categories(self) -> list[tuple[str, str]]:
        """The categories neighbors can choose (slug, label)."""
        async with self.db.read() as conn:
            return await posts_repo.category_list(conn)

    async def all_categories(self) -> list[tuple[str, str, bool]]:
        """Every category with whether it is shown (for coordinators)."""
        async with self.db.read() as conn:
            shown = {slug for slug, _ in await posts_repo.category_list(conn)}
            return [(slug, label, slug in shown)
                    for slug, label in await posts_repo.category_list(conn, active_only=False)]

    async def areas(self) -> list[tuple[str, str]]:
        async with self.db.read() as conn:
            return await posts_repo.area_list(conn)

    async def set_category(self, user: User, slug: str, label: str, *, active: bool = True
                           ) -> None:
        self._require(user)
        if not _SLUG.fullmatch(slug or ""):
            raise Invalid(N_("Use lowercase letters, digits and dashes for the short name."),
                          field="slug")
        label = clean_text(label, field="label", max_len=128, required=True)
        if slug == "other" and not active:
            raise Invalid(N_("\"Other\" is where posts without a category go: it stays."),
                          field="slug")
        async with self.db.write() as conn:
            before = {s: (lbl, on) for s, lbl, on in await self._categories(conn)}.get(slug)
            await posts_repo.upsert_category(conn, slug, label, active)
            if before != (label, active):
                what = (N_("added the category \"{label}\" ({slug})") if before is None else
                        N_("showed the category \"{label}\" ({slug})")
                        if active and not before[1] else
                        N_("hid the category \"{label}\" ({slug})")
                        if not active and before[1] else
                        N_("renamed the category \"{label}\" ({slug})"))
                await record(conn, user, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id="categories",
                             summary=Message(what, {"label": label, "slug": slug}))

    async def category_keywords(self) -> dict[str, tuple[str, ...]]:
        """The coordinators' own words that suggest each category (besides the built-in
        English and Spanish ones, fediaid/domain/categories.py)."""
        async with self.db.read() as conn:
            return parse_keywords((await posts_repo.settings(conn)).get(CATEGORY_KEYWORDS, ""))

    async def set_category_keywords(self, user: User, text: str) -> None:
        """One line per category: ``food: tortillas, masa``."""
        self._require(user)
        text = clean_text(text, field="keywords", max_len=KEYWORDS_MAX)
        parsed = parse_keywords(text)
        bad = [line for line in text.splitlines() if line.strip() and ":" not in line]
        if bad:
            raise Invalid(N_("Write each line as a short name, a colon and words: “food: "
                             "tortillas, masa” (not “{line}”).", line=bad[0][:60]),
                          field="keywords")
        async with self.db.write() as conn:
            known = {slug for slug, _, _ in await self._categories(conn)}
            unknown = sorted(set(parsed) - known)
            if unknown:
                raise Invalid(N_("There is no category with the short name {slug}.",
                                 slug=unknown[0]), field="keywords")
            value = format_keywords(parsed)
            before = (await posts_repo.settings(conn)).get(CATEGORY_KEYWORDS, "")
            await posts_repo.set_setting(conn, CATEGORY_KEYWORDS, value)
            if before != value:
                await record(conn, user, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id=CATEGORY_KEYWORDS,
                             summary=N_("changed the words that suggest a category: {words}",
                                        words="; ".join(value.splitlines()))
                             if value else N_("removed the words that suggest a category"))

    async def set_areas(self, user: User, items: list[tuple[str, str]]) -> None:
        self._require(user)
        clean: list[tuple[str, str]] = []
        for slug, label in items:
            if not _SLUG.fullmatch(slug or ""):
                raise Invalid(N_("Bad short name for a neighborhood: “{slug}”.", slug=slug),
                              field="areas")
            clean.append((slug, clean_text(label, field="label", max_len=128, required=True)))
        async with self.db.write() as conn:
            before = await posts_repo.area_list(conn)
            await posts_repo.set_areas(conn, clean)
            if before != clean:
                names = ", ".join(label for _, label in clean)
                await record(conn, user, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id="areas",
                             summary=N_("changed the neighborhoods people choose from: {names}",
                                        names=names) if names else
                             N_("emptied the list of neighborhoods: people type any postal "
                                "area"))

    async def update(self, user: User, values: Mapping[str, Any]) -> GroupPolicy:
        self._require(user)
        allowed = {"default_visibility", "expiry_days", "retention_days",
                   "hold_nonmember_posts", ROLE_SETTING, "language", "time_zone", PHONE_REGION}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise Invalid(N_("Unknown setting: {name}.", name=unknown[0]), field=unknown[0])
        out: dict[str, str] = {}
        if "default_visibility" in values:
            level = parse_enum(Visibility, values["default_visibility"],
                               field="default_visibility")
            if level is Visibility.DIRECT:
                raise Invalid(N_("A direct post needs named people, so it cannot be the default."),
                              field="default_visibility")
            out["default_visibility"] = level.value
        for key, low, high in (("expiry_days", 1, 365), ("retention_days", 0, 365)):
            if key in values:
                try:
                    n = int(values[key])
                except (TypeError, ValueError) as exc:
                    raise Invalid(N_("The {field} must be a whole number of days.", field=key),
                                  field=key) from exc
                if not low <= n <= high:
                    raise Invalid(N_("The {field} must be between {low} and {high}.",
                                     field=key, low=low, high=high), field=key)
                out[key] = str(n)
        for key in ("hold_nonmember_posts", ROLE_SETTING):
            if key in values:
                out[key] = "1" if values[key] in (True, "1", "true", "yes", "on") else "0"
        if PHONE_REGION in values:
            region = known_region(str(values[PHONE_REGION] or ""))
            if region is None:
                raise Invalid(N_("Write the country as its two-letter code (ISO 3166), like "
                                 "US, MX or ES."), field=PHONE_REGION)
            out[PHONE_REGION] = region
        if values.get("language"):
            if values["language"] not in languages():
                raise Invalid(N_("Choose one of the languages in the list."), field="language")
            out["language"] = str(values["language"])
        if values.get("time_zone"):
            if zone(str(values["time_zone"])) is None:
                raise Invalid(N_("“{zone}” is not a time zone. Choose one from the list, like "
                                 "America/Mexico_City.", zone=str(values["time_zone"])[:64]),
                              field="time_zone")
            out["time_zone"] = str(values["time_zone"])
        if ROLE_SETTING in out:
            self._require(user, Permission.SECURE_SETTINGS)
        async with self.db.write() as conn:
            before = await posts_repo.settings(conn)
            for key, value in out.items():
                await posts_repo.set_setting(conn, key, value)
            changed = [setting_words(k, v) for k, v in out.items() if before.get(k) != v]
            if changed:
                await record(conn, user, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id=",".join(k for k, v in out.items()
                                                if before.get(k) != v),
                             summary=N_("changed the group's settings: {what}",
                                        what=Listed(changed)))
            return await self.posts._policy(conn)

    # -- the group's profile -------------------------------------------------------------
    async def profile(self) -> GroupProfile:
        """What the group says about itself (its pages, its flyer, its actor's summary)."""
        async with self.db.read() as conn:
            group = await actors_repo.get_by_id(conn, self.identity.group.id)
            stored = await posts_repo.settings(conn)
        return GroupProfile(
            name=group.name or self.settings.group_name, description=group.summary or "",
            how_to_join=stored.get(HOW_TO_JOIN, ""),
            hotline_number=stored.get(HOTLINE_NUMBER, ""),
            hotline_hours=stored.get(HOTLINE_HOURS, ""), contact=stored.get(CONTACT, ""))

    async def update_profile(self, user: User, *, description: str | None = None,
                             how_to_join: str | None = None,
                             hotline_number: str | None = None,
                             hotline_hours: str | None = None,
                             contact: str | None = None) -> GroupProfile:
        """Change the fields given (None: leave it; "": clear it). Plain text, each within
        ``MAX_LENGTHS``; the hotline number is read in the group's phone region and kept in
        international form. A new description is the Group actor's summary: stored on the
        actor, sent as ``Update`` of the group to the servers that know it, and NodeInfo's
        ``nodeDescription``. Every change is in the audit log. Nothing changes when a value
        breaks a rule."""
        self._require(user)
        typed = {"description": description, HOW_TO_JOIN: how_to_join,
                 HOTLINE_NUMBER: hotline_number, HOTLINE_HOURS: hotline_hours,
                 CONTACT: contact}
        clean: dict[str, str] = {}
        for key, value in typed.items():
            if value is None:
                continue
            text = clean_text(value, field=key, max_len=1_000_000)
            if len(text) > MAX_LENGTHS[key]:
                raise Invalid(N_("This is too long: {count} characters, and it can have up "
                                 "to {limit}.", count=len(text), limit=MAX_LENGTHS[key]),
                              field=key)
            # The number and the hours are one line; the others may have several.
            clean[key] = (" ".join(text.split()) if key in (HOTLINE_NUMBER, HOTLINE_HOURS)
                          else text)
        if clean.get(HOTLINE_NUMBER):
            region = (await self.posts.policy()).phone_region
            clean[HOTLINE_NUMBER] = normalise_phone(clean[HOTLINE_NUMBER], region)
        group_id = self.identity.group.id
        async with self.db.write() as conn:
            group = await actors_repo.get_by_id(conn, group_id)
            stored = await posts_repo.settings(conn)
            before = {"description": group.summary or "",
                      **{k: stored.get(k, "") for k in PROFILE_KEYS}}
            changed = [k for k, v in clean.items() if before[k] != v]
            for key in changed:
                if key != "description":
                    await posts_repo.set_setting(conn, key, clean[key])
            if "description" in changed:
                await relationships_repo.update_profile(conn, group_id,
                                                        summary=clean["description"])
            if set(changed) & {"description", HOW_TO_JOIN, HOTLINE_NUMBER, HOTLINE_HOURS}:
                # All four are in the group's actor document (render.with_self_description).
                await self.outbox.actor_updated(conn, await actors_repo.get_by_id(conn,
                                                                                  group_id))
            if changed:
                # The log redacts what looks like a phone number from the summary: the new
                # hotline is in the details coordinators read.
                shown = [Message(_PROFILE_WORDS[k], {}) if clean[k] else
                         Message(N_("{what} (cleared)"),
                                 {"what": Message(_PROFILE_WORDS[k], {})}) for k in changed]
                detail = "; ".join(f"{_PROFILE_WORDS[k]}: {clean[k]}" for k in changed
                                   if k in (HOTLINE_NUMBER, HOTLINE_HOURS) and clean[k])
                await record(conn, user, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id="profile",
                             summary=N_("changed the group's profile: {what}",
                                        what=Listed(shown, ", ")),
                             detail=detail or None)
        if "description" in changed:
            await self.core.load_identity()  # the actor's summary, NodeInfo
        return await self.profile()

    async def reading_defaults(self) -> tuple[str, str]:
        """The group's language and time zone for pages (the group settings ``language`` and
        ``time_zone``, else the instance's: its first language, its ``time_zone``)."""
        async with self.db.read() as conn:
            stored = await posts_repo.settings(conn)
        configured = self.settings.languages[0] if self.settings.languages else SOURCE
        return (stored.get("language") or configured,
                stored.get("time_zone") or self.settings.time_zone)

    @staticmethod
    async def _categories(conn: Any) -> list[tuple[str, str, bool]]:
        shown = {slug for slug, _ in await posts_repo.category_list(conn)}
        return [(slug, label, slug in shown)
                for slug, label in await posts_repo.category_list(conn, active_only=False)]

    async def held_posts(self, user: User) -> list[Post]:
        self._require(user, Permission.APPROVE)
        async with self.db.read() as conn:
            return await posts_repo.search(conn, Filters(held=True, states=()))

    async def decide_held(self, user: User, post_id: int, *, approve: bool) -> None:
        """Approve a held post (the group shares it) or turn it away (it is removed here)."""
        self._require(user, Permission.APPROVE)
        async with self.db.write() as conn:
            post = await posts_repo.find(conn, post_id)
            if post is None or not post.held:
                raise NotFound(N_("No post waiting for approval with that number."))
            if approve:
                await post_records.update_post(conn, post_id, {"held": False})
                shared = await posts_repo.get(conn, post_id)
                if shared.via_group:
                    await self.post_federation.shared_by_group(conn, shared)
                else:
                    await self.post_federation.created(conn, shared)
            else:
                await post_records.remove_post(conn, post_id)
            await record(conn, user, AuditAction.POST_APPROVED if approve
                         else AuditAction.POST_TURNED_AWAY, target_kind="post",
                         target_id=post_id,
                         summary=N_("approved {kind} #{id} from outside the group",
                                    kind=kind_words(post.kind), id=post_id) if approve else
                         N_("turned away {kind} #{id} from outside the group",
                            kind=kind_words(post.kind), id=post_id))
