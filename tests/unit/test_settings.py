"""Settings come from STORYGATE_* variables; a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import SettingsError, ensure_secret, load_settings


def test_embedded_defaults_need_nothing() -> None:
    s = load_settings({})
    assert not s.distributed
    assert s.backends == "local"
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert s.effective_database_url.endswith("storygate-data/storygate.db")


def test_distributed_when_both_urls_set() -> None:
    s = load_settings(
        {"STORYGATE_DATABASE_URL": "postgresql://u@h/db", "STORYGATE_REDIS_URL": "redis://h:6379/0"}
    )
    assert s.distributed
    assert s.database_url == "postgresql+asyncpg://u@h/db"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"STORYGATE_PORT": "eighty"}, "STORYGATE_PORT"),
        ({"STORYGATE_PORT": "70000"}, "STORYGATE_PORT"),
        ({"STORYGATE_BACKENDS": "cloud"}, "STORYGATE_BACKENDS"),
        ({"STORYGATE_DATABASE_URL": "mysql://x"}, "STORYGATE_DATABASE_URL"),
        ({"STORYGATE_DATABASE_URL": "postgresql://u@h/db"}, "STORYGATE_REDIS_URL"),
        ({"STORYGATE_REDIS_URL": "http://x"}, "STORYGATE_REDIS_URL"),
        ({"STORYGATE_RATELIMIT_ON_REDIS_ERROR": "maybe"}, "STORYGATE_RATELIMIT_ON_REDIS_ERROR"),
        ({"STORYGATE_LOG_JSON": "perhaps"}, "STORYGATE_LOG_JSON"),
        ({"STORYGATE_JOB_CONCURRENCY": "0"}, "STORYGATE_JOB_CONCURRENCY"),
    ],
)
def test_bad_setting_names_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert names in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_beat_environment(tmp_path: Path) -> None:
    s = load_settings({"STORYGATE_PORT": "9000"}, port=9100, data_dir=tmp_path)
    assert s.port == 9100 and s.data_dir == tmp_path


def test_embedded_secret_is_generated_once(tmp_path: Path) -> None:
    first = ensure_secret(load_settings({}, data_dir=tmp_path))
    second = ensure_secret(load_settings({}, data_dir=tmp_path))
    assert first.secret == second.secret and len(first.secret) == 64
    assert (tmp_path / "secret").stat().st_mode & 0o077 == 0


def test_distributed_requires_a_secret() -> None:
    s = load_settings(
        {"STORYGATE_DATABASE_URL": "postgresql://u@h/db", "STORYGATE_REDIS_URL": "redis://h"}
    )
    with pytest.raises(SettingsError, match="STORYGATE_SECRET"):
        ensure_secret(s)
