"""activitypub.structured_fields: the typed shape over ``http-sf`` (RFC 8941 / 9651)."""

from __future__ import annotations

import pytest

from activitypub.structured_fields import (
    InnerList,
    Item,
    StructuredFieldError,
    Token,
    parse_dictionary,
    parse_item,
    parse_list,
    serialize_bare_item,
    serialize_dictionary,
    serialize_inner_list,
    serialize_item,
    serialize_list,
    serialize_parameters,
)

SIGNATURE_INPUT = ('sig1=("@method" "@target-uri" "content-digest";req);created=1618884473;'
                   'keyid="test-key-rsa-pss";alg=rsa-pss-sha512')


def test_a_signature_input_round_trips() -> None:
    parsed = parse_dictionary(SIGNATURE_INPUT)
    sig = parsed["sig1"]
    assert isinstance(sig, InnerList)
    assert [i.value for i in sig.items] == ["@method", "@target-uri", "content-digest"]
    assert sig.items[2].params == {"req": True}
    assert sig.params["created"] == 1618884473
    assert isinstance(sig.params["alg"], Token) and sig.params["alg"] == "rsa-pss-sha512"
    assert not isinstance(sig.params["keyid"], Token)
    assert serialize_dictionary(parsed) == SIGNATURE_INPUT


@pytest.mark.parametrize(("value", "text"), [
    (True, "?1"), (False, "?0"), (42, "42"), (-7, "-7"), (1.5, "1.5"), (2.0, "2.0"),
    (0.1234, "0.123"), ("a \"q\" \\", '"a \\"q\\" \\\\"'), (b"\x00\x01", ":AAE=:"),
    (Token("foo/bar"), "foo/bar"), (Token("*x"), "*x"),
])
def test_bare_items(value: object, text: str) -> None:
    assert serialize_bare_item(value) == text  # type: ignore[arg-type]
    back = parse_item(text).value
    assert back == value or (isinstance(value, float) and back == round(value, 3))
    assert isinstance(back, Token) == isinstance(value, Token)


def test_lists_items_and_parameters() -> None:
    members = parse_list('a;x=1, (b "c");y, :AAE=:')
    assert members == [Item(Token("a"), {"x": 1}),
                       InnerList([Item(Token("b")), Item("c")], {"y": True}), Item(b"\x00\x01")]
    assert serialize_list(members) == 'a;x=1, (b "c");y, :AAE=:'
    assert serialize_item(Item("x", {"a": True, "b": Token("t")})) == '"x";a;b=t'
    assert serialize_inner_list(InnerList([Item(1)], {"p": 2})) == "(1);p=2"
    assert serialize_parameters({"a": True, "b": 3}) == ";a;b=3"
    assert serialize_dictionary({"k": Item(True), "v": Item(True, {"p": 1})}) == "k, v;p=1"


@pytest.mark.parametrize("text", [
    'sig1=("@method"', "a=", "A=1", "a=1,", "a=?2", 'a="\x7f"', "a=:not base64!:",
    'a="ünïcode"', "a=1000000000000000", "a=@1659578233", 'a=%"display"',
])
def test_invalid_dictionaries_fail(text: str) -> None:
    with pytest.raises(StructuredFieldError):
        parse_dictionary(text)


@pytest.mark.parametrize("value", [Token("1abc"), Token("a b"), "caf\u00e9", 10**16, 1e13])
def test_values_that_cannot_be_serialised(value: object) -> None:
    with pytest.raises(StructuredFieldError):
        serialize_bare_item(value)  # type: ignore[arg-type]


def test_invalid_keys_are_refused() -> None:
    with pytest.raises(StructuredFieldError):
        serialize_dictionary({"Upper": Item(1)})
    assert issubclass(StructuredFieldError, ValueError)
