"""nautilus_trader's side of ``bench/peer.py``: runs inside the peer venv (Python >= 3.12), never here.

Reads the inputs ``peer.py`` generated (the same level updates and frames our side runs on) from
the JSON file named on the command line and prints one JSON object of CPU microseconds per
operation (``time.process_time``, best of ``repeat``). Uses nautilus's own Polymarket adapter
structs (``PolymarketQuotes``, ``PolymarketBookSnapshot``: msgspec decoding, then
``parse_to_deltas``/``parse_to_snapshot``) and its Rust-core ``OrderBook`` (L2_MBP).
"""

import json
import sys
import time

import msgspec
from nautilus_trader.adapters.polymarket.websocket.types import MARKET_WS_MESSAGE
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder, OrderBookDelta
from nautilus_trader.model.enums import BookAction, BookType, OrderSide
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider


def best_of(repeat, fn):
    return min(fn() for _ in range(repeat))


def main():
    with open(sys.argv[1]) as fh:
        inp = json.load(fh)
    repeat = inp["repeat"]
    inst = TestInstrumentProvider.binary_option()
    iid = inst.id
    ops = inp["book_ops"]

    def delta(is_bid, p, s):
        size = Quantity.from_str(s)
        order = BookOrder(OrderSide.BUY if is_bid else OrderSide.SELL, Price.from_str(p), size, 0)
        action = BookAction.UPDATE if size > 0 else BookAction.DELETE
        return OrderBookDelta(iid, action, order, 0, 0, 0, 0)

    prebuilt = [delta(*op) for op in ops]

    def book_prebuilt():
        book = OrderBook(iid, BookType.L2_MBP)
        c0 = time.process_time()
        for d in prebuilt:
            book.apply_delta(d)
            book.best_bid_price()
            book.best_ask_price()
        return time.process_time() - c0

    def book_raw():
        book = OrderBook(iid, BookType.L2_MBP)
        c0 = time.process_time()
        for is_bid, p, s in ops:
            book.apply_delta(delta(is_bid, p, s))
            book.best_bid_price()
            book.best_ask_price()
        return time.process_time() - c0

    decoder = msgspec.json.Decoder(MARKET_WS_MESSAGE)
    pc_frames = [f.encode() for f in inp["pc_frames"]]

    def decode_pc():
        c0 = time.process_time()
        for f in pc_frames:
            decoder.decode(f).parse_to_deltas(inst, 0)
        return time.process_time() - c0

    snap = decoder.decode(inp["e2e_snapshot"].encode())
    e2e_frames = [f.encode() for f in inp["e2e_frames"]]

    def e2e():
        book = OrderBook(iid, BookType.L2_MBP)
        book.apply_deltas(snap.parse_to_snapshot(inst, 0))
        c0 = time.process_time()
        for f in e2e_frames:
            book.apply_deltas(decoder.decode(f).parse_to_deltas(inst, 0))
            book.best_bid_price()
            book.best_ask_price()
        cpu = time.process_time() - c0
        return cpu, book

    cpu_e2e = min(e2e()[0] for _ in range(repeat))
    end_book = e2e()[1]
    out = {
        "book_prebuilt_us": best_of(repeat, book_prebuilt) / len(ops) * 1e6,
        "book_raw_us": best_of(repeat, book_raw) / len(ops) * 1e6,
        "decode_price_change_us": best_of(repeat, decode_pc) / len(pc_frames) * 1e6,
        "frame_to_book_us": cpu_e2e / len(e2e_frames) * 1e6,
        "e2e_best": [str(end_book.best_bid_price()), str(end_book.best_ask_price())],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
