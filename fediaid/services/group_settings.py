"""What coordinators set for the group: categories, neighborhoods, default visibility,
expiry and retention windows, approval of posts from outside the group."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fediaid.domain.audit import AuditAction
from fediaid.domain.categories import CATEGORY_KEYWORDS, format_keywords, parse_keywords
from fediaid.domain.posts import GroupPolicy, Post, Visibility, clean_text, parse_enum
from fediaid.domain.roles import ROLE_SETTING, Permission
from fediaid.domain.users import User
from fediaid.errors import Forbidden, Invalid, NotFound
from fediaid.services import post_records
from fediaid.services.audit import record
from fediaid.services.core import Core, Service
from fediaid.storage import posts as posts_repo
from fediaid.storage.posts import Filters

if TYPE_CHECKING:
    from fediaid.services.post_federation import PostFederation
    from fediaid.services.posts import PostService

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
KEYWORDS_MAX = 5000

_SETTING_WORDS = {
    "default_visibility": "new posts are seen by {}",
    "expiry_days": "posts close after {} days",
    "retention_days": "closed posts are deleted after {} days",
    "hold_nonmember_posts": "posts from outside the group wait for approval: {}",
    ROLE_SETTING: "role changes need a second coordinator: {}",
}
_LEVEL_WORDS = {"public": "everyone", "network": "the group's network",
                "members": "members only"}


def setting_words(key: str, value: str) -> str:
    """A changed setting in plain words, for the audit log."""
    if key == "default_visibility":
        value = _LEVEL_WORDS.get(value, value)
    elif key in ("hold_nonmember_posts", ROLE_SETTING):
        value = "yes" if value == "1" else "no"
    return _SETTING_WORDS.get(key, key + ": {}").format(value)


class GroupSettingsService(Service):

    def __init__(self, core: Core, *,
                 post_federation: PostFederation, posts: PostService) -> None:
        super().__init__(core)
        self.post_federation = post_federation
        self.posts = posts

    @staticmethod
    def _require(user: User, permission: Permission = Permission.GROUP_SETTINGS) -> None:
        if not user.may(permission):
            raise Forbidden("Only coordinators can change the group's settings.")

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
            raise Invalid("Use lowercase letters, digits and dashes for the short name.",
                          field="slug")
        label = clean_text(label, field="label", max_len=128, required=True)
        if slug == "other" and not active:
            raise Invalid("\"Other\" is where posts without a category go: it stays.",
                          field="slug")
        async with self.db.write() as conn:
            before = {s: (lbl, on) for s, lbl, on in await self._categories(conn)}.get(slug)
            await posts_repo.upsert_category(conn, slug, label, active)
            if before != (label, active):
                what = ("added the category" if before is None else
                        "showed the category" if active and not before[1] else
                        "hid the category" if not active and before[1] else
                        "renamed the category")
                await record(conn, user, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id="categories", summary=f"{what} \"{label}\" ({slug})")

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
            raise Invalid(f"Write each line as a short name, a colon and words: "
                          f"“food: tortillas, masa” (not “{bad[0][:60]}”).", field="keywords")
        async with self.db.write() as conn:
            known = {slug for slug, _, _ in await self._categories(conn)}
            unknown = sorted(set(parsed) - known)
            if unknown:
                raise Invalid(f"There is no category with the short name {unknown[0]}.",
                              field="keywords")
            value = format_keywords(parsed)
            before = (await posts_repo.settings(conn)).get(CATEGORY_KEYWORDS, "")
            await posts_repo.set_setting(conn, CATEGORY_KEYWORDS, value)
            if before != value:
                await record(conn, user, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id=CATEGORY_KEYWORDS,
                             summary="changed the words that suggest a category: "
                                     + ("; ".join(value.splitlines()) or "none"))

    async def set_areas(self, user: User, items: list[tuple[str, str]]) -> None:
        self._require(user)
        clean: list[tuple[str, str]] = []
        for slug, label in items:
            if not _SLUG.fullmatch(slug or ""):
                raise Invalid(f"Bad short name for a neighborhood: {slug!r}.", field="areas")
            clean.append((slug, clean_text(label, field="label", max_len=128, required=True)))
        async with self.db.write() as conn:
            before = await posts_repo.area_list(conn)
            await posts_repo.set_areas(conn, clean)
            if before != clean:
                names = ", ".join(label for _, label in clean) or "none"
                await record(conn, user, AuditAction.SETTING_CHANGED, target_kind="setting",
                             target_id="areas",
                             summary=f"changed the neighborhoods people choose from: {names}")

    async def update(self, user: User, values: Mapping[str, Any]) -> GroupPolicy:
        self._require(user)
        allowed = {"default_visibility", "expiry_days", "retention_days",
                   "hold_nonmember_posts", ROLE_SETTING}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise Invalid(f"Unknown setting: {unknown[0]}.", field=unknown[0])
        out: dict[str, str] = {}
        if "default_visibility" in values:
            level = parse_enum(Visibility, values["default_visibility"],
                               field="default_visibility")
            if level is Visibility.DIRECT:
                raise Invalid("A direct post needs named people, so it cannot be the default.",
                              field="default_visibility")
            out["default_visibility"] = level.value
        for key, low, high in (("expiry_days", 1, 365), ("retention_days", 0, 365)):
            if key in values:
                try:
                    n = int(values[key])
                except (TypeError, ValueError) as exc:
                    raise Invalid(f"{key} must be a whole number of days.", field=key) from exc
                if not low <= n <= high:
                    raise Invalid(f"{key} must be between {low} and {high}.", field=key)
                out[key] = str(n)
        for key in ("hold_nonmember_posts", ROLE_SETTING):
            if key in values:
                out[key] = "1" if values[key] in (True, "1", "true", "yes", "on") else "0"
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
                             summary="changed the group's settings: " + "; ".join(changed))
            return await self.posts._policy(conn)

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
                raise NotFound("No post waiting for approval with that number.")
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
                         summary=(f"approved {post.kind.value} #{post_id} from outside the group"
                                  if approve else f"turned away {post.kind.value} #{post_id} "
                                  "from outside the group"))
