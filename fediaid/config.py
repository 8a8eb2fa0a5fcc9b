"""Configuration: read once by an entry point, then passed down as a frozen value.

Sources, later ones winning: defaults, ``DIR/fediaid.toml``, ``FEDIAID_*`` environment
variables. Nothing here is read at import time.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from fediaid.errors import ConfigError
from fediaid.i18n import zone

CONFIG_FILE = "fediaid.toml"
DEFAULT_DATA_DIR = "data"
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class DeliverySettings:
    """Tuning for the outgoing delivery queue."""

    concurrency: int = 50
    batch_size: int = 200
    lease_seconds: float = 60.0
    # Multiplies every retry delay; 1.0 gives Mastodon's schedule (about three days).
    retry_scale: float = 1.0
    max_attempts: int = 17
    timeout_seconds: float = 15.0
    # A domain whose deliveries failed on this many separate days is skipped until it answers.
    unavailable_after_days: int = 3
    double_knock: bool = True


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    domain: str
    group_slug: str
    group_name: str
    dev: bool = False
    database_url: str = ""
    secret_key: str = ""
    log_level: str = "info"
    # "text" (one readable line per event) or "json" (one JSON object per line): fediaid/logs.py.
    log_format: str = "text"
    # The bearer token Prometheus sends to /metrics; empty: no /metrics (404). docs/deploy.md.
    metrics_token: str = ""
    area: str = ""
    languages: tuple[str, ...] = ("en",)
    # The group's time zone (IANA name) until coordinators choose one (group setting
    # time_zone); pages show times in it, or in a member's own (docs/languages.md).
    time_zone: str = "UTC"
    # Where local phone numbers are read until coordinators choose (the group setting
    # phone_region): an ISO 3166-1 alpha-2 code.
    phone_region: str = "US"
    inbox_max_bytes: int = 1024 * 1024
    fetch_max_bytes: int = 2 * 1024 * 1024
    fetch_timeout_seconds: float = 10.0
    inbox_lease_seconds: float = 60.0
    # How often expiry and retention run (tests shorten it).
    lifecycle_seconds: float = 60.0
    # Received activities are purged this long after they were processed (kept meanwhile so
    # redeliveries are recognised; Mastodon retries for about three days).
    inbox_retention_days: float = 4.0
    # Media uploads (the Mastodon client API): files under DIR/media, images only.
    media_max_bytes: int = 8 * 1024 * 1024
    media_max_pixels: int = 7680 * 4320  # 8K, as Mastodon; refused from the header
    # Multiplies every request limit (fediaid/domain/rate_limits.py); 0 turns them off
    # (benchmarks that flood one inbox from one address). Login locks are not affected.
    rate_limit_scale: float = 1.0
    # Exact private addresses that federation (fetches and deliveries) may connect to
    # outside dev mode: FEDIAID_PEER_ADDRESSES=127.0.0.1 (tests/deploy/test_caddy.py puts two
    # servers behind Caddy on one machine), or another server on the group's own network.
    # Addresses, not ranges or names; every other private address stays refused.
    peer_addresses: frozenset[str] = frozenset()
    # age public keys (``age1...``) that `fediaid backup` encrypts to when no --recipient or
    # --passphrase-file is given, so scheduled backups are always encrypted: their secret
    # keys stay off the server (docs/deploy.md "Backups"). Checked by `fediaid backup`.
    backup_recipients: tuple[str, ...] = ()
    delivery: DeliverySettings = field(default_factory=DeliverySettings)

    @property
    def scheme(self) -> str:
        """``http`` only in development; a real instance always sits behind TLS."""
        return "http" if self.dev else "https"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"

    @property
    def host(self) -> str:
        """The domain without a port, as used in ``acct:`` handles."""
        return self.domain


def default_database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'fediaid.db').resolve()}"


def resolve_data_dir(arg: str | None, env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(arg or env.get("FEDIAID_DATA") or DEFAULT_DATA_DIR)


def is_initialised(data_dir: Path) -> bool:
    return (data_dir / CONFIG_FILE).is_file()


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _addresses(value: str) -> frozenset[str]:
    """FEDIAID_PEER_ADDRESSES: comma-separated IP addresses, each in one spelling."""
    found = set()
    for item in (part.strip() for part in value.split(",")):
        try:
            found.add(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ConfigError(f"FEDIAID_PEER_ADDRESSES: {item!r} is not an IP address "
                              "(give exact addresses, no ranges or names)") from None
    return frozenset(found)


def _recipients(value: object) -> tuple[str, ...]:
    """``backup_recipients``: a list of strings, or one string of them separated by commas
    or spaces (FEDIAID_BACKUP_RECIPIENTS)."""
    items = value if isinstance(value, list) else str(value).replace(",", " ").split()
    return tuple(str(x).strip() for x in items if str(x).strip())


def load_settings(data_dir: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``DIR/fediaid.toml`` and apply ``FEDIAID_*`` overrides."""
    env = os.environ if env is None else env
    path = data_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(
            f"No fediaid instance in {data_dir}/ yet. Create one with: "
            f"fediaid init --data {data_dir} --domain HOST --group SLUG"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    delivery_raw = dict(raw.get("delivery", {}))
    # Gone: deliveries have one HTTP client now (fediaid/federation/transport.py); an older
    # file that still chooses one keeps working.
    delivery_raw.pop("transport", None)
    try:
        delivery = DeliverySettings(**delivery_raw)
    except TypeError as exc:
        raise ConfigError(f"{path}: unknown setting in [delivery]: {exc}") from exc
    settings = Settings(
        data_dir=data_dir,
        domain=str(raw.get("domain", "")),
        group_slug=str(raw.get("group", "")),
        group_name=str(raw.get("name", "")),
        dev=bool(raw.get("dev", False)),
        database_url=str(raw.get("database_url", "")),
        secret_key=str(raw.get("secret_key", "")),
        log_level=str(raw.get("log_level", "info")),
        log_format=str(raw.get("log_format", Settings.log_format)),
        metrics_token=str(raw.get("metrics_token", "")),
        area=str(raw.get("area", "")),
        languages=tuple(str(x) for x in raw.get("languages", ["en"])),
        time_zone=str(raw.get("time_zone", Settings.time_zone)),
        phone_region=str(raw.get("phone_region", Settings.phone_region)),
        media_max_bytes=int(raw.get("media_max_bytes", Settings.media_max_bytes)),
        media_max_pixels=int(raw.get("media_max_pixels", Settings.media_max_pixels)),
        inbox_retention_days=float(raw.get("inbox_retention_days",
                                           Settings.inbox_retention_days)),
        rate_limit_scale=float(raw.get("rate_limit_scale", Settings.rate_limit_scale)),
        backup_recipients=_recipients(raw.get("backup_recipients", [])),
        delivery=delivery,
    )
    overrides: dict[str, object] = {}
    if "FEDIAID_DATABASE_URL" in env:
        overrides["database_url"] = env["FEDIAID_DATABASE_URL"]
    if "FEDIAID_DOMAIN" in env:
        overrides["domain"] = env["FEDIAID_DOMAIN"]
    if "FEDIAID_DEV" in env:
        overrides["dev"] = _bool(env["FEDIAID_DEV"])
    if "FEDIAID_LOG_LEVEL" in env:
        overrides["log_level"] = env["FEDIAID_LOG_LEVEL"]
    if "FEDIAID_LOG_FORMAT" in env:
        overrides["log_format"] = env["FEDIAID_LOG_FORMAT"]
    if "FEDIAID_METRICS_TOKEN" in env:
        overrides["metrics_token"] = env["FEDIAID_METRICS_TOKEN"]
    if "FEDIAID_RATE_LIMIT_SCALE" in env:
        overrides["rate_limit_scale"] = float(env["FEDIAID_RATE_LIMIT_SCALE"])
    if "FEDIAID_LIFECYCLE_SECONDS" in env:
        overrides["lifecycle_seconds"] = float(env["FEDIAID_LIFECYCLE_SECONDS"])
    if "FEDIAID_INBOX_LEASE_SECONDS" in env:
        overrides["inbox_lease_seconds"] = float(env["FEDIAID_INBOX_LEASE_SECONDS"])
    if "FEDIAID_INBOX_RETENTION_DAYS" in env:
        overrides["inbox_retention_days"] = float(env["FEDIAID_INBOX_RETENTION_DAYS"])
    if "FEDIAID_BACKUP_RECIPIENTS" in env:
        overrides["backup_recipients"] = _recipients(env["FEDIAID_BACKUP_RECIPIENTS"])
    if env.get("FEDIAID_PEER_ADDRESSES", "").strip():
        overrides["peer_addresses"] = _addresses(env["FEDIAID_PEER_ADDRESSES"])
    delivery_overrides: dict[str, object] = {}
    for key, conv in (
        ("concurrency", int),
        ("batch_size", int),
        ("lease_seconds", float),
        ("retry_scale", float),
        ("max_attempts", int),
        ("timeout_seconds", float),
        ("unavailable_after_days", int),
    ):
        name = f"FEDIAID_DELIVERY_{key.upper()}"
        if name in env:
            delivery_overrides[key] = conv(env[name])
    if delivery_overrides:
        overrides["delivery"] = replace(settings.delivery, **delivery_overrides)  # type: ignore[arg-type]
    settings = replace(settings, **overrides)  # type: ignore[arg-type]
    if not settings.database_url:
        settings = replace(settings, database_url=default_database_url(data_dir))
    if not settings.domain or not settings.group_slug:
        raise ConfigError(f"{path} must set 'domain' and 'group'.")
    if settings.log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format = {settings.log_format!r}: use one of "
                          f"{', '.join(LOG_FORMATS)}.")
    if zone(settings.time_zone) is None:
        raise ConfigError(f"{path}: time_zone = {settings.time_zone!r} is not a time zone; "
                          "use an IANA name like \"America/Mexico_City\" or \"UTC\".")
    return settings


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    data_dir: Path,
    *,
    domain: str,
    group: str,
    name: str,
    dev: bool,
    area: str = "",
    database_url: str | None = None,
) -> Path:
    """Create ``DIR/fediaid.toml`` (mode 0600: it holds the session secret)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = [
        "# fediaid instance configuration. Environment variables FEDIAID_* override these.",
        f"domain = {_toml_str(domain)}",
        f"group = {_toml_str(group)}",
        f"name = {_toml_str(name)}",
        f"dev = {'true' if dev else 'false'}",
        f"area = {_toml_str(area)}",
        'languages = ["en"]',
        f"secret_key = {_toml_str(secrets.token_urlsafe(32))}",
        "# database_url = \"postgresql+asyncpg://fediaid@localhost/fediaid\"",
        "# Backups are encrypted to these age public keys (make one with `fediaid backup-key`",
        "# and keep its secret file off this server):",
        "# backup_recipients = [\"age1...\"]",
    ]
    if database_url:
        lines.append(f"database_url = {_toml_str(database_url)}")
    lines += ["", "[delivery]", "# concurrency = 50", "# retry_scale = 1.0", ""]
    path = data_dir / CONFIG_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return path
