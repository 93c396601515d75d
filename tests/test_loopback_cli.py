"""``polyagents markets`` against the loopback server, and ``polyagents loopback`` as a process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.cli import main
from venues.polymarket.loopback import LoopbackServer
from venues.polymarket.loopback.testing import market

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gamma_url() -> Iterator[str]:
    """A loopback server on its own thread and loop (the CLI runs ``asyncio.run`` itself)."""
    loop = asyncio.new_event_loop()
    srv = LoopbackServer()
    srv.exchange.add_market(market(1).model_copy(update={"question": "Will BTC hit 100k?", "category": "crypto"}))
    srv.exchange.add_market(market(2).model_copy(update={"question": "Will it rain in Paris?", "category": "weather"}))
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(srv.start())
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(30)
    yield srv.gamma_url
    asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    t.join(30)
    loop.close()


def test_markets_json_lists_every_live_market(gamma_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["markets", "--gamma-url", gamma_url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["question"] for r in rows) == ["Will BTC hit 100k?", "Will it rain in Paris?"]
    btc = next(r for r in rows if "BTC" in r["question"])
    assert btc["token_ids"] == list(market(1).token_ids)
    assert btc["tick_size"] == "0.01" and btc["min_order_size"] == "5" and btc["fee_rate"] == "0.07"


def test_markets_search_filters_case_insensitively(gamma_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["markets", "--gamma-url", gamma_url, "--json", "--search", "paris"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["question"] for r in rows] == ["Will it rain in Paris?"]


def test_markets_table_names_the_markets(gamma_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["markets", "--gamma-url", gamma_url, "--search", "btc"]) == 0
    out = capsys.readouterr().out
    assert "1 market(s)" in out and "BTC" in out and "Paris" not in out


def test_markets_unreachable_gamma_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["markets", "--gamma-url", "http://127.0.0.1:1", "--timeout", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot reach Gamma at http://127.0.0.1:1")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["markets", "--gamma-url", "ftp://nowhere"], "--gamma-url"),
        (["markets", "--limit", "0"], "--limit"),
    ],
)
def test_markets_bad_arguments_exit_2_with_the_option_named(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_loopback_command_serves_until_terminated() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cluster.cli", "loopback", "--port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("loopback Polymarket listening on http://127.0.0.1:"), first
        clob = first.rsplit(" ", 1)[1].strip()
        urls: dict[str, str] = {}
        while len(urls) < 3:
            line = proc.stdout.readline()
            assert line, "the command stopped before naming its origins"
            name, _, rest = line.strip().partition(":")
            if name.strip() in ("clob", "gamma", "data-api"):
                urls[name.strip()] = rest.split()[0]
        assert urls["clob"] == clob and len(set(urls.values())) == 3  # one port per API
        with urllib.request.urlopen(urls["gamma"] + "/markets?limit=500", timeout=10) as resp:
            listed = json.loads(resp.read())
        assert len(listed) == 8  # the demo markets, with books
        assert all(isinstance(m["clobTokenIds"], str) for m in listed)  # Gamma's JSON-in-a-string
        with urllib.request.urlopen(clob + "/markets", timeout=10) as resp:
            page = json.loads(resp.read())  # the CLOB's own listing, not Gamma's
        assert page["next_cursor"] == "LTE=" and len(page["data"]) == 8
        assert all("condition_id" in m and "tokens" in m for m in page["data"])
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "loopback stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_markets_limit_caps_the_rows(gamma_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["markets", "--gamma-url", gamma_url, "--json", "--limit", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_markets_table_fits_80_columns_with_whole_questions_and_csv_has_every_field(
    gamma_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv
    import io

    monkeypatch.setenv("COLUMNS", "80")
    assert main(["markets", "--gamma-url", gamma_url]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    # a question on one line (not a word a line), with its prices beside it
    assert any("Will it rain in Paris?" in ln for ln in lines), out
    assert main(["markets", "--gamma-url", gamma_url, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    btc = next(r for r in rows if "BTC" in r["question"])
    assert btc["token_ids"].split(";") == list(market(1).token_ids)
    assert btc["tick_size"] == "0.01" and btc["fee_rate"] == "0.07"
