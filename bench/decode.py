"""Market-channel frames → typed updates: the fast decoder vs the lenient one vs an ``orjson`` floor.

A seeded, venue-shaped stream (``gen_frames``): 20 markets, each a YES and a NO token whose books
mirror each other; mostly ``price_change`` frames of two changes (a level on YES and the mirrored
level on NO, each with its book's best bid/ask as the venue reports them), trades
(``last_trade_price``), now and then a frame holding an array of events, full ``book`` snapshots
of 10–40 levels a side, and rarely a ``tick_size_change``. Numbers are strings with the venue's
digits (``"0.51"``, ``"1234.56"``), timestamps millisecond strings, token ids 77 digits. Paths,
same bytes:

* ``orjson_floor``  — ``orjson.loads`` only: dicts of strings, nothing typed, nothing checked;
* ``fast``          — ``FrameDecoder.decode``: msgspec straight from bytes into the typed structs of
  ``venues.polymarket.market_msgs`` (Decimals, ns timestamps, every check of the wire models);
* ``lenient``       — the decoder's fallback and the only path before: ``json.loads`` + the
  pydantic wire models (``FrameDecoder._decode_lenient``);
* ``e2e_fast`` / ``e2e_lenient`` — frame → ``BookKeeper`` (book mirrors, published ``BookDelta``
  etc.) through each decoder: the whole wire-to-payload cost.

Both decoders must yield equal updates for every frame (compared field by field) and the keepers
equal published payloads, or the benchmark fails. CPU time (``time.process_time``), best of
``--repeat``. Usage: ``uv run python bench/decode.py [--frames N] [--seed S] [--repeat R]``; the
last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from venues.polymarket.websocket import BookKeeper, FrameDecoder, StreamStats, TokenMeta

N_MARKETS = 20
T0_MS = 1_790_000_000_000


def _token(rng: random.Random) -> str:
    return str(rng.getrandbits(252))[:77].rjust(77, "1")


def _size(rng: random.Random) -> str:
    return f"{rng.randint(5, 5000)}.{rng.randint(0, 99):02d}" if rng.random() < 0.7 else str(rng.randint(5, 5000))


class _Market:
    """One market's YES book (integer cents) and its mirror, the NO book."""

    def __init__(self, rng: random.Random) -> None:
        self.cid = "0x" + f"{rng.getrandbits(256):064x}"
        self.yes, self.no = _token(rng), _token(rng)
        self.mid = rng.randint(15, 85)
        self.bids: dict[int, str] = {}
        self.asks: dict[int, str] = {}
        for d in range(1, rng.randint(10, 40)):
            if self.mid - d > 0:
                self.bids[self.mid - d] = _size(rng)
            if self.mid + d < 100:
                self.asks[self.mid + d] = _size(rng)

    def best(self) -> tuple[int | None, int | None]:
        return (max(self.bids) if self.bids else None, min(self.asks) if self.asks else None)


def _px(cents: int | None, *, empty: str) -> str:
    return empty if cents is None else f"0.{cents:02d}" if cents < 100 else "1"


def _book_event(m: _Market, ts: int, *, no_side: bool) -> dict[str, Any]:
    if no_side:  # the NO book: YES asks become NO bids at 1 - p
        bids = sorted((100 - c, s) for c, s in m.asks.items())
        asks = sorted(((100 - c, s) for c, s in m.bids.items()), reverse=True)
    else:
        bids = sorted(m.bids.items())
        asks = sorted(m.asks.items(), reverse=True)
    return {
        "event_type": "book", "market": m.cid, "asset_id": m.no if no_side else m.yes,
        "bids": [{"price": _px(c, empty=""), "size": s} for c, s in bids],  # best last, as sent
        "asks": [{"price": _px(c, empty=""), "size": s} for c, s in asks],
        "timestamp": str(ts), "hash": f"{random.getrandbits(160):040x}", "last_trade_price": "",
    }


