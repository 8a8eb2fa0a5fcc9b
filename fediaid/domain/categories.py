"""A category suggested from what a neighbor wrote ("Need diapers and formula" → childcare).

Pure: no I/O. Each category slug has keywords in English and Spanish (``BUILTIN_KEYWORDS``);
coordinators add their own per category (the group setting ``category_keywords``, edited on
/admin/categories, one line per category: ``food: tortillas, masa``). The suggestion is shown
to the author, who can change it; it is never more than a suggestion.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

# The group setting with the coordinators' own keywords (``parse_keywords``'s format).
CATEGORY_KEYWORDS = "category_keywords"

# Keywords are matched as whole words, without accents and case; a keyword also matches its
# plural ("diaper" → "diapers", "pañal" → "pañales"). Phrases match as phrases.
BUILTIN_KEYWORDS: dict[str, tuple[str, ...]] = {
    "food": (
        "food", "groceries", "grocery", "rice", "beans", "bread", "milk", "eggs", "produce",
        "vegetable", "fruit", "pantry", "canned", "flour", "pasta", "cereal", "snack",
        "comida", "alimento", "despensa", "arroz", "frijol", "pan", "leche", "huevo",
        "verdura", "fruta", "harina", "mandado", "viveres", "abarrotes", "comer",
    ),
    "meals": (
        "meal", "dinner", "lunch", "breakfast", "cooked", "cook", "soup", "casserole",
        "hot food", "comida caliente", "cena", "almuerzo", "desayuno", "guiso", "sopa",
        "cocinar", "plato",
    ),
    "rent-bills": (
        "rent", "bill", "utilities", "electric", "electricity", "gas bill", "water bill",
        "eviction", "late fee", "phone bill", "internet bill", "money", "cash",
        "renta", "alquiler", "factura", "recibo", "luz", "pagar", "pago", "dinero",
        "desalojo", "deuda",
    ),
    "housing": (
        "housing", "room", "shelter", "place to stay", "couch", "apartment", "homeless",
        "roommate", "sublet", "vivienda", "cuarto", "habitacion", "refugio", "albergue",
        "donde quedarme", "departamento", "apartamento", "techo",
    ),
    "transport": (
        "ride", "drive", "car", "lift", "transport", "bus", "train", "airport", "pick up",
        "pickup", "moving van", "bike", "aventon", "raite", "viaje", "transporte", "coche",
        "carro", "auto", "llevar", "aeropuerto", "bicicleta",
    ),
    "childcare": (
        "childcare", "babysit", "babysitter", "babysitting", "baby", "diaper", "formula",
        "infant", "toddler", "kid", "child", "children", "stroller", "crib", "daycare",
        "nanny", "after school", "bebe", "panal", "nino", "nina", "hijo", "hija", "guarderia",
        "cuidar a mis hijos", "formula para bebe", "cuna", "carriola",
    ),
    "elder-care": (
        "elder", "elderly", "senior", "grandmother", "grandfather", "grandma", "grandpa",
        "aging", "abuela", "abuelo", "anciano", "adulto mayor", "personas mayores",
    ),
    "health": (
        "health", "medicine", "medication", "prescription", "doctor", "clinic", "pharmacy",
        "sick", "covid", "mask", "test kit", "insulin", "first aid", "dentist", "hospital",
        "salud", "medicina", "medicamento", "receta", "medico", "clinica", "farmacia",
        "enfermo", "enferma", "cubrebocas", "mascarilla", "dentista",
    ),
    "emotional-support": (
        "lonely", "talk", "listen", "support", "grief", "anxiety", "depressed", "company",
        "check in", "someone to talk", "apoyo emocional", "hablar", "escuchar", "soledad",
        "ansiedad", "duelo", "compania", "platicar",
    ),
    "clothing": (
        "clothes", "clothing", "coat", "jacket", "shoes", "boots", "shirt", "pants", "socks",
        "dress", "sweater", "winter gear", "gloves", "ropa", "abrigo", "chamarra", "zapato",
        "bota", "camisa", "pantalon", "calcetin", "vestido", "sueter", "guante",
    ),
    "household": (
        "household", "soap", "detergent", "toilet paper", "cleaning", "towel", "sheets",
        "blanket", "dishes", "pots", "pans", "heater", "fan", "toiletries", "shampoo",
        "jabon", "detergente", "papel de bano", "limpieza", "toalla", "sabana", "cobija",
        "manta", "platos", "ollas", "estufa", "calentador", "ventilador",
    ),
    "furniture": (
        "furniture", "bed", "mattress", "couch", "sofa", "table", "chair", "dresser", "desk",
        "shelf", "bookcase", "mueble", "cama", "colchon", "sillon", "mesa", "silla", "comoda",
        "escritorio", "estante", "librero",
    ),
    "tools": (
        "tool", "drill", "ladder", "hammer", "saw", "wrench", "screwdriver", "toolbox",
        "herramienta", "taladro", "escalera", "martillo", "sierra", "llave inglesa",
        "desarmador", "destornillador",
    ),
    "skills": (
        "lesson", "tutor", "tutoring", "teach", "class", "homework", "repair", "fix",
        "sewing", "haircut", "resume", "clase", "tutoria", "ensenar", "tarea", "reparar",
        "arreglar", "coser", "corte de pelo", "curriculum",
    ),
    "translation": (
        "translate", "translation", "translator", "interpreter", "interpret", "spanish",
        "english", "paperwork in", "traducir", "traduccion", "traductor", "interprete",
        "ingles", "espanol",
    ),
    "tech-help": (
        "computer", "laptop", "phone setup", "smartphone", "tablet", "wifi", "internet",
        "email account", "printer", "tech", "zoom", "computadora", "celular", "impresora",
        "tecnologia", "correo electronico",
    ),
    "pet-care": (
        "pet", "dog", "cat", "dog food", "cat food", "litter", "vet", "walk my dog",
        "mascota", "perro", "gato", "comida para perro", "veterinario", "arena para gato",
    ),
}

_WORD = re.compile(r"[a-z0-9]+")


def _plain(text: str) -> str:
    """Lowercase, without accents: "Pañales" → "panales"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _forms(word: str) -> tuple[str, ...]:
    """A word and the singulars it may come from ("panales" → "panal")."""
    out = [word]
    if word.endswith("es") and len(word) > 4:
        out.append(word[:-2])
    if word.endswith("s") and len(word) > 3:
        out.append(word[:-1])
    return tuple(out)


