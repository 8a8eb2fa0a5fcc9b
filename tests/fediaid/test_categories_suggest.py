"""A category suggested from a one-sentence post (fediaid/domain/categories.py), in English
and Spanish, with the coordinators' own keywords; used when a post is created without a
category by the services (web form, JSON API) and by the client API's #need / #offer."""

from __future__ import annotations

import pytest

from fediaid.domain.categories import (
    BUILTIN_KEYWORDS,
    CATEGORY_KEYWORDS,
    format_keywords,
    keywords_for,
    parse_keywords,
    suggest_category,
)
from fediaid.domain.posts import DEFAULT_CATEGORIES
from fediaid.services.runtime import Runtime
from fediaid.storage import posts as posts_repo

ALL = keywords_for([slug for slug, _ in DEFAULT_CATEGORIES])


@pytest.mark.parametrize("text,slug", [
    ("Need diapers and formula for my baby", "childcare"),
    ("Necesito comida para mi familia", "food"),
    ("Necesito pañales talla 4", "childcare"),
    ("Need a ride to the clinic on Friday", "transport"),
    ("Short on rent this month", "rent-bills"),
    ("Necesito ayuda con la renta", "rent-bills"),
    ("Busco un colchón para mi hija", "furniture"),
    ("Can someone walk my dog this week", "pet-care"),
    ("Offering a winter coat, size M", "clothing"),
    ("Abrigo de invierno para niño", "clothing"),
    ("Tengo una escalera para prestar", "tools"),
    ("Can help translate letters from Spanish", "translation"),
    ("Need help setting up my laptop", "tech-help"),
    ("Groceries for a family of four", "food"),
    ("Hot meals on Sundays", "meals"),
    ("Necesito medicina para la presión", "health"),
    ("Someone to talk to, feeling lonely", "emotional-support"),
    ("Mi abuela necesita compañía", "elder-care"),
])
def test_suggestions(text: str, slug: str) -> None:
    assert suggest_category(text, ALL) == slug


def test_nothing_to_go_on() -> None:
    assert suggest_category("Hello neighbors", ALL) is None
    assert suggest_category("", ALL) is None


def test_every_default_category_has_english_and_spanish_keywords() -> None:
    for slug, _ in DEFAULT_CATEGORIES:
        if slug != "other":
            assert len(BUILTIN_KEYWORDS[slug]) >= 8, slug


def test_only_the_groups_categories_and_its_own_words() -> None:
    kw = keywords_for(["food", "bike-repair", "other"],
                      parse_keywords("bike-repair: flat tire, bicycle chain\nfood: tortillas"))
    assert list(kw) == ["food", "bike-repair"]  # "other" is never suggested
    assert suggest_category("Need help with a flat tire", kw) == "bike-repair"
    assert suggest_category("Tengo tortillas", kw) == "food"
    assert suggest_category("Need diapers", kw) is None  # childcare is not in use
    assert parse_keywords(format_keywords({"food": ("masa", "maíz")})) == {
        "food": ("masa", "maíz")}


async def test_a_one_sentence_post_gets_a_suggested_category(runtime: Runtime) -> None:
    maria = await runtime.accounts.create_user("maria")
    post = await runtime.posts.create(maria, {"kind": "need", "description":
                                              "Need diapers and formula for my baby"})
    assert post.category == "childcare"
    post = await runtime.posts.create(maria, {"kind": "need", "description":
                                              "Necesito comida para mi familia"})
    assert post.category == "food"
    post = await runtime.posts.create(maria, {"kind": "need", "category": "other",
                                              "description": "Need diapers"})
    assert post.category == "other"  # the author's choice stands
    post = await runtime.posts.create(maria, {"kind": "offer", "description": "Hello!"})
    assert post.category == "other"
    # An edit keeps the category.
    edited = await runtime.posts.edit(maria, post.id, {"description": "Spare crib for a baby"})
    assert edited.category == "other"


async def test_coordinators_keywords_count(runtime: Runtime) -> None:
    async with runtime.db.write() as conn:
        await posts_repo.set_setting(conn, CATEGORY_KEYWORDS, "tools: power washer")
    maria = await runtime.accounts.create_user("maria")
    post = await runtime.posts.create(maria, {"kind": "offer", "description":
                                              "Lending my power washer"})
    assert post.category == "tools"
