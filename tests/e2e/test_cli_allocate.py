"""`storygate accounts allocate ACCOUNT WALLET N|unlimited`, run as a real process: an operator's
custom monthly allowance on one wallet, printed in a fixed form, with one-line failures."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from gateway.core.ledger import Ledger
from gateway.core.wallets import Balance
from gateway.db.engine import Database
from gateway.settings import load_settings
from tests.e2e.conftest import storygate


def cli(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return storygate(list(args), {"STORYGATE_DATA_DIR": str(tmp / "data"), **env})


def new_account(tmp: Path, name: str = "Deal Co") -> str:
    created = cli(tmp, "accounts", "create", name)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


def balance(tmp: Path, account: str, unit: str) -> Balance:
    """Read the wallet straight from the database the CLI wrote to."""
    settings = load_settings(env={**os.environ, "STORYGATE_DATA_DIR": str(tmp / "data")})

    async def read() -> Balance:
        db = Database(settings.effective_database_url)
        try:
            return await Ledger(db).balance(account, unit)
        finally:
            await db.close()

    return asyncio.run(read())


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storygate: error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


def test_allocate_sets_the_monthly_allowance(tmp_path: Path) -> None:
    account = new_account(tmp_path)
    assert balance(tmp_path, account, "storynote.credits").monthly_allocation == 50  # the plan's

    done = cli(tmp_path, "accounts", "allocate", account, "storynote.credits", "500")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{account} storynote.credits monthly=500 spendable=500"
    wallet = balance(tmp_path, account, "storynote.credits")
    assert (wallet.monthly_allocation, wallet.monthly_remaining, wallet.spendable) == (
        500,
        500,
        500,
    )
    # Another command that prints the balance agrees: 500 a month plus 1 granted.
    granted = cli(tmp_path, "accounts", "grant", account, "storynote.credits", "1")
    assert granted.stdout.strip() == f"{account} storynote.credits spendable=501", granted.stderr
    # Other wallets keep their plan's allowance.
    assert balance(tmp_path, account, "storymint.books").monthly_allocation == 1

    lower = cli(tmp_path, "accounts", "allocate", account, "storynote.credits", "0")
    assert lower.stdout.strip() == f"{account} storynote.credits monthly=0 spendable=1"
    assert balance(tmp_path, account, "storynote.credits").monthly_allocation == 0


def test_allocate_unlimited(tmp_path: Path) -> None:
    account = new_account(tmp_path)
    done = cli(tmp_path, "accounts", "allocate", account, "storynote.credits", "unlimited")
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith(f"{account} storynote.credits monthly=unlimited "), line
    wallet = balance(tmp_path, account, "storynote.credits")
    assert wallet.monthly_allocation is None and wallet.spendable is None

    back = cli(tmp_path, "accounts", "allocate", account, "storynote.credits", "300")
    assert back.stdout.strip() == f"{account} storynote.credits monthly=300 spendable=300"
    assert balance(tmp_path, account, "storynote.credits").monthly_allocation == 300


def test_allocate_unlimited_prints_no_python_none(tmp_path: Path) -> None:
    # Scripts parse this line: an unlimited wallet's spendable is "unlimited", as its monthly.
    account = new_account(tmp_path)
    done = cli(tmp_path, "accounts", "allocate", account, "sleeperhit.credits", "unlimited")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"{account} sleeperhit.credits monthly=unlimited spendable=unlimited"
    )


def test_unknown_wallet_fails_in_one_line_and_changes_nothing(tmp_path: Path) -> None:
    account = new_account(tmp_path)
    refused = cli(tmp_path, "accounts", "allocate", account, "storynote.tokens", "500")
    line = one_line_error(refused)
    assert "storynote.tokens" in line and "storynote.credits" in line  # names what there is
    assert balance(tmp_path, account, "storynote.credits").monthly_allocation == 50
    assert balance(tmp_path, account, "storynote.tokens").monthly_allocation == 0  # no wallet


def test_unknown_account_fails_in_one_line(tmp_path: Path) -> None:
    new_account(tmp_path)  # a database with someone else in it
    refused = cli(tmp_path, "accounts", "allocate", "acc_missing", "storynote.credits", "500")
    assert "account not found" in one_line_error(refused)


def test_an_amount_that_is_not_a_whole_number_fails_in_one_line(tmp_path: Path) -> None:
    account = new_account(tmp_path)
    for amount in ("-5", "12.5", "lots", "Unlimited", ""):
        refused = cli(tmp_path, "accounts", "allocate", account, "storynote.credits", amount)
        one_line_error(refused)
    assert balance(tmp_path, account, "storynote.credits").monthly_allocation == 50
