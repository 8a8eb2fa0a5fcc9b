"""Structured Field Values for HTTP (RFC 8941, now RFC 9651) as the signatures use them,
parsed and serialised by the ``http-sf`` package.

RFC 9421 carries its metadata in structured fields: ``Signature-Input`` and ``Signature`` are
Dictionaries (section 4.1, 4.2), component identifiers are Items (String + Parameters,
section 2), ``@signature-params`` is an Inner List with Parameters (section 2.3), and RFC 9530
``Content-Digest`` is a Dictionary of Byte Sequences.

This module only gives ``http-sf``'s results the small typed shape the rest of
``activitypub`` works with (``Item``, ``InnerList``, ``Token``; decimals as ``float``). Parsing
is strict, as the RFC requires ("fail parsing"): any deviation raises
``StructuredFieldError`` (a ``ValueError``); so do RFC 9651's Date and Display String types,
which no signature field uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import http_sf

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
    """An sf-token (RFC 8941 section 3.3.4), kept distinct from an sf-string."""

    __slots__ = ()


BareItem = bool | int | float | str | bytes
Parameters = dict[str, BareItem]


@dataclass(frozen=True)
class Item:
    """An Item (RFC 8941 section 3.3): a bare item with parameters."""

    value: BareItem
    params: Parameters = field(default_factory=dict)


@dataclass(frozen=True)
class InnerList:
    """An Inner List (RFC 8941 section 3.1.1): items in parentheses, with parameters."""

    items: list[Item] = field(default_factory=list)
    params: Parameters = field(default_factory=dict)


Member = Item | InnerList
Dictionary = dict[str, Member]


# -- from http-sf's structures ----------------------------------------------------------------


def _bare(value: Any) -> BareItem:
    if isinstance(value, http_sf.Token):
        return Token(str(value))
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bool | int | str | bytes):
        return value
    raise StructuredFieldError(f"unsupported structured field type {type(value).__name__}")


def _params(params: dict[str, Any]) -> Parameters:
    return {key: _bare(value) for key, value in params.items()}


def _member(node: Any) -> Member:
    value, params = node
    if isinstance(value, list):
        return InnerList([Item(_bare(v), _params(p)) for v, p in value], _params(params))
    return Item(_bare(value), _params(params))


def _parse(text: str, kind: str) -> Any:
    try:
        return http_sf.parse(text.encode("ascii"), tltype=kind)
    except UnicodeEncodeError as exc:
        raise StructuredFieldError("structured fields are ASCII") from exc
    except http_sf.StructuredFieldError as exc:
        raise StructuredFieldError(str(exc)) from exc


def parse_dictionary(text: str) -> Dictionary:
    """Parse a Dictionary field value (RFC 8941 section 4.2.2)."""
    return {key: _member(node) for key, node in _parse(text, "dictionary").items()}


def parse_list(text: str) -> list[Member]:
    """Parse a List field value (RFC 8941 section 4.2.1)."""
    return [_member(node) for node in _parse(text, "list")]


def parse_item(text: str) -> Item:
    """Parse an Item field value (RFC 8941 section 4.2.3)."""
    member = _member(_parse(text, "item"))
    assert isinstance(member, Item)
    return member


# -- to http-sf's structures --------------------------------------------------------------------


def _to_bare(value: BareItem) -> Any:
    if isinstance(value, bool):  # before int: a bool is an int
        return value
    if isinstance(value, Token):
        return http_sf.Token(str(value))
    if isinstance(value, float):
        return Decimal(f"{round(value, 3):.3f}")
    if isinstance(value, int | str | bytes):
        return value
    raise StructuredFieldError(f"cannot serialize {type(value).__name__}")


def _to_params(params: Parameters) -> dict[str, Any]:
    return {key: _to_bare(value) for key, value in params.items()}


def _to_member(member: Member) -> Any:
    if isinstance(member, InnerList):
        return ([(_to_bare(i.value), _to_params(i.params)) for i in member.items],
                _to_params(member.params))
    return (_to_bare(member.value), _to_params(member.params))


def _ser(structure: Any) -> str:
    try:
        return http_sf.ser(structure)
    except (http_sf.StructuredFieldError, ValueError) as exc:
        raise StructuredFieldError(str(exc)) from exc


def serialize_bare_item(value: BareItem) -> str:
    """RFC 8941 section 4.1.3.1."""
    return _ser((_to_bare(value), {}))


def serialize_parameters(params: Parameters) -> str:
    """RFC 8941 section 4.1.1.2 (``;key=value``, a ``True`` value as the bare key)."""
    return _ser((True, _to_params(params)))[2:]  # the parameters of a ``?1`` item


def serialize_item(item: Item) -> str:
    """RFC 8941 section 4.1.3."""
    return _ser(_to_member(item))


def serialize_inner_list(inner: InnerList) -> str:
    """RFC 8941 section 4.1.1.1."""
    return _ser([_to_member(inner)])


def serialize_list(members: list[Member]) -> str:
    """RFC 8941 section 4.1.1."""
    return _ser([_to_member(m) for m in members])


def serialize_dictionary(members: Dictionary) -> str:
    """RFC 8941 section 4.1.2 (a ``True`` item value is written as the bare key)."""
    return _ser({key: _to_member(m) for key, m in members.items()})
