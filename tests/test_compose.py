"""docker-compose.yml agrees with the settings and the CLI (parsed, not run: no engine here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


API_REPLICAS = ("api", "api-2")


def test_services_are_the_documented_ones() -> None:
    assert set(compose()["services"]) == {"postgres", "ray-head", "ray-worker", *API_REPLICAS}


def test_two_api_replicas_differ_only_in_their_host_port() -> None:
    services = compose()["services"]
    first, second = (services[name] for name in API_REPLICAS)
    assert {k: v for k, v in first.items() if k != "ports"} == {
        k: v for k, v in second.items() if k != "ports"
    }
    published = [p.split(":") for p in first["ports"] + second["ports"]]
    assert len({host for host, _ in published}) == 2  # both reachable from the host
    assert {inner for _, inner in published} == {first["environment"]["NAS_PORT"]}
    assert first["restart"] == "unless-stopped"  # a dead replica comes back; meanwhile the
    lease = float(first["environment"]["NAS_LEASE_SECONDS"])  # other takes its jobs over
    assert Settings(lease_seconds=lease).lease_seconds == lease


def test_api_environment_names_real_settings() -> None:
    env = compose()["services"]["api"]["environment"]
    fields = {f"NAS_{name.upper()}" for name in Settings.model_fields}
    nas = {name for name in env if name.startswith("NAS_")}
    assert nas <= fields, nas - fields
    assert set(env) - nas == {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"}
    assert env["NAS_EXECUTOR"] in {"ray", "local", "inline"}
    assert "${NAS_API_KEYS:?" in env["NAS_API_KEYS"]  # a public bind must have keys
    assert env["NAS_HOST"] == "0.0.0.0"


def test_api_database_matches_the_postgres_service() -> None:
    services = compose()["services"]
    url = make_url(services["api"]["environment"]["NAS_DATABASE_URL"])
    pg = services["postgres"]["environment"]
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "postgres"
    assert (url.username, url.password, url.database) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        pg["POSTGRES_DB"],
    )
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_ray_addresses_agree() -> None:
    services = compose()["services"]
    head = " ".join(services["ray-head"]["command"])
    port = re.search(r"--port=(\d+)", head)
    assert port is not None and "--head" in head
    address = f"ray-head:{port.group(1)}"
    assert services["api"]["environment"]["NAS_RAY_ADDRESS"] == address
    assert f"--address={address}" in services["ray-worker"]["command"]


def test_ray_head_workers_and_api_share_one_required_auth_token() -> None:
    # Ray 2.59+ turns token auth on by default: every node and the driver need the same token
    services = compose()["services"]
    for name in ("ray-head", "ray-worker", *API_REPLICAS):
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        assert env["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?"), name  # refused unset


def test_workers_reserve_gpus_and_api_runs_the_cli() -> None:
    services = compose()["services"]
    devices = services["ray-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert services["api"]["command"][:2] == ["nas", "serve"]
    port = services["api"]["environment"]["NAS_PORT"]
    assert services["api"]["ports"] == [f"{port}:{port}"]
    assert int(port) == Settings.model_fields["port"].default


def test_api_and_workers_share_the_artifact_directory() -> None:
    services = compose()["services"]
    artifact_dir = services["api"]["environment"]["NAS_ARTIFACT_DIR"]
    mount = f"artifacts:{artifact_dir}"
    for name in (*API_REPLICAS, "ray-worker"):
        assert mount in services[name]["volumes"], name
    assert "artifacts" in compose()["volumes"]


def test_image_keeps_the_migrations_beside_the_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY migrations migrations" in dockerfile and "alembic.ini" in dockerfile
    assert "pip install --no-cache-dir -e ." in dockerfile  # session.py looks beside api/
