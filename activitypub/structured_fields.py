"""The subset of RFC 8941 (Structured Field Values for HTTP) used by signatures.

RFC 9421 carries its metadata in structured fields: ``Signature-Input`` and
``Signature`` are Dictionaries (§4.1, §4.2), component identifiers are Items
(String + Parameters, §2), ``@signature-params`` is an Inner List with
Parameters (§2.3), and RFC 9530 ``Content-Digest`` is a Dictionary of Byte
Sequences.

This module implements the RFC 8941 §4.2 parsing algorithms for Dictionaries,
Lists, Inner Lists, Items and Parameters, with every bare item type (Integer,
Decimal, String, Token, Byte Sequence, Boolean), and the §4.1 serialisation
algorithms.  Parsing is strict: any deviation raises ``StructuredFieldError``
(a ``ValueError``), as §4.2 requires ("fail parsing").
"""

from __future__ import annotations

import base64
import binascii
import string
from dataclasses import dataclass, field

__all__ = [
    "BareItem",
    "Dictionary",
    "InnerList",
    "Item",
    "Parameters",
    "StructuredFieldError",
    "Token",
    "parse_dictionary",
    "parse_item",
    "parse_list",
    "serialize_bare_item",
    "serialize_dictionary",
    "serialize_inner_list",
    "serialize_item",
    "serialize_list",
    "serialize_parameters",
]


class StructuredFieldError(ValueError):
    """The text is not a valid structured field of the expected type."""


class Token(str):
    """An sf-token (RFC 8941 §3.3.4), kept distinct from an sf-string."""

    __slots__ = ()


BareItem = bool | int | float | str | bytes
Parameters = dict[str, BareItem]


@dataclass(frozen=True)
class Item:
    """An Item (RFC 8941 §3.3): a bare item with parameters."""

    value: BareItem
    params: Parameters = field(default_factory=dict)


@dataclass(frozen=True)
class InnerList:
    """An Inner List (RFC 8941 §3.1.1): items in parentheses, with parameters."""

    items: list[Item] = field(default_factory=list)
    params: Parameters = field(default_factory=dict)


Member = Item | InnerList
Dictionary = dict[str, Member]

_LCALPHA = frozenset(string.ascii_lowercase)
_KEY_CHARS = _LCALPHA | frozenset(string.digits) | frozenset("_-.*")
_TCHAR = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_TOKEN_CHARS = _TCHAR | frozenset(":/")
_B64_CHARS = frozenset(string.ascii_letters + string.digits + "+/=")


