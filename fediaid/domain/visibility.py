"""Who may see what: the single rule every path (page, JSON API, client API, ActivityPub
fetch, delivery, search, statistics, export) asks before showing a post.

Levels (MISSION.md, issue "Offers and needs"):
- public: anyone.
- network: local members, and members of the groups this group is linked with (issue 12:
  an active link, fediaid/services/links.py). A fediaid server hosts one group, so a
  remote requester is taken as a member of a linked group when its server is that group's
  server (``Viewer.in_network``): a signed fetch by any account on that server, or a
  delivery to its inbox. A plain follower of the group is not in the network.
- members: local members only; never federated.
- direct: the people named, and the author.
A post held for approval, or hidden by a coordinator (``Post.hidden``, ``Status.hidden``;
fediaid/services/reports.py), is seen only by its author and the coordinators. Nobody else ever
learns who really wrote an anonymous or proxy post: that is a separate rule
(``can_see_creator``).

Blocks and mutes (fediaid/services/blocks.py) are part of the viewer: the service that
builds a ``Viewer`` loads them once. An account that blocks the viewer is never shown to it
(its statuses, offers and needs: ``can_view``, ``can_view_status``; coordinators still see
the group's posts, which they moderate). What the viewer blocked or muted, and accounts on
domains it blocked, are left out of every list (timelines, threads, search, notifications,
streams, offers and needs: ``shown_in_lists``, ``notification_shown``) but stay reachable by
a direct look-up, as in Mastodon. Blocks apply to the account the world sees: an anonymous
or proxy post is the group's, so a block never tells who asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from fediaid.domain.federation import matching_rule
from fediaid.domain.posts import Post, Visibility
from fediaid.domain.statuses import Level, Status


@dataclass(frozen=True)
class Viewer:
    actor_uri: str | None = None  # None: not identified (a browser, an unsigned fetch)
    user_id: int | None = None  # a local account
    coordinator: bool = False
    # The requester's server is the server of a group linked with this one (active link):
    # its accounts are that group's members (docs/network.md, the trust this implies).
    in_network: bool = False
    # Actor URIs this viewer follows (accepted): for remote followers-only statuses.
    following: frozenset[str] = frozenset()
    following_ids: frozenset[int] = frozenset()  # the same accounts by id (home timeline)
    # Blocks and mutes, as actor URIs (fediaid/services/blocks.py loads them):
    blocking: frozenset[str] = frozenset()  # accounts the viewer blocks
    blocked_by: frozenset[str] = frozenset()  # accounts that block the viewer (or its server)
    muting: frozenset[str] = frozenset()  # accounts the viewer muted (timelines)
    muting_notifications: frozenset[str] = frozenset()  # ... and their notifications
    domain_blocking: frozenset[str] = frozenset()  # the viewer's own domain blocks

    @property
    def member(self) -> bool:
        return self.user_id is not None


ANONYMOUS = Viewer()


def is_author(viewer: Viewer, post: Post) -> bool:
    if viewer.user_id is not None and viewer.user_id == post.creator_user_id:
        return True
    return viewer.actor_uri is not None and viewer.actor_uri == post.author_uri and (
        not post.anonymous and not post.proxy
    )


def blocks_between(viewer: Viewer, actor_uri: str | None) -> bool:
    """A block either way between the viewer and ``actor_uri``, or the viewer's own block
    of its domain."""
    if not actor_uri or actor_uri == viewer.actor_uri:
        return False
    return (actor_uri in viewer.blocking or actor_uri in viewer.blocked_by
            or (bool(viewer.domain_blocking)
                and matching_rule(viewer.domain_blocking, actor_uri) is not None))


def hidden_in_lists(viewer: Viewer, actor_uri: str | None) -> bool:
    """Whether what ``actor_uri`` wrote or boosted is left out of the viewer's lists."""
    return blocks_between(viewer, actor_uri) or (
        actor_uri is not None and actor_uri in viewer.muting)


def can_view(viewer: Viewer, post: Post) -> bool:
    if is_author(viewer, post):
        return True
    if post.author_uri in viewer.blocked_by and not viewer.coordinator:
        return False
    if post.held or post.hidden:
        return viewer.coordinator
    level = post.visibility
    if level is Visibility.PUBLIC:
        return True
    if level is Visibility.NETWORK:
        return viewer.member or viewer.in_network
    if level is Visibility.MEMBERS:
        return viewer.member
    return viewer.actor_uri is not None and viewer.actor_uri in post.recipients


