"""deploy/compose.yaml through a Compose tool's `config`: the file is read, every
``${VAR}`` filled from deploy/.env.example, the ``x-fediaid`` anchors merged, checked against
Compose's schema (keys, types, ``depends_on`` conditions, declared volumes), and the result
printed; the test then reads what it describes: PostgreSQL, several web processes, the
worker service doing the background work, with only Caddy publishing ports.

The tool is Debian's ``docker-compose`` package (Compose v1, Python; dev.py's test setup
installs it as it installs Chromium). No container engine runs here, and ``config`` needs
none. It predates one key of the Compose Specification that the file uses: the top-level
``name`` (the project's name, which the `docker compose` plugin the docs ask for reads, and
which names the volumes people already have). That one line is left out of the copy given to
it; the test checks the line itself against the Specification's rule for names."""

from __future__ import annotations

import ipaddress
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fediaid.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = shutil.which("docker-compose")

pytestmark = pytest.mark.skipif(
    COMPOSE is None,
    reason="docker-compose is not installed (Debian package docker-compose; `python3 dev.py "
           "test` installs it when run as root with apt-get)")

NAME_LINE = re.compile(r"^name: *(\S+) *$", re.M)


def compose_config(tmp_path: Path, env_file: Path) -> subprocess.CompletedProcess[str]:
    text = (DEPLOY / "compose.yaml").read_text()
    copy = tmp_path / "compose.yaml"
    copy.write_text(NAME_LINE.sub("", text, count=1))
    assert COMPOSE is not None
    # Relative paths (the build context, ./Caddyfile) are read from deploy/ as they would
    # be; only the environment file is chosen, so a developer's own deploy/.env is never read
    # and nothing from this process's environment fills a variable.
    return subprocess.run(
        [COMPOSE, "--project-directory", str(DEPLOY), "--env-file", str(env_file),
         "-f", str(copy), "config"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})


def example_env() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value.strip('"')
    return values


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("compose")
    done = compose_config(tmp, DEPLOY / ".env.example")
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


def test_the_project_name_is_a_valid_compose_name() -> None:
    found = NAME_LINE.search((DEPLOY / "compose.yaml").read_text())
    assert found is not None and found.group(1) == "fediaid"
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", found.group(1))