def suggest_category(text: str, keywords: Mapping[str, Sequence[str]]) -> str | None:
    """The category whose keywords ``text`` names most often, or None when no keyword
    appears. A tie goes to the category named first in the text ("a mattress for my
    daughter": furniture), then to the earlier category in ``keywords``."""
    words = _WORD.findall(_plain(text))
    if not words:
        return None
    first_at: dict[str, int] = {}
    for i, w in enumerate(words):
        for form in _forms(w):
            first_at.setdefault(form, i)
    best: tuple[int, int, str] | None = None  # (-score, first position, slug)
    for slug, words_of in keywords.items():
        score, first = 0, len(words)
        for keyword in words_of:
            parts = _WORD.findall(_plain(keyword))
            at = _find(parts, words, first_at)
            if at is not None:
                score += 1
                first = min(first, at)
        if score and (best is None or (-score, first) < best[:2]):
            best = (-score, first, slug)
    return best[2] if best else None


def _find(parts: list[str], words: list[str], first_at: Mapping[str, int]) -> int | None:
    """Where the keyword (its words ``parts``) first appears in ``words``."""
    if not parts:
        return None
    if len(parts) == 1:
        return first_at.get(parts[0])
    n = len(parts)
    for i in range(len(words) - n + 1):
        if words[i:i + n - 1] == parts[:-1] and parts[-1] in _forms(words[i + n - 1]):
            return i
    return None


def keywords_for(categories: Sequence[str] | frozenset[str],
                 extra: Mapping[str, Sequence[str]] | None = None
                 ) -> dict[str, tuple[str, ...]]:
    """The built-in keywords and the group's own, for the categories the group uses."""
    extra = extra or {}
    order = [s for s in BUILTIN_KEYWORDS if s in categories]
    order += sorted(s for s in categories if s not in BUILTIN_KEYWORDS)
    out: dict[str, tuple[str, ...]] = {}
    for slug in order:
        words = BUILTIN_KEYWORDS.get(slug, ()) + tuple(extra.get(slug, ()))
        if words and slug != "other":
            out[slug] = words
    return out


def parse_keywords(text: str) -> dict[str, tuple[str, ...]]:
    """The coordinators' keywords, one line per category: ``food: tortillas, masa``.
    Lines without a colon or a known shape are ignored by the caller's check."""
    out: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        slug, sep, rest = line.partition(":")
        slug = slug.strip().lower()
        if not sep or not slug:
            continue
        words = tuple(w.strip() for w in rest.split(",") if w.strip())
        out[slug] = out.get(slug, ()) + words
    return out


def format_keywords(keywords: Mapping[str, Sequence[str]]) -> str:
    return "\n".join(f"{slug}: {', '.join(words)}" for slug, words in keywords.items() if words)
