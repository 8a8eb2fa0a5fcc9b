"""FEDIAID_PEER_ADDRESSES: exact private addresses that federation may connect to outside
dev mode (tests/deploy/test_caddy.py uses it for two servers behind Caddy on one machine).
Every other private address stays refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from activitypub.errors import UnsafeAddress
from activitypub.keys import generate_rsa_keypair
from fediaid.config import load_settings, write_config
from fediaid.errors import ConfigError
from fediaid.federation.remote import RemoteClient
from tests.support.instances import free_port


def settings(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    if not (tmp_path / "fediaid.toml").exists():
        write_config(tmp_path, domain="a.example", group="elm", name="Elm", dev=False)
    return load_settings(tmp_path, env)


def test_addresses_are_read_in_one_spelling(tmp_path: Path) -> None:
    assert settings(tmp_path).peer_addresses == frozenset()
    assert settings(tmp_path, FEDIAID_PEER_ADDRESSES="").peer_addresses == frozenset()
    got = settings(tmp_path, FEDIAID_PEER_ADDRESSES=" 127.0.0.1, ::1 ,0:0:0:0:0:0:0:1")
    assert got.peer_addresses == frozenset({"127.0.0.1", "::1"})


@pytest.mark.parametrize("value", ["10.0.0.0/8", "localhost", "127.0.0.1,", "*"])
def test_ranges_names_and_wildcards_are_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="not an IP address"):
        settings(tmp_path, FEDIAID_PEER_ADDRESSES=value)


async def test_only_the_named_address_is_reached(tmp_path: Path) -> None:
    """A server's fetch client outside dev mode: 127.0.0.1 allowed by name is connected to
    (nothing listens: the connection is refused, not the address); 127.0.0.2 is still
    refused by the policy before any connection."""
    s = settings(tmp_path, FEDIAID_PEER_ADDRESSES="127.0.0.1")
    # Built as fediaid/services/runtime.py builds it.
    remote = RemoteClient(allow_private=s.dev, timeout=5, max_bytes=1024,
                          key_id="https://a.example/actor#main-key",
                          private_key_pem=generate_rsa_keypair().private_pem,
                          user_agent="test", webfinger_scheme="https",
                          also_allow=s.peer_addresses)
    try:
        port = free_port()
        with pytest.raises(Exception) as allowed:
            await remote.fetch(f"http://127.0.0.1:{port}/actor")
        assert not isinstance(allowed.value, UnsafeAddress), allowed.value
        with pytest.raises(UnsafeAddress):
            await remote.fetch(f"http://127.0.0.2:{port}/actor")
    finally:
        await remote.client.aclose()
