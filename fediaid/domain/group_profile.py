"""What a group says about itself: shown on its pages, printed on its flyer, and described to
the fediverse. Contact details here are the group's own (a hotline), never a member's."""

from __future__ import annotations

from dataclasses import dataclass

# Keys in the group's settings (the `settings` table); the description is the Group actor's
# summary.
HOTLINE_NUMBER = "hotline_number"
HOTLINE_HOURS = "hotline_hours"
HOW_TO_JOIN = "how_to_join"
CONTACT = "contact"
PROFILE_KEYS = (HOTLINE_NUMBER, HOTLINE_HOURS, HOW_TO_JOIN, CONTACT)


@dataclass(frozen=True)
class GroupProfile:
    name: str
    description: str = ""
    how_to_join: str = ""
    hotline_number: str = ""
    hotline_hours: str = ""
    contact: str = ""
