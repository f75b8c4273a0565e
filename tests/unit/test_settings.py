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
        ({"STORYGATE_SERVER": "gunicorn"}, "STORYGATE_SERVER"),
        ({"STORYGATE_WORKERS": "2"}, "STORYGATE_WORKERS"),  # embedded state is one process
        ({"STORYGATE_ANONYMOUS_PER_MINUTE": "-1"}, "STORYGATE_ANONYMOUS_PER_MINUTE"),
        ({"STORYGATE_HOLD_SECONDS": "0"}, "STORYGATE_HOLD_SECONDS"),
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


def test_the_secret_file_is_never_readable_by_others_even_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It is written privately and linked into place whole: no moment with other modes, and
    no moment where it exists empty."""
    import os

    seen: list[tuple[int, str]] = []
    real_link = os.link

    def watching_link(src: str, dst: str) -> None:
        seen.append((os.stat(src).st_mode & 0o777, Path(src).read_text()))
        real_link(src, dst)

    monkeypatch.setattr(os, "link", watching_link)
    made = ensure_secret(load_settings({}, data_dir=tmp_path))
    assert seen == [(0o600, made.secret)]
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]  # no temp file left


def test_exported_settings_rebuild_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What server worker processes see: ``serve`` exports, ``app_from_env`` loads."""
    import os

    from gateway.settings import export_env

    for name in [k for k in os.environ if k.startswith("STORYGATE_")]:
        monkeypatch.delenv(name)
    chosen = load_settings(
        {}, data_dir=tmp_path, port=9123, backends="instant", task_modules=("a.b", "c"), demo=False
    )
    export_env(chosen)
    try:
        assert load_settings() == chosen
    finally:
        for name in [k for k in os.environ if k.startswith("STORYGATE_")]:
            del os.environ[name]  # not monkeypatch: it would put them back afterwards


def test_distributed_requires_a_secret() -> None:
    s = load_settings(
        {"STORYGATE_DATABASE_URL": "postgresql://u@h/db", "STORYGATE_REDIS_URL": "redis://h"}
    )
    with pytest.raises(SettingsError, match="STORYGATE_SECRET"):
        ensure_secret(s)
