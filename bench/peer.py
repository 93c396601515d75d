"""Side by side with nautilus_trader (Rust core, its Polymarket adapter) on the same inputs.

Slow and optional (never run by pytest): it creates a separate virtualenv with Python >= 3.12
(``--python``; current nautilus_trader releases need it), pip-installs ``nautilus_trader`` there
once (``--nautilus-version``, default the 1.231.0 issue #18 measured against), generates the
inputs here, runs our side in this process and nautilus's in the venv
(``bench/peer_nautilus_worker.py``), all in one run, and prints the ratios of CPU time per
operation, ours / theirs (lower is better; targets: <= 1.0 for the book, <= 2.0 for decoding):

* ``book_prebuilt``   — apply a price-level update and read best bid/ask, update objects built
  beforehand (ours: ``L2Book.set_level`` with Decimals; theirs: ``OrderBook.apply_delta`` with
  ``OrderBookDelta``s, L2_MBP);
* ``book_raw``        — the same, building each update from raw ``(side, price, size)`` strings;
* ``decode_price_change`` — a ``price_change`` frame (two changes) → typed updates (ours:
  ``FrameDecoder.decode``; theirs: msgspec into ``PolymarketQuotes`` + ``parse_to_deltas``);
* ``frame_to_book``   — frame → book, end to end (ours: decode + ``BookKeeper``, which also
  publishes a validated ``BookDelta`` per frame; theirs: decode + deltas + ``apply_deltas``);
  both books must end with the same best bid and ask;
* ``order_prepare``   — request → signed V2 order vs the SDK's own ``create_limit_order``
  (``bench/order_prepare.py``; the SDK is the peer there, not nautilus).

If the venv or the install fails, one line says so and the exit status is 1. Usage:
``uv run python bench/peer.py [--python PATH] [--venv DIR] [--ops N] [--frames N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book as book_bench
import decode as decode_bench
import order_prepare

from protocols.book import L2Book
from venues.polymarket.websocket import BookKeeper, FrameDecoder, StreamStats, TokenMeta

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "polyagents" / "peer-venv"


def _default_python() -> str | None:
    for cand in ("/root/.pyenv/versions/3.12.1/bin/python", "/root/.pyenv/versions/3.13.0/bin/python"):
        if Path(cand).exists():
            return cand
    return shutil.which("python3.13") or shutil.which("python3.12")


def ensure_venv(python: str, venv: Path, version: str) -> Path:
    """The venv's interpreter with nautilus_trader importable; RuntimeError with one line if not."""
    py = venv / "bin" / "python"
    if not py.exists():
        r = subprocess.run([python, "-m", "venv", str(venv)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"could not create a venv with {python}: {r.stderr.strip().splitlines()[-1:]}")
    probe = "import nautilus_trader.adapters.polymarket.websocket.types, nautilus_trader as n; print(n.__version__)"
    check = subprocess.run([str(py), "-c", probe], capture_output=True, text=True)
    if check.returncode == 0 and check.stdout.strip() == version:
        return py
    r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", f"nautilus_trader[polymarket]=={version}"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"pip could not install nautilus_trader[polymarket]=={version} in {venv}: {last[0]}")
    return py


# -- inputs -------------------------------------------------------------------------------------


def inputs(ops_n: int, frames_n: int, seed: int) -> dict[str, Any]:
    ops = book_bench.gen_ops(ops_n, seed)
    rng = random.Random(seed)
    random.seed(seed)
    m = decode_bench._Market(rng)
    pc_frames = [orjson.dumps(decode_bench._price_change(m, rng, decode_bench.T0_MS + i)).decode()
                 for i in range(frames_n)]
    # one token's book, end to end: a snapshot, then its own changes only
    m2 = decode_bench._Market(rng)
    snap = decode_bench._book_event(m2, decode_bench.T0_MS, no_side=False)
    e2e = []
    for i in range(frames_n):
        ev = decode_bench._price_change(m2, rng, decode_bench.T0_MS + 1 + i)
        ev["price_changes"] = ev["price_changes"][:1]
        e2e.append(orjson.dumps(ev).decode())
    return {
        "book_ops": [[is_bid, str(p), str(s)] for is_bid, p, s in ops],
        "pc_frames": pc_frames,
        "e2e_snapshot": orjson.dumps(snap).decode(),
        "e2e_frames": e2e,
        "e2e_token": m2.yes,
        "e2e_market": m2.cid,
    }


# -- our side -----------------------------------------------------------------------------------


def ours(inp: dict[str, Any], repeat: int) -> dict[str, Any]:
    raw = [(b, p, s) for b, p, s in inp["book_ops"]]
    prebuilt = [(b, Decimal(p), Decimal(s)) for b, p, s in raw]
    tick = Decimal("0.01")

    def book_prebuilt() -> float:
        book = L2Book("tok", "mkt", tick)
        set_level = book.set_level
        c0 = time.process_time()
        for is_bid, p, s in prebuilt:
            set_level(is_bid, p, s)
            _ = book.best_bid
            _ = book.best_ask
        return time.process_time() - c0

    def book_raw() -> float:
        book = L2Book("tok", "mkt", tick)
        set_level = book.set_level
        c0 = time.process_time()
        for is_bid, p, s in raw:
            set_level(is_bid, Decimal(p), Decimal(s))
            _ = book.best_bid
            _ = book.best_ask
        return time.process_time() - c0

    pc = [f.encode() for f in inp["pc_frames"]]

    def decode_pc() -> float:
        dec = FrameDecoder(StreamStats())
        c0 = time.process_time()
        for f in pc:
            dec.decode(f)
        return time.process_time() - c0

    e2e_frames = [f.encode() for f in inp["e2e_frames"]]
    token, market = inp["e2e_token"], inp["e2e_market"]

    def e2e() -> tuple[float, BookKeeper, StreamStats]:
        stats = StreamStats()
        keeper = BookKeeper(stats, sink=lambda _p: None, clock=lambda: decode_bench.T0_MS * 1_000_000)
        keeper.track(token, TokenMeta(market=market))
        dec = FrameDecoder(stats)
        for ev in dec.decode(inp["e2e_snapshot"].encode()):
            keeper.handle(ev)
        handle = keeper.handle
        c0 = time.process_time()
        for f in e2e_frames:
            for ev in dec.decode(f):
                handle(ev)
        return time.process_time() - c0, keeper, stats

    runs = [e2e() for _ in range(repeat)]
    keeper, stats = runs[-1][1], runs[-1][2]
    snap = keeper.book(token)
    return {
        "book_prebuilt_us": min(book_prebuilt() for _ in range(repeat)) / len(raw) * 1e6,
        "book_raw_us": min(book_raw() for _ in range(repeat)) / len(raw) * 1e6,
        "decode_price_change_us": min(decode_pc() for _ in range(repeat)) / len(pc) * 1e6,
        "frame_to_book_us": min(r[0] for r in runs) / len(e2e_frames) * 1e6,
        "e2e_best": [str(snap.bids[0][0]) if snap and snap.bids else None,
                     str(snap.asks[0][0]) if snap and snap.asks else None],
        "e2e_rejected": stats.rejected_total,
        "e2e_resyncs": stats.resyncs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=_default_python(), help="a Python >= 3.12 for the nautilus venv")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--nautilus-version", default="1.231.0")
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--frames", type=int, default=20_000)
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    if not args.python:
        print("error: no Python >= 3.12 found for the nautilus venv (give --python)", file=sys.stderr)
        return 1
    try:
        py = ensure_venv(args.python, args.venv, args.nautilus_version)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    inp = inputs(args.ops, args.frames, args.seed)
    gc.freeze()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({**inp, "repeat": args.repeat}, fh)
        path = fh.name
    try:
        mine = ours(inp, args.repeat)
        r = subprocess.run([str(py), str(HERE / "peer_nautilus_worker.py"), path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        print(f"error: the nautilus worker failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}", file=sys.stderr)
        return 1
    theirs = json.loads(r.stdout.strip().splitlines()[-1])
    if mine["e2e_rejected"] or mine["e2e_resyncs"] or [Decimal(x) for x in mine["e2e_best"]] != [
        Decimal(x) for x in theirs["e2e_best"]
    ]:
        print(f"error: the books disagree end to end: ours {mine['e2e_best']} theirs {theirs['e2e_best']}",
              file=sys.stderr)
        return 1
    prep = asyncio.run(order_prepare.run(args.orders, args.repeat))
    if prep["mismatches"]:
        print("error: our signed orders differ from the SDK's", file=sys.stderr)
        return 1
    keys = ("book_prebuilt", "book_raw", "decode_price_change", "frame_to_book")
    ratios = {k: round(mine[f"{k}_us"] / theirs[f"{k}_us"], 3) for k in keys}
    ratios["order_prepare_vs_sdk"] = round(prep["cpu"]["ours"] / prep["cpu"]["sdk_create"], 3)
    ratios["order_sign_vs_sdk"] = round(prep["cpu"]["sign_ours"] / prep["cpu"]["sign_sdk"], 3)
    out = {
        "bench": "peer",
        "peer": f"nautilus_trader {args.nautilus_version}",
        "ops": args.ops,
        "frames": args.frames,
        "repeat": args.repeat,
        "us_ours": {k: round(mine[f"{k}_us"], 3) for k in keys},
        "us_theirs": {k: round(theirs[f"{k}_us"], 3) for k in keys},
        "ours_over_theirs": ratios,
        "targets_met": {
            "book": ratios["book_prebuilt"] <= 1.0 and ratios["book_raw"] <= 1.0,
            "decode": ratios["decode_price_change"] <= 2.0,
        },
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
