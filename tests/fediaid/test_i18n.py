"""Languages and time zones (fediaid/i18n.py) and the catalogs (fediaid/locale/)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fediaid.i18n import N_, Message, Reader, accepted, negotiate, zone
from fediaid.locale import catalogs


def test_accept_language_is_read_by_weight() -> None:
    assert accepted("en;q=0.5, es-MX, fr;q=0") == ["es-MX", "en"]
    assert accepted("") == [] and accepted("*;q=1, ;;;") == []


def test_negotiation_order_member_then_switch_then_browser_then_group() -> None:
    both = ("en", "es")
    assert negotiate(member="es", chosen="en", accept_language="en",
                     available=both) == "es"
    assert negotiate(chosen="es", accept_language="en", available=both) == "es"
    assert negotiate(accept_language="es-419,en;q=0.5", available=both) == "es"
    assert negotiate(accept_language="fr, de", group_default="es", available=both) == "es"
    assert negotiate(member="xx", chosen="yy", available=both) == "en"


def test_times_in_the_readers_language_and_zone_across_a_dst_change() -> None:
    ny = Reader("en", "America/New_York")
    # Clocks went forward on 8 March 2026 in New York: noon is 16:00 UTC, the day before 17:00.
    assert ny.from_local(datetime(2026, 3, 8, 12, 0)) == datetime(2026, 3, 8, 16, 0, tzinfo=UTC)
    assert ny.from_local(datetime(2026, 3, 7, 12, 0)) == datetime(2026, 3, 7, 17, 0, tzinfo=UTC)
    # The skipped hour is read with the offset from before the change (EST).
    assert ny.from_local(datetime(2026, 3, 8, 2, 30)) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert ny.input_time(datetime(2026, 3, 8, 16, 0, tzinfo=UTC)) == "2026-03-08T12:00"
    es = Reader("es", "America/Mexico_City")
    shown = es.when(datetime(2026, 12, 1, 18, 0, tzinfo=UTC))
    assert "dic" in shown and "12:00" in shown
    assert es.day(datetime(2026, 12, 1, 18, 0, tzinfo=UTC)) == "martes, 1 de diciembre de 2026"
    assert zone("Not/AZone") is None and zone("../etc/passwd") is None


def test_marked_words_are_translated_with_their_values() -> None:
    es = Reader("es")
    text = N_("Saved: “{label}”.", label="Bicis")
    assert isinstance(text, Message) and text == "Saved: “Bicis”."
    assert es(text) == "Guardado: «Bicis»."
    assert es("Not a msgid at all") == "Not a msgid at all"
    assert es.ngettext("%(num)d answer", "%(num)d answers", 1) == "%(num)d respuesta"


def test_every_word_on_the_pages_has_a_spanish_translation() -> None:
    """Extract the marked words again (babel.cfg) and compare: a new word without its
    Spanish fails here (run `python3 dev.py messages`, then translate it)."""
    template = catalogs.extract()
    assert len(template) > 300
    for code in catalogs.COMPLETE:
        assert catalogs.missing(code, template) == []


def test_translations_keep_their_placeholders_and_markup() -> None:
    for code in catalogs.codes():
        for message in catalogs.read(code):
            if not message.id or not message.string:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = (message.string if isinstance(message.string, tuple)
                       else (message.string,))
            for pattern in (r"\{\w+\}", r"%\(\w+\)[sd]", r"</?\w+"):
                want = sorted(set(re.findall(pattern, ids[-1])))
                for said in strings:
                    if said:  # an empty one is untranslated: English is shown
                        assert sorted(set(re.findall(pattern, said))) == want, (code, said)
