"""Keeping the catalogs up to date: collect the marked words from the code and the
templates (babel.cfg) and merge them into every ``<code>/LC_MESSAGES/messages.po``.

    python -m fediaid.locale.catalogs update     # or: python3 dev.py messages
    python -m fediaid.locale.catalogs add fr     # a new language's catalog, to translate
    python -m fediaid.locale.catalogs check      # what is missing or untranslated

New words appear untranslated (English is shown until someone translates them); words no
longer used are kept at the end of the file as obsolete (``#~``). tests/test_catalogs.py
fails while a word used on a page has no translation in a catalog listed in ``COMPLETE``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = Path(__file__).parent
CONFIG = ROOT / "babel.cfg"
# t("...") (a Reader) and t.plural(singular, plural, n) translate words on a page.
KEYWORDS = {**DEFAULT_KEYWORDS, "t": None, "plural": (1, 2)}
# Languages whose catalog must translate every word (tests/test_catalogs.py).
COMPLETE = ("es",)
HEADER = "fediaid: the words of a neighborhood mutual aid group's pages"


def extract() -> Catalog:
    """Every marked word in the code and the templates, with where it is used."""
    with CONFIG.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    catalog = Catalog(project="fediaid", header_comment=f"# {HEADER}.",
                      msgid_bugs_address="", creation_date=datetime(2026, 12, 6, tzinfo=UTC))
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments,
                    context=context)
    return catalog


def path_of(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"


def codes() -> list[str]:
    return sorted(p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))


def read(code: str) -> Catalog:
    with path_of(code).open("rb") as fh:
        return read_po(fh, locale=code)


def write(code: str, catalog: Catalog) -> None:
    path_of(code).parent.mkdir(parents=True, exist_ok=True)
    with path_of(code).open("wb") as fh:
        write_po(fh, catalog, width=100, include_previous=False, include_lineno=False)


def update(template: Catalog | None = None) -> None:
    template = template or extract()
    for code in codes():
        catalog = read(code)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        write(code, catalog)


def add(code: str) -> None:
    if path_of(code).exists():
        raise SystemExit(f"{path_of(code)} exists already")
    template = extract()
    catalog = Catalog(locale=code, project="fediaid", header_comment=f"# {HEADER}.")
    catalog.update(template, no_fuzzy_matching=True)
    write(code, catalog)


def missing(code: str, template: Catalog | None = None) -> list[str]:
    """Words used in the code or templates that ``code``'s catalog does not translate."""
    template = template or extract()
    catalog = read(code)
    out = []
    for message in template:
        if not message.id:
            continue
        have = catalog.get(message.id, message.context)
        strings = have.string if have is not None else None
        if isinstance(strings, tuple):
            ok = all(strings)
        else:
            ok = bool(strings)
        if have is None or not ok or have.fuzzy:
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "update"
    if what == "update":
        update()
        for code in codes():
            left = missing(code)
            print(f"{code}: {len(left)} to translate")
        return 0
    if what == "add" and len(argv) == 2:
        add(argv[1])
        print(f"made {path_of(argv[1])}: translate its msgstr lines")
        return 0
    if what == "check":
        bad = 0
        for code in codes():
            left = missing(code)
            print(f"{code}: {len(left)} to translate")
            if code in COMPLETE:
                bad += len(left)
                for msgid in left:
                    print("   ", msgid)
        return 1 if bad else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
