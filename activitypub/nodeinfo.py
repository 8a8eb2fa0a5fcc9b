"""NodeInfo 2.0 / 2.1 documents (jhass/nodeinfo schemas; FEP-f1d5)."""

from __future__ import annotations

from typing import Any

SCHEMA_REL = "http://nodeinfo.diaspora.software/ns/schema/{version}"
VERSIONS = ("2.1", "2.0")


def content_type(version: str) -> str:
    return (
        'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/'
        f'{version}#"'
    )


def discovery(base_url: str) -> dict[str, Any]:
    """``/.well-known/nodeinfo``: links to every version we serve, newest first."""
    return {
        "links": [
            {"rel": SCHEMA_REL.format(version=v), "href": f"{base_url}/nodeinfo/{v}"}
            for v in VERSIONS
        ]
    }


def document(
    version: str,
    *,
    software_name: str,
    software_version: str,
    repository: str | None,
    homepage: str | None,
    users_total: int,
    users_active_month: int,
    users_active_halfyear: int,
    local_posts: int,
    open_registrations: bool,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """A schema-valid document. Custom data goes only in ``metadata`` (the schema forbids
    additional properties everywhere else); 2.0 has no ``repository``/``homepage``."""
    if version not in VERSIONS:
        raise ValueError(f"unsupported NodeInfo version {version}")
    software: dict[str, Any] = {"name": software_name, "version": software_version}
    if version == "2.1":
        if repository:
            software["repository"] = repository
        if homepage:
            software["homepage"] = homepage
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": open_registrations,
        "usage": {
            "users": {
                "total": users_total,
                "activeMonth": users_active_month,
                "activeHalfyear": users_active_halfyear,
            },
            "localPosts": local_posts,
        },
        "metadata": metadata,
    }
