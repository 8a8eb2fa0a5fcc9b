"""Domain errors.

Every error carries a message that is safe to show to the person who caused it (``public``)
and, optionally, a detail for the operator's log (``internal``). No HTTP codes live here: the
HTTP surfaces map these classes to responses in exactly one place (``api/errors.py``).
"""

from __future__ import annotations


class FediaidError(Exception):
    """Base of every error the application raises on purpose."""

    def __init__(self, public: str, *, internal: str | None = None) -> None:
        super().__init__(public)
        self.public = public
        self.internal = internal or public


class NotFound(FediaidError):
    """The thing asked for does not exist (or the asker may not know that it does)."""


class Invalid(FediaidError):
    """Input that breaks a rule. ``field`` names the offending field when there is one."""

    def __init__(self, public: str, *, field: str | None = None, internal: str | None = None):
        super().__init__(public, internal=internal)
        self.field = field


class Unprocessable(Invalid):
    """Well-formed input that fails validation (Mastodon answers these with 422)."""


class RateLimited(FediaidError):
    """Too many requests of this kind; try again later (``retry_after`` seconds, if known)."""

    def __init__(self, public: str, *, retry_after: int | None = None,
                 internal: str | None = None) -> None:
        super().__init__(public, internal=internal)
        self.retry_after = retry_after


class Conflict(FediaidError):
    """The request is valid but clashes with the current state (already exists, wrong state)."""


class Forbidden(FediaidError):
    """The asker is known but not allowed to do this."""


class SecondFactorNeeded(Forbidden):
    """The group requires two-factor login of coordinators, and this one has not set it up
    (pages send them to set it up)."""


class Unauthenticated(FediaidError):
    """The asker could not be identified (no or bad credentials, bad signature)."""


class Blocked(Forbidden):
    """The remote domain or actor is blocked by this instance."""


class TooLarge(Invalid):
    """A request body or remote document is larger than we accept."""


class Unavailable(FediaidError):
    """A dependency (a remote server, the database) did not answer; try again later."""


class ConfigError(FediaidError):
    """The instance's configuration is missing or wrong."""
