"""Text messages, the pure parts: Twilio's signature (its documentation's own example), the
URL forms Twilio may have signed, the phone gateway's signature, what a text asks for in
English and Spanish, a group's own words, the settings' checks (the private-address
allowance is for one address, never a name or a public address), and the words we text
(each at most four SMS segments with a long group name)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from fediaid.domain import sms_words
from fediaid.domain.sms import (
    Intent,
    Provider,
    check_settings,
    classify,
    keywords_with,
    normal_number,
    parse_keywords,
)
from fediaid.domain.sms_gateways import (
    AndroidGateway,
    Secrets,
    android_signature,
    twilio_signature,
    twilio_url_forms,
)
from fediaid.errors import Forbidden, Invalid

SID = "AC" + "0123456789abcdef" * 2


def test_twilio_signature_matches_twilios_documented_example() -> None:
    # Twilio's webhook security documentation: this URL, these parameters, auth token
    # 12345 give this signature.
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"),
              ("Digits", "1234"), ("From", "+12349013030"), ("To", "+18005551212")]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature("12345", url, list(reversed(params))) == (
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")  # sorted by name, whatever the order sent
    assert twilio_signature("12346", url, params) != "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilio_url_forms() -> None:
    assert twilio_url_forms("https://aid.example.org/sms/twilio") == [
        "https://aid.example.org/sms/twilio", "https://aid.example.org:443/sms/twilio"]
    assert twilio_url_forms("https://aid.example.org:443/sms/twilio?x=1") == [
        "https://aid.example.org:443/sms/twilio?x=1", "https://aid.example.org/sms/twilio?x=1"]
    assert twilio_url_forms("http://aid.example.org:8080/sms/twilio") == [
        "http://aid.example.org:8080/sms/twilio"]


def test_android_signature_as_the_app_documents_it() -> None:
    body, stamp, key = b'{"event":"system:ping"}', "1719064000", "s3cret"
    expected = hmac.new(key.encode(), (body.decode() + stamp).encode(),
                        hashlib.sha256).hexdigest()
    assert android_signature(key, body, stamp) == expected
    gateway = AndroidGateway(
        check_settings(provider="android", number="+12015550100", account="sms",
                       api_url="https://api.sms-gate.app/3rdparty/v1", allow_private=False,
                       region="US"), Secrets("pw", signing_key=key), poster=None)  # type: ignore[arg-type]
    now = datetime.fromtimestamp(int(stamp) + 60, UTC)
    headers = {"x-signature": expected, "x-timestamp": stamp}
    assert gateway.parse_inbound(url="", headers=headers, body=body, now=now) == []
    late = datetime.fromtimestamp(int(stamp) + 301, UTC)
    with pytest.raises(Forbidden):
        gateway.parse_inbound(url="", headers=headers, body=body, now=late)


@pytest.mark.parametrize(("text", "intent", "language", "rest"), [
    ("STOP", Intent.STOP, "en", ""), (" stop. ", Intent.STOP, "en", ""),
    ("Stop all", Intent.STOP, "en", ""), ("UNSUBSCRIBE", Intent.STOP, "en", ""),
    ("alto", Intent.STOP, "es", ""), ("Cancelar", Intent.STOP, "es", ""),
    ("START", Intent.START, "en", ""), ("unstop", Intent.START, "en", ""),
    ("HELP", Intent.HELP, "en", ""), ("info?", Intent.HELP, "en", ""),
    ("Ayuda", Intent.HELP, "es", ""), ("yes", Intent.YES, "en", ""),
    ("Sí", Intent.YES, "es", ""),
    ("NEED rice and beans", Intent.NEED, "en", "rice and beans"),
    ("need: rice", Intent.NEED, "en", "rice"), ("I need a ride", Intent.NEED, "en", "a ride"),
    ("Necesito pañales", Intent.NEED, "es", "pañales"),
    ("NECESITAMOS ayuda con la renta", Intent.NEED, "es", "ayuda con la renta"),
    ("OFFER - fresh eggs", Intent.OFFER, "en", "fresh eggs"),
    ("ofrezco clases", Intent.OFFER, "es", "clases"),
    ("NEED", Intent.NEED, "en", ""),
    ("Please stop by tomorrow", Intent.TEXT, None, ""),
    ("needles for sewing?", Intent.TEXT, None, ""),
    ("Offering? what do you mean", Intent.TEXT, None, ""),
    ("", Intent.TEXT, None, ""),
])
def test_what_a_text_asks_for(text: str, intent: Intent, language: str | None,
                              rest: str) -> None:
    found = classify(text)
    assert (found.intent, found.language, found.rest) == (intent, language, rest)


def test_a_groups_own_words() -> None:
    extra = parse_keywords("need: pido, Ayúdenme con\noffer: DOY\n\n")
    assert extra == {Intent.NEED: ("PIDO", "AYUDENME CON"), Intent.OFFER: ("DOY",)}
    tables = keywords_with(extra, "es")
    assert classify("Ayúdenme con la compra", tables).rest == "la compra"
    assert classify("doy ropa", tables).intent is Intent.OFFER
    for bad in ("need STOP", "want: x", "need: stop", "offer: " + "x" * 50):
        with pytest.raises(Invalid):
            parse_keywords(bad)


def test_phone_numbers() -> None:
    assert normal_number("(201) 555-0123", "US") == "+12015550123"
    assert normal_number("+52 55 1234 5678", "US") == "+525512345678"
    assert normal_number("55 1234 5678", "MX") == "+525512345678"
    for bad in ("", "12", "call me", "+1" + "9" * 30):
        with pytest.raises(Invalid):
            normal_number(bad, "US")


def test_settings_checks() -> None:
    twilio = check_settings(provider="twilio", number="(201) 555-0100", account=SID,
                            api_url="", allow_private=False, region="US")
    assert twilio.provider is Provider.TWILIO and twilio.number == "+12015550100"
    with pytest.raises(Invalid, match="AC"):
        check_settings(provider="twilio", number="+12015550100", account="ACxyz",
                       api_url="", allow_private=False, region="US")
    with pytest.raises(Invalid, match="https"):
        check_settings(provider="twilio", number="+12015550100", account=SID,
                       api_url="http://api.twilio.test", allow_private=False, region="US")
    phone = check_settings(provider="android", number="+12015550100", account="sms",
                           api_url="http://192.168.1.20:8080/", allow_private=True,
                           region="US")
    assert phone.private_address == "192.168.1.20" and phone.api_url == (
        "http://192.168.1.20:8080")
    assert check_settings(provider="android", number="+12015550100", account="sms",
                          api_url="http://[fd00::20]:8080", allow_private=True,
                          region="US").private_address == "fd00::20"
    for url in ("http://phone.lan:8080", "http://93.184.215.14:8080", ""):
        with pytest.raises(Invalid):  # a name, a public address, nothing
            check_settings(provider="android", number="+12015550100", account="sms",
                           api_url=url, allow_private=True, region="US")
    with pytest.raises(Invalid):
        check_settings(provider="android", number="+12015550100", account="sms",
                       api_url="http://user:pw@192.168.1.20:8080", allow_private=False,
                       region="US")


def _segments(text: str) -> int:
    gsm = all(ord(c) < 128 and c not in "`" for c in text)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // multi)


def test_every_text_we_send_is_short_and_names_the_group() -> None:
    group = "Elm Street and Riverside Mutual Aid Net"  # 39 characters
    for language in sms_words.SUPPORTED:
        for name in sms_words.names():
            if name == "hotline":
                continue
            text = sms_words.text(name, language, group=group, number="+1 201-555-0100",
                                  hours="Mon-Fri 9-5", title="groceries", contact="x",
                                  body="y")
            assert text.startswith(group + ": "), (language, name)
            assert _segments(text) <= 4, (language, name, len(text))
    assert "Línea: +1 201-555-0100 (Mon-Fri 9-5)" in sms_words.text(
        "help", "es", group="G", number="+1 201-555-0100", hours="Mon-Fri 9-5")
    assert "Hotline" not in sms_words.text("help", "en", group="G", number="", hours="")
    assert sms_words.language_of("es-MX") == "es" and sms_words.language_of("fr", "de") == "en"
