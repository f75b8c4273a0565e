"""The CLI forms operators and scripts depend on, run as real processes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import storygate


def cli(tmp: Path, *args: str, **env: str):
    return storygate(list(args), {"STORYGATE_DATA_DIR": str(tmp / "data"), **env})


def test_accounts_and_keys_lifecycle(tmp_path: Path) -> None:
    created = cli(
        tmp_path,
        "accounts",
        "create",
        "Maple Leaf",
        "--plan",
        "storymint=developer",
        "--plan",
        "childrenbooks=pro",
    )
    assert created.returncode == 0, created.stderr
    account = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"acc_[0-9a-f]+", account)

    listed = cli(tmp_path, "accounts", "list")
    assert account in listed.stdout and "storymint=developer" in listed.stdout

    moved = cli(tmp_path, "accounts", "set-plan", account, "sleeperhit", "studio")
    assert moved.returncode == 0, moved.stderr
    assert "sleeperhit=studio" in cli(tmp_path, "accounts", "list").stdout

    granted = cli(tmp_path, "accounts", "grant", account, "sleeperhit.credits", "250")
    assert granted.returncode == 0 and "spendable=3250" in granted.stdout, (
        granted.stdout + granted.stderr
    )

    key = cli(
        tmp_path,
        "keys",
        "create",
        account,
        "sleeperhit",
        "--label",
        "ci",
        "--scopes",
        "story:read,credits:read",
    )
    assert key.returncode == 0, key.stderr
    raw = key.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"sh_[0-9a-f]{18}_[0-9a-f]{64}", raw)

    keys = cli(tmp_path, "keys", "list", account)
    assert raw not in keys.stdout
    key_id = keys.stdout.split()[0]
    assert "active" in keys.stdout and "story:read,credits:read" in keys.stdout

    revoked = cli(tmp_path, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in cli(tmp_path, "keys", "list", account).stdout


def test_errors_are_one_line(tmp_path: Path) -> None:
    cases = [
        cli(tmp_path, "accounts", "create", "x", "--plan", "storymint=platinum"),
        cli(tmp_path, "accounts", "set-plan", "acc_missing", "storymint", "max"),
        cli(tmp_path, "keys", "create", "acc_missing", "storymint"),
        cli(tmp_path, "keys", "revoke", "key_missing"),
        cli(tmp_path, "accounts", "grant", "acc_missing", "storynote.credits", "5"),
        cli(tmp_path, "accounts", "list", STORYGATE_PORT="not-a-number"),
        cli(tmp_path, "accounts", "list", STORYGATE_DATABASE_URL="mysql://x"),
    ]
    for result in cases:
        assert result.returncode == 2, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("storygate: error: "), result.stderr
        assert "Traceback" not in result.stderr
    assert "STORYGATE_PORT" in cases[5].stderr
    assert "STORYGATE_DATABASE_URL" in cases[6].stderr


def test_free_plan_cannot_issue_keys(tmp_path: Path) -> None:
    account = cli(tmp_path, "accounts", "create", "Free Co").stdout.strip()
    refused = cli(tmp_path, "keys", "create", account, "childrenbooks")
    assert refused.returncode == 2
    assert "storygate: error:" in refused.stderr


def test_set_rate_raises_lifts_and_restores_one_accounts_limit(tmp_path: Path) -> None:
    account = cli(tmp_path, "accounts", "create", "Rates").stdout.strip().splitlines()[-1]
    lifted = cli(tmp_path, "accounts", "set-rate", account, "storymint", "0")
    assert lifted.returncode == 0, lifted.stderr
    assert lifted.stdout.strip() == f"{account} storymint per_minute=unlimited"
    raised = cli(tmp_path, "accounts", "set-rate", account, "childrenbooks", "900")
    assert raised.stdout.strip() == f"{account} childrenbooks per_minute=900"
    back = cli(tmp_path, "accounts", "set-rate", account, "storymint", "default")
    assert back.stdout.strip() == f"{account} storymint per_minute=plan default"
    bad = cli(tmp_path, "accounts", "set-rate", account, "storymint", "-5")
    assert bad.returncode == 2 and bad.stderr.startswith("storygate: error:")
    unknown = cli(tmp_path, "accounts", "set-rate", "acc_nope", "storymint", "5")
    assert unknown.returncode == 2 and "account not found" in unknown.stderr