def test_postgresql_web_and_workers_with_only_caddy_published(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {"db", "web", "worker", "caddy"}
    assert services["db"]["image"].startswith("postgres:")
    assert [s for s, v in services.items() if v.get("ports")] == ["caddy"]
    assert {p["target"] for p in services["caddy"]["ports"]} == {80, 443}
    env = example_env()
    url = f"postgresql+asyncpg://fediaid:{env['POSTGRES_PASSWORD']}@db/fediaid"
    for name in ("web", "worker"):
        service = services[name]
        assert service["environment"]["FEDIAID_DATABASE_URL"] == url
        assert service["environment"]["FEDIAID_DOMAIN"] == env["FEDIAID_DOMAIN"]
        assert service["environment"]["FEDIAID_DEV"] == "0"
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert service["build"]["context"] == str(ROOT)
        assert (ROOT / service["build"]["dockerfile"]).is_file()
        assert "app_data:/data:rw" in service["volumes"]
    assert services["web"]["environment"]["FEDIAID_GROUP_NAME"] == env["FEDIAID_GROUP_NAME"]
    # Only web initialises /data; workers start once web is healthy (it has migrated).
    assert services["worker"]["environment"]["FEDIAID_AUTO_INIT"] == "0"
    assert services["worker"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert services["worker"]["healthcheck"] == {"test": ["NONE"]}  # "disable: true"
    assert services["db"]["healthcheck"]["test"][1] == "pg_isready"
    assert set(config["volumes"]) == {"app_data", "pg_data", "caddy_data", "caddy_config"}


def test_caddy_gets_the_projects_caddyfile(config: dict[str, Any]) -> None:
    caddy = config["services"]["caddy"]
    mount = next(v for v in caddy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro"))
    assert Path(mount.split(":")[0]) == DEPLOY / "Caddyfile"
    assert caddy["environment"] == {"FEDIAID_DOMAIN": example_env()["FEDIAID_DOMAIN"],
                                    "FEDIAID_UPSTREAM": "web:8000"}
    assert config["services"]["web"]["expose"] == ["8000"]


def test_only_caddy_is_trusted_for_forwarded_headers(config: dict[str, Any]) -> None:
    """Web trusts X-Forwarded-For/-Proto from one address: Caddy's, fixed on a network only
    Caddy and web are on. Not "*", not a subnet, not a list; the workers and the database
    are not on that network, so none of them can send from an address web trusts."""
    services, networks = config["services"], config.get("networks", {})
    trusted = services["web"]["environment"]["FORWARDED_ALLOW_IPS"]
    assert re.fullmatch(r"[0-9.]+", trusted), f"web trusts {trusted!r}: not one address"
    address = ipaddress.ip_address(trusted)
    assert services["worker"]["environment"]["FORWARDED_ALLOW_IPS"] == trusted
    assert services["caddy"].get("networks", {}).get("proxy") == {"ipv4_address": trusted}
    assert sorted(n for n, s in services.items() if "proxy" in s["networks"]) == [
        "caddy", "web"]
    assert sorted(services["web"]["networks"]) == ["backend", "proxy"]
    assert list(services["worker"]["networks"]) == ["backend"]
    assert list(services["db"]["networks"]) == ["backend"]
    assert list(services["caddy"]["networks"]) == ["proxy"]
    subnets = [c["subnet"] for c in networks["proxy"]["ipam"]["config"]]
    assert len(subnets) == 1 and address in ipaddress.ip_network(subnets[0])
    assert "ipam" not in (networks["backend"] or {})
    # Caddy's upstream is web on that network (its only one): it connects from there.
    assert services["caddy"]["environment"]["FEDIAID_UPSTREAM"] == "web:8000"


def test_the_proxy_address_is_chosen_in_one_place(tmp_path: Path) -> None:
    """Another subnet set in deploy/.env moves Caddy's address and web's trust together."""
    env_file = tmp_path / "env"
    env_file.write_text((DEPLOY / ".env.example").read_text()
                        + "FEDIAID_PROXY_SUBNET=10.250.0.0/29\n"
                          "FEDIAID_PROXY_ADDRESS=10.250.0.3\n")
    done = compose_config(tmp_path, env_file)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert services["caddy"]["networks"]["proxy"]["ipv4_address"] == "10.250.0.3"
    assert services["web"]["environment"]["FORWARDED_ALLOW_IPS"] == "10.250.0.3"
    assert config["networks"]["proxy"]["ipam"]["config"] == [{"subnet": "10.250.0.0/29"}]


def test_every_command_is_one_fediaid_accepts(config: dict[str, Any]) -> None:
    """The services' commands parse with fediaid's own command line (an option that does
    not exist fails here, not in a container at 3 a.m.)."""
    parser = build_parser()
    commands = {name: config["services"][name]["command"] for name in ("web", "worker")}
    assert commands["web"][:2] == ["fediaid", "serve"]
    assert commands["worker"][:2] == ["fediaid", "worker"]
    # Several web processes, the background work left to the worker service.
    web = build_parser().parse_args(commands["web"][1:])
    assert web.processes == 2 and web.no_workers
    for name, command in commands.items():
        try:
            parser.parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"{name}: `{shlex.join(command)}` is not a valid fediaid command")
    # The image's own default command too (deploy/Dockerfile's CMD).
    cmd = re.search(r"^CMD (\[.*\])$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert cmd is not None
    parser.parse_args(yaml.safe_load(cmd.group(1))[1:])


def test_a_missing_password_stops_compose_with_its_message(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("FEDIAID_DOMAIN=aid.example.org\nFEDIAID_GROUP=elmst\n")
    done = compose_config(tmp_path, env_file)
    assert done.returncode != 0
    assert "set POSTGRES_PASSWORD in deploy/.env" in done.stderr
