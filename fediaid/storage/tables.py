"""Table definitions (SQLAlchemy Core). Alembic migrations are written against these.

Bump ``SCHEMA_HEAD`` with every new migration: ``fediaid serve`` compares it with the
database's ``alembic_version`` and only imports Alembic when they differ (start-up time and
idle memory; see docs/architecture.md).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from fediaid.storage.types import BigId, UTCDateTime

SCHEMA_HEAD = "0030"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

URL = String(2048)

actors = Table(
    "actors",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("uri", URL, nullable=False, unique=True),
    Column("type", String(32), nullable=False),
    Column("username", String(255)),
    Column("domain", String(255), nullable=False),
    Column("local", Boolean, nullable=False, default=False),
    Column("name", String(512)),
    Column("summary", Text),
    Column("inbox", URL),
    Column("shared_inbox", URL),
    Column("outbox", URL),
    Column("followers_url", URL),
    Column("following_url", URL),
    Column("url", URL),
    Column("key_id", URL, unique=True),
    Column("public_key_pem", Text),
    Column("icon_url", URL),  # the avatar
    Column("header_url", URL),  # the profile header image
    Column("manually_approves_followers", Boolean, nullable=False, default=False),
    Column("fetched_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("domain", "username", name="uq_actors_domain_username"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

# Private keys live only here; they are never serialised, logged or exported.
actor_keys = Table(
    "actor_keys",
    metadata,
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True),
    Column("private_key_pem", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Keys of the instance that belong to no actor: ``vapid`` (Web Push, RFC 8292: an ECDSA
# P-256 key made at first need, fediaid/services/push.py). Like ``actor_keys``: never
# serialised, logged or exported.
instance_keys = Table(
    "instance_keys",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("private_key_pem", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False,
           unique=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255)),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    # A helper's own limit on how many responses they take on per week (None: no limit).
    Column("weekly_response_cap", SmallInteger),
    # Limited by a coordinator (fediaid/services/reports.py): new posts are members-only.
    Column("limited", Boolean, nullable=False, default=False),
    # The member's own language and time zone for pages (None: the browser's, the group's).
    Column("language", String(16)),
    Column("time_zone", String(64)),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

# One-time login links (printed by `fediaid init` / `admin login-link`) and web sessions:
# only a SHA-256 of the secret is stored.
login_links = Table(
    "login_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# OAuth client applications (Mastodon client API, ``POST /api/v1/apps``).
oauth_apps = Table(
    "oauth_apps",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("client_secret_hash", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("redirect_uris", Text, nullable=False),  # one per line
    Column("scopes", String(1024), nullable=False),
    Column("website", String(2048)),
    Column("created_at", UTCDateTime, nullable=False),
)

# Authorization codes (stored hashed), valid for a few minutes and used once.
oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("app_id", BigId, ForeignKey("oauth_apps.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", String(2048), nullable=False),
    Column("scopes", String(1024), nullable=False),
    Column("code_challenge", String(128)),
    Column("code_challenge_method", String(16)),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    # NULL: an app-only token (OAuth client_credentials grant), acting for no user.
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE")),
    Column("scopes", String(1024), nullable=False),
    Column("name", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("app_id", BigId, ForeignKey("oauth_apps.id", ondelete="CASCADE")),
)

# Web Push subscriptions of the Mastodon client API (fediaid/services/push.py): one per
# access token (Mastodon's rule), gone with the token (revoked: deleted by the revoking
# statement; deleted: by the foreign key) and with the account. ``access_token_sealed`` is
# the token itself, AES-GCM sealed with a key derived from the instance secret: Mastodon's
# push payload carries it (apps match a push to one of their accounts by it), while
# ``access_tokens`` keeps only a digest. ``alerts``: the enabled alert types, comma-separated.
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("token_hash", String(64),
           ForeignKey("access_tokens.token_hash", ondelete="CASCADE"), nullable=False,
           unique=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("endpoint", URL, nullable=False),
    Column("key_p256dh", String(128), nullable=False),  # base64url, no padding
    Column("key_auth", String(64), nullable=False),
    Column("standard", Boolean, nullable=False, default=False),
    Column("alerts", String(255), nullable=False, default=""),
    Column("policy", String(16), nullable=False, default="all"),
    Column("access_token_sealed", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_push_subscriptions_user", "user_id"),
    sqlite_autoincrement=True,
)

follows = Table(
    "follows",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("follower_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("followed_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("uri", URL, nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("accepted_at", UTCDateTime),
    UniqueConstraint("follower_id", "followed_id", name="uq_follows_pair"),
    Index("ix_follows_followed_state", "followed_id", "state"),
)

# Activities this instance has published (its outboxes). Deliveries point here.
activities = Table(
    "activities",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("uri", URL, nullable=False, unique=True),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("object_uri", URL),
    Column("public", Boolean, nullable=False, default=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_activities_object_uri", "object_uri"),
    Index("ix_activities_actor_created", "actor_id", "created_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("activity_id", BigId, ForeignKey("activities.id", ondelete="CASCADE"),
           nullable=False),
    Column("inbox_url", URL, nullable=False),
    Column("domain", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("leased_by", String(64)),
    Column("last_status", SmallInteger),
    Column("last_error", String(1024)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    UniqueConstraint("activity_id", "inbox_url", name="uq_deliveries_activity_inbox"),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
    Index("ix_deliveries_domain_state", "domain", "state"),
    # Ids are never reused (SQLite would give a deleted newest row's id to the next one):
    # the delivery worker holds claimed rows by id (migration 0014).
    sqlite_autoincrement=True,
)

# Activities received in inboxes: stored durably before 202, processed in the background.
inbox_items = Table(
    "inbox_items",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("activity_uri", URL, nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("actor_uri", URL, nullable=False),
    Column("signer_key_id", URL, nullable=False),
    Column("payload", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("leased_by", String(64)),
    Column("last_error", String(1024)),
    Column("processed_at", UTCDateTime),
    Index("ix_inbox_items_due", "state", "next_attempt_at"),
    sqlite_autoincrement=True,  # ids never reused (migration 0014)
)

# Objects (Notes, Proposals, ...) from anywhere: created here or received.
objects = Table(
    "objects",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("uri", URL, nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE")),
    Column("attributed_to", URL),
    Column("in_reply_to", URL),
    Column("audience", URL),
    Column("public", Boolean, nullable=False, default=False),
    Column("local", Boolean, nullable=False, default=False),
    Column("content", Text),
    Column("payload", Text, nullable=False),
    Column("published", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_objects_actor", "actor_id"),
    Index("ix_objects_in_reply_to", "in_reply_to"),
)

# Announces (boosts) received, kept so the next features can show who shared what.
shares = Table(
    "shares",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("uri", URL, nullable=False, unique=True),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("object_uri", URL, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_shares_object", "object_uri"),
)

domains = Table(
    "domains",
    metadata,
    Column("domain", String(255), primary_key=True),
    Column("blocked", Boolean, nullable=False, default=False),  # suspended: nothing in or out
    Column("block_reason", String(1024)),
    # Federation policy (fediaid/domain/federation.py): content shown only to followers of
    # its accounts; on the allow-list (which counts when the group is in allow-list mode).
    Column("silenced", Boolean, nullable=False, default=False),
    Column("allowed", Boolean, nullable=False, default=False),
    # Distinct UTC days (YYYY-MM-DD, comma separated) on which deliveries failed since the
    # last success (Mastodon's DeliveryFailureTracker).
    Column("failure_days", String(1024), nullable=False, default=""),
    Column("unavailable", Boolean, nullable=False, default=False),
    Column("last_success_at", UTCDateTime),
    Column("last_failure_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    # The rule as coordinators see and share it (fediaid/services/blocklists.py):
    # ``block_reason`` is the private note for any rule; ``public_comment`` is what the
    # published lists say; ``obfuscate`` masks the name in the public list (Mastodon's);
    # ``rule_at``: when the rule was last set; ``source_id``: the subscribed blocklist it
    # was taken from (a retraction there is proposed as lifting it here).
    Column("public_comment", String(1024)),
    Column("obfuscate", Boolean, nullable=False, default=False),
    Column("rule_at", UTCDateTime),
    Column("source_id", BigId),
)

# Blocklists of linked groups we subscribe to (fetched signed on a schedule), and the
# differences against our rules waiting for a coordinator (nothing applies by itself).
blocklist_subscriptions = Table(
    "blocklist_subscriptions",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("url", URL, nullable=False, unique=True),
    Column("publisher", URL),  # the actor that publishes it (attributedTo)
    Column("created_at", UTCDateTime, nullable=False),
    Column("fetched_at", UTCDateTime),
    Column("last_error", String(1024)),
)

blocklist_proposals = Table(
    "blocklist_proposals",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("subscription_id", BigId,
           ForeignKey("blocklist_subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("domain", String(255), nullable=False),
    Column("change", String(16), nullable=False),  # add, change, lift (domain.blocklists)
    Column("severity", String(16), nullable=False),  # what the rule would become
    Column("comment", String(1024), nullable=False, default=""),  # the publisher's reason
    Column("dismissed", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("subscription_id", "domain", name="uq_blocklist_proposals_sub_domain"),
)



# -- offers and needs ------------------------------------------------------------------

group_settings = Table(
    "group_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(1024), nullable=False),
)

categories = Table(
    "categories",
    metadata,
    Column("slug", String(64), primary_key=True),
    Column("label", String(128), nullable=False),
    Column("position", SmallInteger, nullable=False, default=0),
    Column("active", Boolean, nullable=False, default=True),
)

areas = Table(
    "areas",
    metadata,
    Column("slug", String(64), primary_key=True),
    Column("label", String(128), nullable=False),
    Column("position", SmallInteger, nullable=False, default=0),
)

posts = Table(
    "posts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("uri", URL, nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("title", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("category", String(64), nullable=False),
    Column("quantity", Numeric(12, 3)),
    Column("unit", String(32), nullable=False, default="one"),
    Column("area", String(64)),
    Column("starts_at", UTCDateTime),
    Column("ends_at", UTCDateTime),
    Column("urgency", String(8), nullable=False),
    Column("visibility", String(8), nullable=False),
    Column("state", String(20), nullable=False),
    Column("local", Boolean, nullable=False),
    # The actor the world sees as author (a member, or the group for anonymous/proxy posts).
    Column("author_actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"),
           nullable=False),
    # The local account that really posted it: never shown beyond the rules in
    # fediaid/domain/visibility.py.
    Column("creator_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("anonymous", Boolean, nullable=False, default=False),
    Column("proxy", Boolean, nullable=False, default=False),
    Column("held", Boolean, nullable=False, default=False),
    # Hidden by a coordinator (fediaid/services/reports.py): kept, seen only by coordinators
    # and its author (fediaid/domain/visibility.py); the reason is in ``takedowns``.
    Column("hidden", Boolean, nullable=False, default=False),
    # A remote account's post that mentioned the group with #need/#offer: the group shares
    # (announces) it once accepted.
    Column("via_group", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("delete_after", UTCDateTime),
    Index("ix_posts_state_kind", "state", "kind"),
    Index("ix_posts_author", "author_actor_id"),
    Index("ix_posts_expires", "expires_at"),
    Index("ix_posts_delete_after", "delete_after"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

post_recipients = Table(
    "post_recipients",
    metadata,
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("actor_uri", URL, primary_key=True),
)

# The needs picture's counts of deleted posts (fediaid/services/retention.py
# ``keep_counts``, in the deleting transaction; docs/needs-picture.md): how many posts, per
# month created (UTC, "2026-03"), kind, category, area ("" for none) and outcome (the
# closed state), and for needs how long they took, in steps (``picture.TIME_STEPS``).
# Nothing that names a post or a person: no id, title, author or exact time.
picture_counts = Table(
    "picture_counts",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("category", String(64), primary_key=True),
    Column("area", String(64), primary_key=True),
    Column("outcome", String(20), primary_key=True),
    Column("posts", Integer, nullable=False),
)

picture_times = Table(
    "picture_times",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("category", String(64), primary_key=True),
    Column("measure", String(16), primary_key=True),  # "met" or "first_answer"
    Column("within_seconds", Integer, primary_key=True),  # the step
    Column("needs", Integer, nullable=False),
)

# One row (id 1): a number that grows in every transaction that changes anything the
# needs picture counts or names (posts, responses, picture_counts, picture_times,
# categories, areas), written by triggers (migration 0029), so a process that keeps a
# picture knows whether it still holds by reading one row instead of scanning the posts
# (fediaid/services/needs_picture.py). Derived: its value means nothing in another
# database (``fediaid move-to-postgres`` neither copies nor compares it).
picture_changes = Table(
    "picture_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("changes", BigInteger, nullable=False),
    info={"derived": True},
)

intake_records = Table(
    "intake_records",
    metadata,
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("callback", String(64)),
    Column("notes", Text),
    Column("created_by_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    # "sms": the need or offer came by text (``callback`` is then the sender's number, E.164).
    Column("channel", String(8)),
    # The neighbor agreed (a YES to our text) to be texted a helper's chosen contact.
    Column("consent", Boolean, nullable=False, default=False, server_default=false()),
    # When a coordinator last told the neighbor about the answers (the hotline's callbacks).
    Column("told_at", UTCDateTime),
)

responses = Table(
    "responses",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("uri", URL, nullable=False, unique=True),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("responder_actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"),
           nullable=False),
    Column("responder_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("message", Text, nullable=False, default=""),
    Column("quantity", Numeric(12, 3)),
    Column("state", String(12), nullable=False),
    Column("note", String(512)),
    Column("agreement_uri", URL),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_responses_post", "post_id"),
    Index("ix_responses_responder_created", "responder_actor_id", "created_at"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("response_id", BigId, ForeignKey("responses.id", ondelete="CASCADE"),
           nullable=False, unique=True),
    Column("helper_actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"),
           nullable=False),
    Column("other_actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"),
           nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("reopened_at", UTCDateTime),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("uri", URL, nullable=False, unique=True),
    Column("conversation_id", BigId, ForeignKey("conversations.id", ondelete="CASCADE"),
           nullable=False),
    Column("sender_actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"),
           nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_messages_conversation", "conversation_id", "id"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)


# -- the Mastodon client API's view: statuses, reactions, notifications, media ----------

# Everything a Mastodon app shows as a status: a member's or remote account's note, an
# offer or need (``post_id``), a boost (``reblog_of_id``). The id is the status id clients
# see; ids grow with insertion, so they order timelines. Who may see a row is decided by
# fediaid/domain/visibility.py (``can_view`` through the post for offers and needs,
# ``can_view_status`` for the rest).
statuses = Table(
    "statuses",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("uri", URL, nullable=False, unique=True),
    Column("account_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    # The local account that wrote it (None for remote statuses).
    Column("user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), unique=True),
    Column("reblog_of_id", BigId, ForeignKey("statuses.id", ondelete="CASCADE")),
    Column("in_reply_to_id", BigId, ForeignKey("statuses.id", ondelete="SET NULL")),
    Column("in_reply_to_uri", URL),
    Column("in_reply_to_account_id", BigId, ForeignKey("actors.id", ondelete="SET NULL")),
    # The thread (ActivityPub ``context``/``conversation``, or the root status's URI).
    Column("conversation", URL),
    # fediaid level: public | network | members | direct, or ``followers`` (a remote
    # account's followers-only status).
    Column("visibility", String(10), nullable=False),
    # False for Mastodon's "unlisted": public, but kept out of public and tag timelines.
    Column("listed", Boolean, nullable=False, default=True),
    Column("local", Boolean, nullable=False),
    Column("content", Text, nullable=False, default=""),  # sanitised HTML
    Column("text", Text),  # what a local author typed (for delete-and-redraft)
    Column("spoiler_text", String(512), nullable=False, default=""),
    Column("sensitive", Boolean, nullable=False, default=False),
    Column("language", String(16)),
    Column("url", URL),
    Column("created_at", UTCDateTime, nullable=False),
    Column("edited_at", UTCDateTime),
    # Hidden by a coordinator, as ``posts.hidden`` (notes; an offer or need follows its post).
    Column("hidden", Boolean, nullable=False, default=False),
    Index("ix_statuses_account_id", "account_id", "id"),
    Index("ix_statuses_reblog_of", "reblog_of_id", "account_id"),  # 0028: + account_id
    Index("ix_statuses_in_reply_to", "in_reply_to_id"),
    Index("ix_statuses_conversation", "conversation"),
    Index("ix_statuses_public", "visibility", "listed", "id"),
    # Counting accounts' public statuses (their profiles' statuses_count) reads only this
    # index; offers and needs posted here, newest first, for every member's home timeline.
    # Both partial, on exactly the conditions of the queries that use them
    # (storage/statuses.COUNTED, LOCAL_POST), so no other query is planned on them (SQLite
    # would pick the first, covering, for an account's timeline and sort all its
    # statuses). Migration 0028.
    Index("ix_statuses_public_authors", "account_id", "visibility", "hidden", "id", "post_id",
          sqlite_where=text("visibility = 'public' AND hidden IS 0"),
          postgresql_where=text("visibility = 'public' AND hidden IS false")),
    Index("ix_statuses_local_posts", "id",
          sqlite_where=text("post_id IS NOT NULL AND local IS 1"),
          postgresql_where=text("post_id IS NOT NULL AND local IS true")),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

# The people a status is addressed to (direct) or mentions.
status_recipients = Table(
    "status_recipients",
    metadata,
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="CASCADE"),
           primary_key=True),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True),
    Column("mention", Boolean, nullable=False, default=True),
    Index("ix_status_recipients_actor", "actor_id", "status_id"),
)

status_tags = Table(
    "status_tags",
    metadata,
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="CASCADE"),
           primary_key=True),
    Column("tag", String(128), primary_key=True),  # lower case, without '#'
    Index("ix_status_tags_tag", "tag", "status_id"),
)

favourites = Table(
    "favourites",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="CASCADE"), nullable=False),
    Column("uri", URL, nullable=False, unique=True),  # the Like activity
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("actor_id", "status_id", name="uq_favourites_pair"),
    Index("ix_favourites_status", "status_id"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

bookmarks = Table(
    "bookmarks",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("user_id", "status_id", name="uq_bookmarks_pair"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # mention | status | reblog | follow | follow_request | favourite | update
    Column("type", String(32), nullable=False),
    Column("from_actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"),
           nullable=False),
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="CASCADE")),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_notifications_user", "user_id", "id"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

# The durable Web Push queue: one row per notification and subscription, written in the
# transaction that created the notification (storage/notifications.add). A row exists while
# the push is still to be sent: sent, dropped or given up, it is deleted (a member's
# notifications are kept in ``notifications``, not here).
push_messages = Table(
    "push_messages",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("subscription_id", BigId, ForeignKey("push_subscriptions.id", ondelete="CASCADE"),
           nullable=False),
    Column("notification_id", BigId, ForeignKey("notifications.id", ondelete="CASCADE"),
           nullable=False),
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("leased_by", String(64)),
    Column("last_status", SmallInteger),
    Column("last_error", String(1024)),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("subscription_id", "notification_id", name="uq_push_messages_pair"),
    Index("ix_push_messages_due", "next_attempt_at"),
    sqlite_autoincrement=True,  # ids never reused: a worker holds claimed rows by id
)

media_attachments = Table(
    "media_attachments",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE")),
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="CASCADE")),
    Column("type", String(16), nullable=False),  # image (the only kind we accept)
    Column("file_name", String(255)),  # local files, under DIR/media
    Column("remote_url", URL),  # remote statuses' attachments (not copied)
    Column("content_type", String(64), nullable=False),
    Column("description", Text),
    Column("width", Integer),
    Column("height", Integer),
    Column("size", Integer),
    Column("blurhash", String(64)),
    # Mastodon's ``focus``: the point to keep in view when cropping, both in [-1, 1].
    Column("focus_x", Float),
    Column("focus_y", Float),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_media_attachments_status", "status_id"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

markers = Table(
    "markers",
    metadata,
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("timeline", String(16), primary_key=True),  # home | notifications
    Column("last_read_id", String(32), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("updated_at", UTCDateTime, nullable=False),
)

# ``Idempotency-Key`` of status creation: the same key from the same account within a day
# gives back the first status instead of posting twice.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="CASCADE"),
           nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Per-account state of a direct-message thread (Mastodon's conversations): read or not,
# removed from the list or not.
conversation_marks = Table(
    "conversation_marks",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("conversation", URL, nullable=False),
    Column("unread", Boolean, nullable=False, default=True),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("last_status_id", BigId, ForeignKey("statuses.id", ondelete="SET NULL")),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("user_id", "conversation", name="uq_conversation_marks_pair"),
)

# Earlier versions of edited statuses (Mastodon's edit history): one row per version that
# was replaced, with the time it was current from.
status_edits = Table(
    "status_edits",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="CASCADE"), nullable=False),
    Column("content", Text, nullable=False),
    Column("spoiler_text", String(512), nullable=False, default=""),
    Column("sensitive", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_status_edits_status", "status_id", "id"),
)

# Reports (fediaid/services/reports.py): by a member (``reporter_user_id``) or arriving as a
# ``Flag`` from another server (``reporter_domain``; the sending actor is kept only to find
# repeats, never shown). The reported account is ``target_actor_id``; the posts or statuses
# named are in ``report_items``.
reports = Table(
    "reports",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("reporter_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("reporter_actor_id", BigId, ForeignKey("actors.id", ondelete="SET NULL")),
    Column("reporter_domain", String(255)),
    Column("activity_uri", URL, unique=True),  # a received Flag's id
    Column("target_actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"),
           nullable=False),
    Column("category", String(16), nullable=False),  # spam | legal | violation | other
    Column("comment", Text, nullable=False, default=""),
    Column("rule_ids", String(255), nullable=False, default=""),
    Column("forward", Boolean, nullable=False, default=False),  # the reporter asked
    Column("forwarded_at", UTCDateTime),
    Column("state", String(10), nullable=False),  # open | resolved
    Column("action", String(24)),  # what the coordinator did (fediaid/domain/reports.py)
    Column("outcome", Text),  # the coordinator's words to the reporter
    Column("resolved_by_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Index("ix_reports_state", "state", "id"),
    Index("ix_reports_reporter", "reporter_user_id", "id"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

report_items = Table(
    "report_items",
    metadata,
    Column("report_id", BigId, ForeignKey("reports.id", ondelete="CASCADE"),
           primary_key=True),
    Column("object_uri", URL, primary_key=True),
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="SET NULL")),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="SET NULL")),
)

# A coordinator hid or removed a post or note: what and why, for its author. Nothing of
# the content is kept (a removed post may have held a street address): only its kind and
# when it was posted.
takedowns = Table(
    "takedowns",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("object_uri", URL, nullable=False),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="SET NULL")),
    Column("status_id", BigId, ForeignKey("statuses.id", ondelete="SET NULL")),
    Column("author_user_id", BigId, ForeignKey("users.id", ondelete="CASCADE")),
    Column("kind", String(8), nullable=False),  # need | offer | note
    Column("posted_at", UTCDateTime),
    Column("action", String(8), nullable=False),  # hide | remove
    Column("reason", Text, nullable=False),
    Column("by_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("report_id", BigId, ForeignKey("reports.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_takedowns_author", "author_user_id", "id"),
    Index("ix_takedowns_object", "object_uri"),
)

# Remote accounts a coordinator suspended: their activities are ignored at the inbox.
# Kept by URI, so it holds even if the account is deleted and fetched again.
suspended_actors = Table(
    "suspended_actors",
    metadata,
    Column("uri", URL, primary_key=True),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

# Login attempts per account name and per address (fediaid/domain/login_limits.py): shared
# by every process. The key is an HMAC of "account:<name>" or "address:<ip>" with the
# instance secret, so the table keeps neither what was typed (a password in the name field)
# nor where from.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_login_attempts_expires", "expires_at"),
)

# Two-factor login with TOTP (fediaid/services/two_factor.py): the secret encrypted with a
# key derived from the instance secret; ``confirmed_at`` is None while enrolment waits for
# a first code; ``last_step`` is the last time step used (a code is good once).
two_factor = Table(
    "two_factor",
    metadata,
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("secret", String(255), nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("last_step", BigId),
)

# Recovery codes, SHA-256 only, each good once.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("used_at", UTCDateTime),
    Index("ix_recovery_codes_user", "user_id"),
)

# A member's (or a remote actor's) blocks of accounts (migration 0011).
account_blocks = Table(
    "account_blocks",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("target_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("uri", URL, nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("actor_id", "target_id", name="uq_account_blocks_pair"),
    Index("ix_account_blocks_target", "target_id"),
)

# A local member's mutes: hidden from timelines (and notifications when ``notifications``),
# until ``expires_at`` (None: for good).
account_mutes = Table(
    "account_mutes",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("target_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("notifications", Boolean, nullable=False, default=True),
    Column("expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("actor_id", "target_id", name="uq_account_mutes_pair"),
)

# A local member's own domain blocks (Mastodon's ``/api/v1/domain_blocks``): hides that
# server's accounts from this member only (the group's policy is ``domains``).
account_domain_blocks = Table(
    "account_domain_blocks",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
    Column("domain", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("actor_id", "domain", name="uq_account_domain_blocks_pair"),
)

# The group's audit log (fediaid/services/audit.py): every coordinator action, appended in
# the action's transaction. Append-only: never updated or deleted by the application, and
# the database refuses it (triggers made by migration 0012). No foreign keys: a row
# outlives what it names. ``actor_user_id`` None: the server operator (command line).
# ``summary`` is what every member reads (private details left out); ``detail`` is for
# coordinators only (e.g. a block's private reason), often empty.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("actor_user_id", BigId),
    Column("actor_label", String(128), nullable=False),  # "coordinator ana", as it was then
    Column("action", String(32), nullable=False),  # fediaid/domain/audit.py
    Column("target_kind", String(16), nullable=False),
    Column("target_id", String(255)),
    Column("summary", String(1024), nullable=False),
    Column("detail", Text),
    # The summary as marked words (JSON, fediaid.i18n.to_json), said in the reader's
    # language; NULL for entries from before migration 0022.
    Column("summary_words", Text),
)

# Role changes waiting for a second coordinator (fediaid/domain/roles.py).
role_proposals = Table(
    "role_proposals",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("old_role", String(16), nullable=False),
    Column("new_role", String(16), nullable=False),
    Column("proposed_by", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("decided_by", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("decided_at", UTCDateTime),
    Index("ix_role_proposals_state", "state", "id"),
)

# -- joining (fediaid/services/joining.py) -----------------------------------------------

# Invitation links made by coordinators: only a SHA-256 of the link's secret is stored.
invitations = Table(
    "invitations",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("note", String(200)),
    Column("max_uses", Integer, nullable=False),
    Column("uses_left", Integer, nullable=False),
    Column("created_by", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

# "Ask to join" from the group's page; what they wrote and how to reach them are for
# coordinators only, and are blanked once a coordinator has decided.
join_requests = Table(
    "join_requests",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("message", Text),
    Column("contact", String(255)),
    Column("state", String(10), nullable=False),  # pending, approved, declined
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_by", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("decided_at", UTCDateTime),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Index("ix_join_requests_state", "state", "id"),
)

# -- e-mail (fediaid/services/email.py, email_settings.py, email_outbox.py) ---------------

# A member's e-mail address and choices: for that member alone (never federated, never
# shown to anyone else, gone with the account, in the member's own export).
email_addresses = Table(
    "email_addresses",
    metadata,
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("address", String(254)),  # confirmed; None until a confirmation link is opened
    Column("confirmed_at", UTCDateTime),
    Column("pending", String(254)),  # typed, waiting for its confirmation link
    Column("language", String(16), nullable=False),
    Column("answers", Boolean, nullable=False, default=True),
    Column("messages", Boolean, nullable=False, default=True),
    Column("digest", String(8), nullable=False, default="off"),
    Column("digest_categories", String(1024), nullable=False, default=""),
    Column("digest_areas", String(1024), nullable=False, default=""),
    Column("digest_until", UTCDateTime),  # the end of the last digest queued
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_email_addresses_address", "address"),
)

# Confirmation links (made when the message is sent): only a SHA-256 of the secret.
email_confirmations = Table(
    "email_confirmations",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("address", String(254), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# The durable e-mail queue. A row says what to send, not the message: it is put into words
# when it is sent (the member's address and language then; login and confirmation links
# made then, so the queue never holds a usable secret). ``to_address`` only for a
# coordinator's test message; ``ref`` is JSON (post, conversation, digest window).
email_outbox = Table(
    "email_outbox",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE")),
    Column("kind", String(16), nullable=False),
    Column("ref", Text),
    Column("to_address", String(254)),
    Column("state", String(16), nullable=False),
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("leased_by", String(64)),
    Column("last_error", String(1024)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index("ix_email_outbox_due", "state", "next_attempt_at"),
    sqlite_autoincrement=True,  # ids never reused: the Message-ID is made from the id
)


# -- text messages and the hotline (fediaid/services/sms*.py, hotline.py; docs/reach.md) -----
# Phone numbers live only in these tables and in ``intake_records.callback``. A texts
# conversation with one number, about one need or offer (``post_id``: it goes with the post)
# or about anything else (``post_id`` NULL: deleted by a coordinator, or after the group's
# retention window without a text).
sms_threads = Table(
    "sms_threads",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("number", String(32), nullable=False),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE")),
    Column("language", String(8), nullable=False),
    Column("unread", Boolean, nullable=False, default=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_sms_threads_number", "number"),
    Index("ix_sms_threads_post", "post_id"),
    sqlite_autoincrement=True,  # ids never reused (migration 0030)
)

# The texts of a conversation, in and out. ``state`` of a text we send: waiting, sent,
# failed, not_sent (the number said STOP, or a limit).
sms_texts = Table(
    "sms_texts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("thread_id", BigId, ForeignKey("sms_threads.id", ondelete="CASCADE"),
           nullable=False),
    Column("direction", String(3), nullable=False),  # "in" or "out"
    Column("body", Text, nullable=False),
    Column("by_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("state", String(12), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_sms_texts_thread", "thread_id", "id"),
)

# The durable SMS queue, both ways: texts that arrived (the webhook stores them and answers at
# once; the worker applies them) and texts to send, with retries. ``ref``: the provider's id
# of an arrived text (a webhook delivered twice is stored once). A finished row keeps no
# number and no body.
sms_queue = Table(
    "sms_queue",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("number", String(32)),
    Column("body", Text),
    Column("ref", String(64), unique=True),
    Column("thread_id", BigId, ForeignKey("sms_threads.id", ondelete="CASCADE")),
    Column("text_id", BigId, ForeignKey("sms_texts.id", ondelete="CASCADE")),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE")),
    Column("state", String(16), nullable=False),
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("leased_by", String(64)),
    Column("last_error", String(1024)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index("ix_sms_queue_due", "state", "next_attempt_at"),
    sqlite_autoincrement=True,
)

# Numbers that said STOP: a keyed digest of the number (domain/sms.opt_out_digest), not the
# number.
sms_opt_outs = Table(
    "sms_opt_outs",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Calls to return, noted by a coordinator on a hotline shift (a voicemail, a missed call).
# Deleted a week after they are returned, or after the group's retention window.
hotline_calls = Table(
    "hotline_calls",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("number", String(40), nullable=False),
    Column("name", String(128), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("kind", String(12), nullable=False),
    Column("created_by_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("returned_at", UTCDateTime),
    Column("returned_by_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
)


# Links with other groups (issue 12; fediaid/domain/links.py): one row per remote Group actor.
# ``our_shares``/``their_shares``: what each side shares over the link, comma-separated.
group_links = Table(
    "group_links",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"), nullable=False,
           unique=True),
    Column("state", String(20), nullable=False),
    Column("our_shares", String(200), nullable=False, default=""),
    Column("their_shares", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The directory of groups (issue 12): what linked groups, and the groups they link to,
# publish about themselves (their ``/directory.json``, checked), replaced by each refresh.
directory_entries = Table(
    "directory_entries",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("actor_uri", URL, nullable=False, unique=True),
    Column("hops", SmallInteger, nullable=False),
    Column("via_uri", URL),
    Column("entry", Text, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
)

# Forwarding unmet needs (issue 12; fediaid/domain/forwarding.py). ``need_forwarding``: the
# asker's (or the recording coordinator's) choice for one of our needs; no row: the group's
# default. ``forwarded_needs``: our needs offered to a linked group (``outgoing``), and the
# needs linked groups offered us (``shown`` to members within the daily cap); one row per
# need, group and direction, so a need forwarded twice is recognised by its id.
need_forwarding = Table(
    "need_forwarding",
    metadata,
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("forward", Boolean, nullable=False),
)

forwarded_needs = Table(
    "forwarded_needs",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("post_id", BigId, ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
    Column("group_actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"),
           nullable=False),
    Column("outgoing", Boolean, nullable=False),
    Column("activity_uri", URL, nullable=False),
    Column("shown", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("post_id", "group_actor_id", "outgoing",
                     name="uq_forwarded_needs_post_group"),
    Index("ix_forwarded_needs_created", "outgoing", "created_at"),
)

# Deletions and edits of statuses, for the streaming poller of every process
# (services/streaming.py): kind "delete" or "update". Purged after an hour. On PostgreSQL an
# insert here (as into statuses and notifications) sends NOTIFY fediaid_stream (migration
# 0024).
stream_events = Table(
    "stream_events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("status_id", BigId, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,  # ids never reused: pollers read the ids above the last seen
)

# The network's picture (issue 12): the needs pictures linked groups publish for us (their
# ``/picture.json``, as fetched), replaced by each refresh.
network_pictures = Table(
    "network_pictures",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("actor_uri", URL, nullable=False, unique=True),
    Column("picture", Text, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
)

# Account alerts between linked groups (issue 12, "Accountability across the network";
# fediaid/domain/alerts.py). Sent: one row per alert this group shared (the account, the
# category, the shared words, the groups told as actor URIs one per line); ``retracted_at``
# once taken back. Received: one row per alert from a linked group, until a retraction
# deletes it (an applied one is kept, marked ``retracted_at``).
alerts_sent = Table(
    "alerts_sent",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("activity_uri", URL, nullable=False, unique=True),
    Column("account_uri", URL, nullable=False, index=True),
    Column("account_handle", String(300), nullable=False, default=""),
    Column("harm", String(20), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("sent_to", Text, nullable=False, default=""),
    Column("by_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retracted_at", UTCDateTime),
)

alerts_received = Table(
    "alerts_received",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("activity_uri", URL, nullable=False, unique=True),
    Column("from_actor_id", BigId, ForeignKey("actors.id", ondelete="CASCADE"),
           nullable=False),
    Column("account_uri", URL, nullable=False),
    Column("account_handle", String(300), nullable=False, default=""),
    Column("harm", String(20), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("state", String(20), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("decided_by_user_id", BigId, ForeignKey("users.id", ondelete="SET NULL")),
    Column("decided_at", UTCDateTime),
    Column("retracted_at", UTCDateTime),
)