def _price_change(m: _Market, rng: random.Random, ts: int) -> dict[str, Any]:
    is_bid = rng.random() < 0.5
    dist = rng.choice((1, 1, 1, 2, 2, 3, 4, 6, 10))
    cents = m.mid - dist if is_bid else m.mid + dist
    cents = min(max(cents, 1), 99)
    side = m.bids if is_bid else m.asks
    size = "0" if rng.random() < 0.3 else _size(rng)
    if size == "0":
        side.pop(cents, None)
    else:
        side[cents] = size
    bb, ba = m.best()
    return {
        "event_type": "price_change", "market": m.cid, "timestamp": str(ts), "price_changes": [
            {"asset_id": m.yes, "price": _px(cents, empty=""), "size": size, "side": "BUY" if is_bid else "SELL",
             "hash": f"{rng.getrandbits(160):040x}", "best_bid": _px(bb, empty="0"), "best_ask": _px(ba, empty="1")},
            {"asset_id": m.no, "price": _px(100 - cents, empty=""), "size": size, "side": "SELL" if is_bid else "BUY",
             "hash": f"{rng.getrandbits(160):040x}",
             "best_bid": _px(None if ba is None else 100 - ba, empty="0"),
             "best_ask": _px(None if bb is None else 100 - bb, empty="1")},
        ],
    }


def _trade(m: _Market, rng: random.Random, ts: int) -> dict[str, Any]:
    bb, ba = m.best()
    buy = rng.random() < 0.5
    cents = (ba if buy else bb) or m.mid
    return {"event_type": "last_trade_price", "asset_id": m.yes, "market": m.cid, "price": _px(cents, empty=""),
            "size": _size(rng), "side": "BUY" if buy else "SELL", "fee_rate_bps": "0", "timestamp": str(ts)}


def gen_frames(n: int, seed: int) -> tuple[list[bytes], list[tuple[str, str]]]:
    """``n`` frames of a seeded stream, and every (token, market) it carries; books come first."""
    rng = random.Random(seed)
    random.seed(seed)
    markets = [_Market(rng) for _ in range(N_MARKETS)]
    frames: list[bytes] = []
    ts = T0_MS
    for m in markets:
        frames.append(orjson.dumps([_book_event(m, ts, no_side=False), _book_event(m, ts, no_side=True)]))
    while len(frames) < n:
        ts += rng.randint(0, 3) + 1
        m = rng.choice(markets)
        r = rng.random()
        if r < 0.78:
            ev: Any = _price_change(m, rng, ts)
        elif r < 0.90:
            ev = _trade(m, rng, ts)
        elif r < 0.96:
            ev = [_price_change(m, rng, ts), _trade(m, rng, ts)]
        elif r < 0.999:
            ev = _book_event(m, ts, no_side=rng.random() < 0.5)
        else:
            ev = {"event_type": "tick_size_change", "asset_id": m.yes, "market": m.cid,
                  "old_tick_size": "0.01", "new_tick_size": "0.01", "timestamp": str(ts)}
        frames.append(orjson.dumps(ev))
    tokens = [(t, m.cid) for m in markets for t in (m.yes, m.no)]
    return frames, tokens


# -- comparing results --------------------------------------------------------------------------

_FIELDS = ("asset_id", "market", "timestamp", "hash", "bids", "asks", "price_changes", "price", "size", "side",
           "best_bid", "best_ask", "fee_rate_bps", "old_tick_size", "new_tick_size", "min_order_size",
           "tick_size", "last_trade_price", "spread")


def normalise(ev: Any) -> Any:
    """An event of either decoder as plain values (levels as (price, size) pairs, text Decimals)."""
    if isinstance(ev, list):
        return [normalise(e) for e in ev]
    if isinstance(ev, tuple):
        return tuple(normalise(e) for e in ev)
    if isinstance(ev, Decimal):
        return str(ev)
    if isinstance(ev, (str, int, bool)) or ev is None:
        return ev
    if hasattr(ev, "price") and hasattr(ev, "size") and not hasattr(ev, "side"):  # a pydantic WireLevel
        return (str(ev.price), str(ev.size))
    out = {"type": type(ev).__name__.removeprefix("Wire").removesuffix("Msg")}
    for f in _FIELDS:
        if hasattr(ev, f):
            out[f] = normalise(getattr(ev, f))
    return out


