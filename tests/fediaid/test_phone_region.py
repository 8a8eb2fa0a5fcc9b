"""The privacy check reads local phone numbers in the group's region (the group setting
``phone_region``, default the instance's ``phone_region``, else US): a Spanish mobile
written the Spanish way is flagged in a group in Spain and not elsewhere; a Mexico City
number in a group in Mexico and not in Spain."""

from __future__ import annotations

import pytest

from fediaid.domain.privacy import Finding, find_private, known_region
from fediaid.errors import Invalid
from fediaid.services.posts import NeedsConfirmation
from fediaid.services.runtime import Runtime

SPAIN = "Escríbeme al 612 34 56 78 y te lo llevo."
MEXICO = "Llámame al 55-1234-5678 para recogerlo."


def test_local_numbers_are_read_in_the_region() -> None:
    assert find_private(SPAIN, "ES") == [Finding.PHONE]
    assert find_private(SPAIN, "US") == [] and find_private(SPAIN, "MX") == []
    assert find_private(MEXICO, "MX") == [Finding.PHONE]
    assert find_private(MEXICO, "ES") == []
    # An unknown region falls back to US rather than failing.
    assert find_private("Call 201 555 0123", "XX") == [Finding.PHONE]


def test_region_codes() -> None:
    assert known_region(" mx ") == "MX" and known_region("ES") == "ES"
    for bad in ("", "Mexico", "XX", "E", "ESP"):
        assert known_region(bad) is None


async def test_the_group_setting_decides(runtime: Runtime) -> None:
    rt = runtime
    admin = await rt.accounts.get_user("admin")
    await rt.accounts.create_user("maria")
    maria = await rt.accounts.get_user("maria")
    assert (await rt.posts.policy()).phone_region == "US"
    post = await rt.posts.create(maria, {"kind": "offer", "description": SPAIN})
    assert post.id

    policy = await rt.group_settings.update(admin, {"phone_region": "es"})
    assert policy.phone_region == "ES"
    with pytest.raises(NeedsConfirmation) as caught:
        await rt.posts.create(maria, {"kind": "offer", "description": SPAIN})
    assert "phone number" in caught.value.warnings[0].message
    # Editing is checked in the same region.
    with pytest.raises(NeedsConfirmation):
        await rt.posts.edit(maria, post.id, {"description": SPAIN + " Gracias."})

    await rt.group_settings.update(admin, {"phone_region": "MX"})
    await rt.posts.create(maria, {"kind": "offer", "description": SPAIN})
    with pytest.raises(NeedsConfirmation):
        await rt.posts.create(maria, {"kind": "need", "description": MEXICO})

    with pytest.raises(Invalid) as bad:
        await rt.group_settings.update(admin, {"phone_region": "Mexico"})
    assert bad.value.field == "phone_region"
    assert (await rt.posts.policy()).phone_region == "MX"