class _Parser:
    def __init__(self, text: str) -> None:
        # §4.2 step 2: discard leading SP; trailing OWS is HTTP framing, ignore it too.
        self.text = text.strip(" \t")
        self.pos = 0

    def _fail(self, what: str) -> StructuredFieldError:
        return StructuredFieldError(f"{what} at offset {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def eof(self) -> bool:
        return self.pos >= len(self.text)

    def skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def finish(self) -> None:
        self.skip(" ")
        if not self.eof():
            raise self._fail("unexpected trailing characters")

    def dictionary(self) -> Dictionary:
        """RFC 8941 §4.2.2."""
        result: Dictionary = {}
        while not self.eof():
            key = self.key()
            member: Member
            if self.peek() == "=":
                self.pos += 1
                member = self.item_or_inner_list()
            else:
                member = Item(True, self.parameters())
            result[key] = member
            if not self._next_member():
                break
        return result

    def list(self) -> list[Member]:
        """RFC 8941 §4.2.1."""
        result: list[Member] = []
        while not self.eof():
            result.append(self.item_or_inner_list())
            if not self._next_member():
                break
        return result

    def _next_member(self) -> bool:
        self.skip(" \t")
        if self.eof():
            return False
        if self.peek() != ",":
            raise self._fail("expected ','")
        self.pos += 1
        self.skip(" \t")
        if self.eof():
            raise self._fail("trailing comma")
        return True

    def item_or_inner_list(self) -> Member:
        return self.inner_list() if self.peek() == "(" else self.item()

    def inner_list(self) -> InnerList:
        """RFC 8941 §4.2.1.2."""
        if self.peek() != "(":
            raise self._fail("expected '('")
        self.pos += 1
        items: list[Item] = []
        while not self.eof():
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(items, self.parameters())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self._fail("expected ' ' or ')' in inner list")
        raise self._fail("unterminated inner list")

    def item(self) -> Item:
        """RFC 8941 §4.2.3."""
        value = self.bare_item()
        return Item(value, self.parameters())

    def parameters(self) -> Parameters:
        """RFC 8941 §4.2.3.2."""
        params: Parameters = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        """RFC 8941 §4.2.3.3."""
        start = self.pos
        if self.peek() not in _LCALPHA and self.peek() != "*":
            raise self._fail("expected a key")
        while not self.eof() and self.text[self.pos] in _KEY_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def bare_item(self) -> BareItem:
        """RFC 8941 §4.2.3.1."""
        char = self.peek()
        if char == "-" or (char.isdigit() and char.isascii()):
            return self.number()
        if char == '"':
            return self.string()
        if char == "*" or (char.isascii() and char.isalpha()):
            return self.token()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        raise self._fail("expected a bare item")

    def number(self) -> int | float:
        """RFC 8941 §4.2.4."""
        sign = 1
        if self.peek() == "-":
            sign = -1
            self.pos += 1
        start = self.pos
        if not (self.peek().isascii() and self.peek().isdigit()):
            raise self._fail("expected a digit")
        is_decimal = False
        while not self.eof():
            char = self.text[self.pos]
            if char.isascii() and char.isdigit():
                self.pos += 1
            elif char == "." and not is_decimal:
                if self.pos - start > 12:
                    raise self._fail("decimal integer part too long")
                is_decimal = True
                self.pos += 1
            else:
                break
            if self.pos - start > (16 if is_decimal else 15):
                raise self._fail("number too long")
        digits = self.text[start : self.pos]
        if not is_decimal:
            return sign * int(digits)
        if digits.endswith(".") or len(digits.split(".")[1]) > 3:
            raise self._fail("decimal needs one to three fractional digits")
        return sign * float(digits)

    def string(self) -> str:
        """RFC 8941 §4.2.5."""
        self.pos += 1
        out: list[str] = []
        while not self.eof():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\") or escaped == "":
                    raise self._fail("invalid escape in string")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not (" " <= char <= "~"):
                raise self._fail("invalid character in string")
            else:
                out.append(char)
        raise self._fail("unterminated string")

    def token(self) -> Token:
        """RFC 8941 §4.2.6."""
        start = self.pos
        self.pos += 1
        while not self.eof() and self.text[self.pos] in _TOKEN_CHARS:
            self.pos += 1
        return Token(self.text[start : self.pos])

    def byte_sequence(self) -> bytes:
        """RFC 8941 §4.2.7 (missing '=' padding is tolerated, as it allows)."""
        self.pos += 1
        end = self.text.find(":", self.pos)
        if end < 0:
            raise self._fail("unterminated byte sequence")
        content = self.text[self.pos : end]
        if any(c not in _B64_CHARS for c in content):
            raise self._fail("invalid base64 in byte sequence")
        self.pos = end + 1
        try:
            return base64.b64decode(content + "=" * (-len(content) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise self._fail("invalid base64 in byte sequence") from exc

    def boolean(self) -> bool:
        """RFC 8941 §4.2.8."""
        self.pos += 1
        char = self.peek()
        if char not in ("0", "1"):
            raise self._fail("invalid boolean")
        self.pos += 1
        return char == "1"


def parse_dictionary(text: str) -> Dictionary:
    """Parse a Dictionary field value (RFC 8941 §4.2 with §4.2.2)."""
    parser = _Parser(text)
    result = parser.dictionary()
    parser.finish()
    return result


def parse_list(text: str) -> list[Member]:
    """Parse a List field value (RFC 8941 §4.2 with §4.2.1)."""
    parser = _Parser(text)
    result = parser.list()
    parser.finish()
    return result


def parse_item(text: str) -> Item:
    """Parse an Item field value (RFC 8941 §4.2 with §4.2.3)."""
    parser = _Parser(text)
    result = parser.item()
    parser.finish()
    return result


def _check_key(key: str) -> str:
    if not key or (key[0] not in _LCALPHA and key[0] != "*") or any(
        c not in _KEY_CHARS for c in key
    ):
        raise StructuredFieldError(f"invalid key {key!r}")
    return key


def serialize_bare_item(value: BareItem) -> str:
    """RFC 8941 §4.1.3.1 (booleans before integers: ``bool`` is an ``int``)."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > 999_999_999_999_999:
            raise StructuredFieldError("integer out of range")
        return str(value)
    if isinstance(value, float):
        rounded = round(value, 3)
        if abs(rounded) >= 1e12:
            raise StructuredFieldError("decimal out of range")
        text = f"{rounded:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, Token):
        if not value or (value[0] != "*" and not value[0].isalpha()) or any(
            c not in _TOKEN_CHARS for c in value
        ):
            raise StructuredFieldError(f"invalid token {value!r}")
        return str(value)
    if isinstance(value, str):
        if any(not (" " <= c <= "~") for c in value):
            raise StructuredFieldError("strings must be printable ASCII")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    raise StructuredFieldError(f"cannot serialize {type(value).__name__}")


def serialize_parameters(params: Parameters) -> str:
    """RFC 8941 §4.1.1.2."""
    out = []
    for key, value in params.items():
        out.append(";" + _check_key(key))
        if value is not True:
            out.append("=" + serialize_bare_item(value))
    return "".join(out)


def serialize_item(item: Item) -> str:
    """RFC 8941 §4.1.3."""
    return serialize_bare_item(item.value) + serialize_parameters(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """RFC 8941 §4.1.1.1."""
    body = " ".join(serialize_item(item) for item in inner.items)
    return f"({body}){serialize_parameters(inner.params)}"


def _serialize_member(member: Member) -> str:
    if isinstance(member, InnerList):
        return serialize_inner_list(member)
    return serialize_item(member)


def serialize_list(members: list[Member]) -> str:
    """RFC 8941 §4.1.1."""
    return ", ".join(_serialize_member(m) for m in members)


def serialize_dictionary(members: Dictionary) -> str:
    """RFC 8941 §4.1.2 (a ``True`` item value is written as the bare key)."""
    out = []
    for key, member in members.items():
        if isinstance(member, Item) and member.value is True:
            out.append(_check_key(key) + serialize_parameters(member.params))
        else:
            out.append(_check_key(key) + "=" + _serialize_member(member))
    return ", ".join(out)
