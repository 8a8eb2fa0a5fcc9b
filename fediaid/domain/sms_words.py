"""The words of the texts fediaid sends by itself, in English and Spanish.

They are kept here as a table rather than in the pages' gettext catalogs: each must stay
short (a text is paid per 160-character segment, 70 with accents; ``tests/fediaid/
test_sms_domain.py`` holds every one to four segments with a long group name), they are
chosen by the language of the keyword the neighbor used (NECESITO gets Spanish), and a
neighbor reading a text has no page to switch the language on. Every text starts with the
group's name, as carriers expect the sender to be named.
"""

from __future__ import annotations

SUPPORTED = ("en", "es")

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "received_need": "{group}: Thank you. A coordinator will read your need and post it "
                         "without your name or number. May we text you how a helper can be "
                         "reached? Reply YES. Reply STOP to stop texts.",
        "received_offer": "{group}: Thank you. A coordinator will read your offer and post it "
                          "without your name or number. Reply STOP to stop texts.",
        "empty": "{group}: Please write what you need after NEED, or what you offer after "
                 "OFFER, in one text. Reply HELP for help.",
        "help": "{group}: Text NEED and what you need, or OFFER and what you can give. A "
                "coordinator reads every text.{hotline} Reply STOP to stop texts.",
        "hotline": " Hotline: {number}{hours}.",
        "stop": "{group}: You will get no more texts from us. Reply START to get texts again.",
        "start": "{group}: You will get texts from us again. Reply HELP for help, STOP to stop.",
        "yes": "{group}: Thank you. When a neighbor offers help, we will text you how to reach "
               "them. Reply STOP to stop texts.",
        "contact": "{group}: Someone can help with \"{title}\". How to reach them: {contact}",
        "relay": "{group}: {body}",
        "test": "{group}: This is a test text from your group's server. It works!",
    },
    "es": {
        "received_need": "{group}: Gracias. Un coordinador leerá su necesidad y la publicará "
                         "sin su nombre ni su número. ¿Le podemos enviar cómo contactar a quien "
                         "ayude? Responda SI. Responda ALTO para no recibir más.",
        "received_offer": "{group}: Gracias. Un coordinador leerá su oferta y la publicará sin "
                          "su nombre ni su número. Responda ALTO para no recibir más.",
        "empty": "{group}: Escriba lo que necesita después de NECESITO, o lo que ofrece después "
                 "de OFREZCO, en un solo mensaje. Responda AYUDA para ayuda.",
        "help": "{group}: Envíe NECESITO y lo que necesita, u OFREZCO y lo que puede dar. Un "
                "coordinador lee cada mensaje.{hotline} Responda ALTO para no recibir más.",
        "hotline": " Línea: {number}{hours}.",
        "stop": "{group}: No recibirá más mensajes nuestros. Responda INICIAR para recibirlos "
                "de nuevo.",
        "start": "{group}: Recibirá nuestros mensajes de nuevo. Responda AYUDA para ayuda, ALTO "
                 "para no recibir más.",
        "yes": "{group}: Gracias. Cuando alguien ofrezca ayuda, le enviaremos cómo contactarle. "
               "Responda ALTO para no recibir más.",
        "contact": "{group}: Alguien puede ayudar con \"{title}\". Cómo contactarle: {contact}",
        "relay": "{group}: {body}",
        "test": "{group}: Este es un mensaje de prueba del servidor de su grupo. ¡Funciona!",
    },
}


def language_of(code: str | None, fallback: str = "en") -> str:
    """The language a text is written in: ``code`` when there are words for it, else the
    fallback (the group's language), else English."""
    for candidate in (code, fallback):
        base = (candidate or "").split("-", 1)[0].lower()
        if base in SUPPORTED:
            return base
    return "en"


def text(name: str, language: str, *, group: str, **values: str) -> str:
    """One text, filled in."""
    words = _WORDS[language_of(language)]
    if name == "help":
        number, hours = values.get("number", ""), values.get("hours", "")
        values = {"hotline": words["hotline"].format(
            number=number, hours=f" ({hours})" if hours else "") if number else ""}
    return words[name].format(group=group, **values)


def names() -> tuple[str, ...]:
    return tuple(_WORDS["en"])
