"""deploy/: the container stack names only settings storygate has, passes values storygate
accepts, and starts its services in an order that works (database and bucket, then migrations,
then gateways and workers, then the load balancer). No container runs here."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway.settings import PREFIX, Settings, load_settings

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
NAMED = re.compile(r"STORYGATE_[A-Z0-9_]+")
SETTINGS = {PREFIX + f.name.upper() for f in fields(Settings) if f.name != "extra"}
# ${VAR}, ${VAR:-default}, ${VAR:?message}, as compose reads them.
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")
GATEWAYS = ["gateway-1", "gateway-2"]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return dict(document["services"])


def interpolate(value: str, given: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name, kind, rest = m.group(1), m.group(2), m.group(3) or ""
        if name in given:
            return given[name]
        if kind == "?":
            raise KeyError(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return INTERPOLATION.sub(one, value)


@pytest.mark.parametrize("name", ["compose.yaml", "Dockerfile", "haproxy.cfg"])
def test_every_storygate_variable_named_is_a_setting(name: str) -> None:
    named = set(NAMED.findall((DEPLOY / name).read_text()))
    assert named, f"deploy/{name} names no STORYGATE_ variable"
    assert named - SETTINGS == set(), "not settings of gateway.settings.Settings"


def test_the_stack_has_every_service_in_order(services: dict[str, Any]) -> None:
    wanted = {"postgres", "redis", "minio", "minio-init", "migrate", "worker", "haproxy"}
    assert wanted | set(GATEWAYS) <= set(services)
    assert [n for n, s in services.items() if s.get("command") == ["serve"]] == GATEWAYS
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in [*GATEWAYS, "worker"]:
        after = services[name]["depends_on"]
        assert after["migrate"]["condition"] == "service_completed_successfully", name
        assert after["minio-init"]["condition"] == "service_completed_successfully", name
        assert after["redis"]["condition"] == "service_healthy", name
    for name in GATEWAYS:
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert "http://127.0.0.1:8000/readyz" in probe, name
    assert {n: d["condition"] for n, d in services["haproxy"]["depends_on"].items()} == {
        n: "service_healthy" for n in GATEWAYS
    }


def test_every_storygate_process_gets_one_valid_distributed_environment(
    services: dict[str, Any],
) -> None:
    env = services["gateway-1"]["environment"]
    for name in ["gateway-2", "worker", "migrate"]:
        assert services[name]["environment"] == env, name  # one secret, one database, one bucket
    secret = str(env["STORYGATE_SECRET"])
    assert re.fullmatch(r"\$\{STORYGATE_SECRET:\?.*STORYGATE_SECRET.*\}", secret), secret
    with pytest.raises(KeyError, match="STORYGATE_SECRET"):
        interpolate(secret, {})

    given = {"STORYGATE_SECRET": "0" * 64}
    resolved = {k: interpolate(str(v), given) for k, v in env.items() if k.startswith(PREFIX)}
    settings = load_settings(env=resolved)  # what the container's `storygate` will read
    assert settings.distributed and settings.secret == "0" * 64
    assert urlsplit(settings.database_url).hostname == "postgres"
    assert urlsplit(settings.redis_url).hostname == "redis"
    assert urlsplit(settings.s3_endpoint_url).hostname == "minio"
    assert settings.s3_access_key_id and settings.s3_secret_access_key
    bucket = settings.files_url.removeprefix("s3://").split("/")[0]
    assert settings.files_url.startswith("s3://") and bucket
    assert f"local/{bucket}" in " ".join(services["minio-init"]["command"])
    minio = services["minio"]["environment"]
    assert interpolate(minio["MINIO_ROOT_USER"], {}) == settings.s3_access_key_id
    assert interpolate(minio["MINIO_ROOT_PASSWORD"], {}) == settings.s3_secret_access_key
    assert settings.port == 8000 and settings.host == "0.0.0.0"
    assert settings.trusted_proxies  # behind haproxy, clients keep their own addresses


def test_haproxy_reaches_every_gateway_and_outwaits_streams_and_slow_answers(
    services: dict[str, Any],
) -> None:
    text = (DEPLOY / "haproxy.cfg").read_text()
    cfg = "\n".join(line.split("#")[0] for line in text.splitlines())  # comments out
    assert re.findall(r"^\s*server (\S+) (\S+):(\d+)\s*$", cfg, re.M) == [
        (n, n, "8000") for n in GATEWAYS
    ]
    assert re.search(r"^\s*option httpchk GET /readyz\s*$", cfg, re.M)
    assert "compression" not in cfg  # compressing would hold back SSE events
    minutes = int(re.search(r"^\s*timeout server (\d+)m\s*$", cfg, re.M).group(1))  # type: ignore[union-attr]
    assert minutes * 60 > Settings().job_wait_seconds
    bind = re.search(r"^\s*bind :(\d+)\s*$", cfg, re.M).group(1)  # type: ignore[union-attr]
    assert any(p.endswith(f":{bind}") for p in services["haproxy"]["ports"])
    mounted = services["haproxy"]["volumes"][0].split(":")
    assert (DEPLOY / mounted[0]).resolve() == DEPLOY / "haproxy.cfg"


def test_the_image_holds_every_package_and_a_portable_llama_cpp() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert f"COPY {package} {package}" in dockerfile, package
        assert f"!{package}/" in ignore, package
    assert "-DGGML_NATIVE=OFF" in dockerfile  # built for the build host's CPU, it dies elsewhere
    assert 'ENTRYPOINT ["storygate"]' in dockerfile
