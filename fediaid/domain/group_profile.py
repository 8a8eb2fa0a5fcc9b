"""What a group says about itself: shown on its pages, printed on its flyer, and described to
the fediverse. Contact details here are the group's own (a hotline), never a member's."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from fediaid.errors import Invalid
from fediaid.i18n import N_, recognise

# Keys in the group's settings (the `settings` table); the description is the Group actor's
# summary.
HOTLINE_NUMBER = "hotline_number"
HOTLINE_HOURS = "hotline_hours"
HOW_TO_JOIN = "how_to_join"
CONTACT = "contact"
PROFILE_KEYS = (HOTLINE_NUMBER, HOTLINE_HOURS, HOW_TO_JOIN, CONTACT)

# The description a new group starts with (fediaid/services/setup.py): shown in each
# reader's language until a coordinator writes the group's own.
DEFAULT_DESCRIPTION = N_("{group}: neighbors sharing offers and needs.")


def said_description(text: str) -> str:
    """A group's description as marked words when it is still the one it started with."""
    return recognise(text, [DEFAULT_DESCRIPTION])


# Longest accepted text per field (characters). The description is the actor's summary:
# Mastodon keeps profile notes to 500.
MAX_LENGTHS = {"description": 500, HOW_TO_JOIN: 1000, HOTLINE_NUMBER: 40,
               HOTLINE_HOURS: 200, CONTACT: 300}


@dataclass(frozen=True)
class GroupProfile:
    name: str
    description: str = ""
    how_to_join: str = ""
    hotline_number: str = ""  # international form, "+52 55 1234 5678" (normalised on saving)
    hotline_hours: str = ""
    contact: str = ""

    @property
    def hotline_tel(self) -> str:
        """The hotline as a ``tel:`` URI (RFC 3966), "" without one."""
        digits = "".join(c for c in self.hotline_number if c.isdigit() or c == "+")
        return f"tel:{digits}" if digits else ""


def normalise_phone(text: str, region: str) -> str:
    """A phone number as typed ("(201) 555-0123", "55 1234 5678", "+34 612 34 56 78") in
    international form ("+1 201-555-0123"), read in ``region`` (ISO 3166-1 alpha-2) unless it
    starts with +. "" stays "". Not a valid number: ``Invalid`` (field ``hotline_number``)."""
    text = text.strip()
    if not text:
        return ""
    problem = Invalid(N_("This is not a phone number we can read. Write it as you would dial "
                         "it, like (201) 555-0123, or with the country code, like "
                         "+52 55 1234 5678."), field=HOTLINE_NUMBER)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise problem from exc
    if not phonenumbers.is_valid_number(number):
        raise problem
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
