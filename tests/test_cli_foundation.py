"""The CLI's contract: help, version, journal sql, and one-line errors with non-zero exits."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from cluster.cli import main
from cluster.journal import Journal
from protocols import Fill, Side

T0 = 1_767_225_600_000_000_000


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    j = Journal(tmp_path / "run.duckdb")
    for i in range(3):
        j.record_sync(
            Fill(time_ns=T0 + i, fill_id=f"f{i}", client_order_id=f"c{i}", account="us", token_id="yes",
                 market="m", side=Side.BUY, price=Decimal("0.41"), size=Decimal(10), fee=Decimal("0.1")),
            agent="trader",
        )
    j.close()
    return tmp_path / "run.duckdb"


def test_journal_sql_json_returns_exact_rows(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["journal", "sql", "--db", str(journal_file), "--json",
               "SELECT fill_id, price, size FROM fills ORDER BY fill_id"])
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert rc == 0
    assert json.loads(out) == [
        {"fill_id": f"f{i}", "price": "0.410000", "size": "10.000000"} for i in range(3)
    ]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["journal", "sql", "--db", "/nonexistent/x.duckdb", "SELECT 1"], "no journal at"),
        (["journal", "sql", "--bogus"], "No such option"),
        (["journal", "sql"], "Missing argument"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0]


def test_bad_sql_is_one_line_error(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["journal", "sql", "--db", str(journal_file), "SELEKT nothing"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "query failed" in err[0]


def test_writes_through_journal_sql_are_refused(journal_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["journal", "sql", "--db", str(journal_file), "DELETE FROM fills"])
    assert rc == 2
    assert "read-only" in capsys.readouterr().err.lower()


def test_installed_console_script_prints_version_and_help() -> None:
    exe = Path(sys.executable).with_name("polyagents")
    out = subprocess.run([str(exe), "version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("polyagents ")
    bad = subprocess.run([str(exe), "journal", "sql", "--nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