# -- paths --------------------------------------------------------------------------------------

Run = tuple[float, float, Any]


def run_floor(frames: list[bytes]) -> Run:
    loads = orjson.loads
    w0, c0 = time.perf_counter(), time.process_time()
    for f in frames:
        loads(f)
    return time.process_time() - c0, time.perf_counter() - w0, None


def run_decoder(frames: list[bytes], *, fast: bool) -> Run:
    stats = StreamStats()
    dec = FrameDecoder(stats)
    decode = dec.decode if fast else dec._decode_lenient
    out = []
    append = out.append
    w0, c0 = time.perf_counter(), time.process_time()
    for f in frames:
        append(decode(f))
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return cpu, wall, (out, stats.rejected_total)


def run_e2e(frames: list[bytes], tokens: list[tuple[str, str]], *, fast: bool) -> Run:
    stats = StreamStats()
    got: list[Any] = []
    keeper = BookKeeper(stats, sink=got.append, clock=lambda: T0_MS * 1_000_000)
    for t, m in tokens:
        keeper.track(t, TokenMeta(market=m))
    dec = FrameDecoder(stats)
    decode = dec.decode if fast else dec._decode_lenient
    handle = keeper.handle
    w0, c0 = time.perf_counter(), time.process_time()
    for f in frames:
        for ev in decode(f):
            handle(ev)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return cpu, wall, (got, stats.as_dict())


def best_of(repeat: int, fn: Callable[[], Run]) -> Run:
    runs = [fn() for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if args.frames < N_MARKETS or args.repeat < 1:
        print(f"error: --frames must be at least {N_MARKETS} and --repeat at least 1", file=sys.stderr)
        return 2
    frames, tokens = gen_frames(args.frames, args.seed)
    gc.freeze()
    results: dict[str, Any] = {}
    ends: dict[str, Any] = {}
    for name, fn in (
        ("orjson_floor", lambda: run_floor(frames)),
        ("fast", lambda: run_decoder(frames, fast=True)),
        ("lenient", lambda: run_decoder(frames, fast=False)),
        ("e2e_fast", lambda: run_e2e(frames, tokens, fast=True)),
        ("e2e_lenient", lambda: run_e2e(frames, tokens, fast=False)),
    ):
        cpu, wall, end = best_of(args.repeat, fn)
        results[name] = {
            "us_per_frame_cpu": round(cpu / len(frames) * 1e6, 3),
            "frames_per_s_cpu": round(len(frames) / cpu) if cpu > 0 else None,
            "frames_per_s_wall": round(len(frames) / wall) if wall > 0 else None,
        }
        ends[name] = end
    (fast_out, fast_rej), (slow_out, slow_rej) = ends["fast"], ends["lenient"]
    if fast_rej or slow_rej or [normalise(e) for e in fast_out] != [normalise(e) for e in slow_out]:
        print("error: the two decoders disagree on the stream", file=sys.stderr)
        return 1
    (e2e_fast, s_fast), (e2e_slow, s_slow) = ends["e2e_fast"], ends["e2e_lenient"]
    s_fast.pop("frames"), s_slow.pop("frames")  # the lenient path alone does not count frames
    if s_fast != s_slow or [p.model_dump_json() for p in e2e_fast] != [p.model_dump_json() for p in e2e_slow]:
        print("error: the keepers published different payloads", file=sys.stderr)
        return 1

    def us(name: str) -> float:
        return float(results[name]["us_per_frame_cpu"])

    out = {
        "bench": "decode",
        "frames": len(frames),
        "seed": args.seed,
        "repeat": args.repeat,
        "events": sum(len(e) for e in fast_out),
        "published": len(e2e_fast),
        "resyncs": s_fast["resyncs"],
        **results,
        "fast_over_floor": round(us("fast") / us("orjson_floor"), 2),
        "lenient_over_floor": round(us("lenient") / us("orjson_floor"), 2),
        "speedup": round(us("lenient") / us("fast"), 2),
        "e2e_speedup": round(us("e2e_lenient") / us("e2e_fast"), 2),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