def can_see_creator(viewer: Viewer, post: Post) -> bool:
    """Who asked, behind an anonymous or proxy post: coordinators and the asker only."""
    if not (post.anonymous or post.proxy):
        return can_view(viewer, post)
    return viewer.coordinator or (viewer.user_id is not None
                                  and viewer.user_id == post.creator_user_id)


def federates(post: Post) -> bool:
    """Whether the post leaves this instance at all."""
    return (post.local and not post.held and not post.hidden
            and post.visibility is not Visibility.MEMBERS)


def can_view_status(viewer: Viewer, status: Status, *, post: Post | None = None,
                    boosted: Status | None = None, boosted_post: Post | None = None) -> bool:
    """The same rule for statuses in the Mastodon client API: an offer or need is decided by
    its post (``can_view``); a boost by the boosted status; a note by its level."""
    if status.post_id is not None:
        return post is not None and can_view(viewer, post)
    if status.reblog_of_id is not None:
        return (status.account_uri not in viewer.blocked_by
                and boosted is not None and boosted.reblog_of_id is None
                and can_view_status(viewer, boosted, post=boosted_post))
    if viewer.user_id is not None and viewer.user_id == status.user_id:
        return True
    if viewer.actor_uri is not None and viewer.actor_uri == status.account_uri:
        return True
    if status.account_uri in viewer.blocked_by:
        return False
    if status.hidden:
        return viewer.coordinator
    level = status.level
    if level is Level.PUBLIC:
        return True
    if level is Level.NETWORK:
        return (viewer.member or viewer.in_network
                or viewer.actor_uri in status.recipients)
    if level is Level.MEMBERS:
        return viewer.member
    if level is Level.FOLLOWERS:
        return (viewer.actor_uri in status.recipients
                or status.account_uri in viewer.following)
    return viewer.actor_uri is not None and viewer.actor_uri in status.recipients


def shown_in_lists(viewer: Viewer, status: Status, *, boosted: Status | None = None
                   ) -> bool:
    """After ``can_view_status``: whether a status belongs in the viewer's timelines,
    threads, search results and streams. Left out: statuses and boosts by accounts the
    viewer blocked or muted (or on a domain it blocked), boosts of theirs, and statuses
    that mention an account it blocked."""
    if viewer.user_id is not None and viewer.user_id == status.user_id:
        return True
    if hidden_in_lists(viewer, status.account_uri):
        return False
    if boosted is not None and hidden_in_lists(viewer, boosted.account_uri):
        return False
    named = boosted.recipients if boosted is not None else status.recipients
    return not (viewer.blocking and any(uri in viewer.blocking for uri in named))


def notification_shown(viewer: Viewer, from_uri: str | None) -> bool:
    """Notifications from an account blocked either way (or on a domain the viewer
    blocked), or muted with its notifications, are not shown."""
    return not (blocks_between(viewer, from_uri)
                or (from_uri is not None and from_uri in viewer.muting_notifications))


def post_in_lists(viewer: Viewer, post: Post) -> bool:
    """Offers and needs in lists (the web pages, the JSON API, search): those the viewer
    may see, less those of accounts it blocked or muted (the account the world sees)."""
    return can_view(viewer, post) and (is_author(viewer, post)
                                       or not hidden_in_lists(viewer, post.author_uri))


@dataclass(frozen=True)
class PlainObject:
    """A plain object kept only in ``objects`` (the group's announcements): whether it is
    public is its own current state."""

    public: bool


def can_view_activity(viewer: Viewer, *, addressed_publicly: bool, names_object: bool,
                      about: Post | Status | PlainObject | None,
                      post_of_status: Post | None = None) -> bool:
    """Whether a stored activity (an outbox item, ``/activities/{id}``) may be shown.

    The activity follows its object's *current* state, never what was true when it was sent:
    the Create, Update or Announce of an object that is gone (``about`` None: deleted, expired
    by retention) is not shown, nor that of an object narrowed since (members-only, network,
    held). Only activities that were addressed to everyone are served at all; activities that
    name no object (a profile Update, a Delete) are shown by their addressing alone.
    """
    if not addressed_publicly:
        return False
    if not names_object:
        return True
    if isinstance(about, Post):
        return (not about.held and not about.hidden
                and about.visibility is not Visibility.MEMBERS and can_view(viewer, about))
    if isinstance(about, Status):
        return not about.hidden and about.level is not Level.MEMBERS and can_view_status(
            viewer, about, post=post_of_status)
    if isinstance(about, PlainObject):
        return about.public
    return False
