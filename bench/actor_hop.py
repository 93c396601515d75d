"""Host-to-host delivery on Ray vs a raw Ray actor call, and tick-to-order through four hosts.

Same run, same cluster, interleaved rounds:

- *ours*: two AgentHosts in live mode; agent A publishes a ``Command`` to B through the router
  (batched ``deliver`` call, bounded mailbox, handler dispatch), B answers the same way; A times
  the round trip. ``hop_us`` is half the round trip.
- *raw*: two plain async Ray actors doing the same ping-pong with one fire-and-forget actor call
  each way, carrying the same envelope (so both pay the same serialisation and the ratio is the
  runtime's own overhead). ``raw_ray_us`` is half that round trip. ``ratio`` = hop / raw (target
  ≤ 1.3).
- *tick to order*: a tick published by the venue world goes watcher → strategist → risk officer →
  trader, four hosts in a line (role-named forwarders: this measures the runtime's path, not the
  strategies' arithmetic); the trader stage writes an ``OrderRequest`` ahead to the journal actor
  with ``durable=True`` (a DuckDB commit before it returns, as the trader does before every send)
  and then makes a venue call as an order send would, then records now − tick time. Every stage
  stamps the tick on arrival, so the p50/p99 of each segment is reported (``breakdown_ms``):
  the venue world's inject → watcher, each host-to-host hop, the durable write-ahead and the venue
  call. ``serialise_us`` is what pickling and unpickling one delivered batch costs in-process (the
  serialisation share of a hop); ``raw_ray_us`` is a bare actor call (the transport's share); a
  hop above both is the runtime's own work or waiting for an in-flight batch (``batching``: the
  router sends one batch per link at a time, so a message waits only while the link is busy).

Prints progress to stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray
from ray import cloudpickle

from agents.base import Agent, AgentConfig, Subscription
from cluster.ray_runtime.host import AgentHost, HostSpec
from cluster.ray_runtime.services import JournalService, VenueWorld, WorldConfig
from cluster.ray_runtime.supervisor import LiveSettings, SupervisorActor
from protocols import Command, Envelope, OrderRequest, Side, TimeInForce
from supervisors.spec import SupervisorSpec


class Pinger(Agent[AgentConfig]):
    role = "bench"

    def __init__(self, agent_id: str, peer: str) -> None:
        super().__init__(agent_id)
        self.peer = peer
        self._fut: asyncio.Future[int] | None = None

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        return (Subscription(Command, self.agent_id),)

    def on_message(self, envelope: Envelope) -> None:
        if self._fut is not None and not self._fut.done():
            self._fut.set_result(time.perf_counter_ns())

    async def run(self, n: int) -> list[int]:
        out = []
        loop = asyncio.get_running_loop()
        for i in range(n):
            self._fut = loop.create_future()
            t0 = time.perf_counter_ns()
            self.ctx.publish(Command(time_ns=time.time_ns(), target=self.peer, name="ping", args={"i": str(i)}))
            t1 = await self._fut
            out.append(t1 - t0)
        return out


class Ponger(Agent[AgentConfig]):
    role = "bench"

    def __init__(self, agent_id: str, peer: str) -> None:
        super().__init__(agent_id)
        self.peer = peer

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        return (Subscription(Command, self.agent_id),)

    def on_message(self, envelope: Envelope) -> None:
        self.ctx.publish(Command(time_ns=time.time_ns(), target=self.peer, name="pong"))


class Stage(Agent[AgentConfig]):
    """One stage of the tick-to-order line: forwards the tick; the last one 'sends the order'."""

    def __init__(self, agent_id: str, nxt: str | None) -> None:
        super().__init__(agent_id)
        self.nxt = nxt
        self.latencies_ns: list[int] = []
        self.stamps: list[dict[str, int]] = []

    def initial_subscriptions(self) -> tuple[Subscription, ...]:
        return (Subscription(Command, self.agent_id),)

    async def on_message(self, envelope: Envelope) -> None:
        p = envelope.payload
        assert isinstance(p, Command)
        args = {**p.args, f"at_{self.agent_id}": str(time.time_ns())}
        if self.nxt is not None:
            self.ctx.publish(Command(time_ns=p.time_ns, target=self.nxt, name="tick", args=args))
            return
        venue = self.ctx.venue
        assert venue is not None
        journal = self.ctx.journal
        if journal is not None:  # the write-ahead, durable, as the trader does before each send
            req = OrderRequest(
                time_ns=time.time_ns(), client_order_id=f"bench-{p.args['i']}", account=self.agent_id,
                token_id="bench-token", market="bench-market", side=Side.BUY, price=Decimal("0.5"),
                size=Decimal(5), tif=TimeInForce.GTC,
            )
            await journal.record(req, agent=self.agent_id, durable=True)
        t_journal = time.time_ns()
        await venue.order_status(f"bench-{p.args['i']}")  # the order send's round trip to the venue
        now = time.time_ns()
        self.latencies_ns.append(now - int(p.args["t0"]))
        self.stamps.append({**{k: int(v) for k, v in args.items() if k.startswith(("at_", "t0"))},
                            "journal_done": t_journal, "venue_done": now})

    def status(self) -> dict[str, Any]:
        return {"latencies_ns": self.latencies_ns, "stamps": self.stamps}


@ray.remote
class RawPing:
    def __init__(self) -> None:
        self._fut: asyncio.Future[int] | None = None

    async def back(self, batch: list[Envelope]) -> None:
        if self._fut is not None and not self._fut.done():
            self._fut.set_result(time.perf_counter_ns())

    async def run(self, pong: Any, me: Any, n: int) -> list[int]:
        out = []
        loop = asyncio.get_running_loop()
        for i in range(n):
            self._fut = loop.create_future()
            t0 = time.perf_counter_ns()
            env = Envelope.trusted(
                f"raw#{i}",
                time.time_ns(),
                "raw",
                Command(time_ns=time.time_ns(), target="pong", name="ping", args={"i": str(i)}),
            )
            pong.pong.remote([env], me)
            out.append(await self._fut - t0)
        return out


@ray.remote
class RawPong:
    async def pong(self, batch: list[Envelope], ping: Any) -> None:
        env = Envelope.trusted(
            "raw-pong", time.time_ns(), "raw", Command(time_ns=time.time_ns(), target="ping", name="pong")
        )
        ping.back.remote([env])


def host(agent: Agent[Any], ns: str, role: str, venue: str | None = None, journal: str | None = None) -> Any:
    spec = HostSpec(
        agent_id=agent.agent_id,
        role=role,
        path=f"bench/{agent.agent_id}",
        namespace=ns,
        agent_bytes=cloudpickle.dumps(agent),
        metrics="none",
        registry_name="root",
        venue_name=venue,
        venue_account=agent.agent_id if venue else None,
        journal_name=journal,
        checkpoint_every_n=10**9,
        checkpoint_every_s=1e9,
    )
    return AgentHost.options(name=spec.path, namespace=ns, num_cpus=0).remote(spec, "live")  # type: ignore[attr-defined]


def durable_costs(tmp: str, n: int) -> dict[str, dict[str, float]]:
    """What a durable write costs on this disk without Ray: the journal's DuckDB commit of one
    ``OrderRequest`` (what the journal actor does per write-ahead) and, for scale, one appended
    line + ``fdatasync`` (the floor of any write-ahead that survives a power cut)."""
    from cluster.journal import Journal

    j = Journal(f"{tmp}/inproc.duckdb")
    duck: list[float] = []
    for i in range(n):
        req = OrderRequest(time_ns=time.time_ns(), client_order_id=f"inproc-{i}", account="a", token_id="t",
                           market="m", side=Side.BUY, price=Decimal("0.5"), size=Decimal(5), tif=TimeInForce.GTC)
        t = time.perf_counter_ns()
        j.record_sync(req, agent="a", durable=True)
        duck.append((time.perf_counter_ns() - t) / 1e6)
    j.close()
    fd = os.open(f"{tmp}/wal.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sync: list[float] = []
    try:
        for i in range(n):
            t = time.perf_counter_ns()
            os.write(fd, f'{{"client_order_id":"inproc-{i}","price":"0.5","size":"5"}}\n'.encode())
            os.fdatasync(fd)
            sync.append((time.perf_counter_ns() - t) / 1e6)
    finally:
        os.close(fd)
    return {
        name: {"p50": round(statistics.median(xs), 3), "p99": round(pct(xs, 0.99), 3)}
        for name, xs in (("duckdb_commit", duck), ("append_fdatasync", sync))
    }


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=300, help="ping-pongs per round and kind")
    ap.add_argument("--ticks", type=int, default=300)
    ap.add_argument("--tick-gap-ms", type=float, default=10.0)
    ap.add_argument("--no-journal", action="store_true", help="leave out the durable write-ahead")
    args = ap.parse_args()
    ns = "bench-hop"
    for attempt in range(1, 4):  # a loaded 2-core machine can miss the raylet's 30 s to register
        try:
            # address="local": a cluster of its own, never one another process on the machine started
            ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024,
                     include_dashboard=False, namespace=ns, log_to_driver=False)
            break
        except Exception as exc:
            if attempt == 3 or "timed out during startup" not in str(exc):
                raise
            ray.shutdown()
    settings = LiveSettings(namespace=ns, world_name="world")
    root = SupervisorActor.options(name="root", namespace=ns, num_cpus=0).remote(  # type: ignore[attr-defined]
        SupervisorSpec(id="root").model_dump_json(), "root", None, settings
    )
    world = VenueWorld.options(name="world", namespace=ns, num_cpus=0).remote(WorldConfig(crowd=False), ns)  # type: ignore[attr-defined]
    jdir = tempfile.mkdtemp(prefix="bench-hop-")
    journal = JournalService.options(name="journal", namespace=ns, num_cpus=0).remote(f"{jdir}/journal.duckdb")  # type: ignore[attr-defined]
    ray.get([root.ping.remote(), world.setup.remote(), journal.setup.remote()])

    a, b = host(Pinger("a", "b"), ns, "bench"), host(Ponger("b", "a"), ns, "bench")
    stages = [
        ("market_watcher", "strategist"),
        ("strategist", "risk_officer"),
        ("risk_officer", "trader"),
        ("trader", None),
    ]
    line = {
        sid: host(Stage(sid, nxt), ns, sid, venue="world" if nxt is None else None,
                  journal="journal" if nxt is None and not args.no_journal else None)
        for sid, nxt in stages
    }
    hosts = [a, b, *line.values()]
    ray.get([h.setup.remote(None) for h in hosts])
    ray.get([h.start_live.remote() for h in hosts])
    ray.get([h.state.remote() for h in hosts])
    ping, pong = RawPing.remote(), RawPong.remote()  # type: ignore[attr-defined]
    ray.get([ping.__ray_ready__.remote(), pong.__ray_ready__.remote()])

    ours: list[float] = []
    raw: list[float] = []
    for r in range(args.rounds):
        warm = 1 if r == 0 else 0
        raw_rtt = ray.get(ping.run.remote(pong, ping, args.n))
        our_rtt = ray.get(a.call_agent.remote("run", args.n))
        if not warm:
            raw += [x / 2 / 1000 for x in raw_rtt]
            ours += [x / 2 / 1000 for x in our_rtt]
        print(
            f"round {r}: ours p50 {statistics.median(our_rtt) / 2000:.0f} us, "
            f"raw p50 {statistics.median(raw_rtt) / 2000:.0f} us",
            file=sys.stderr,
        )

    for i in range(args.ticks):
        t0 = time.time_ns()
        ray.get(
            world.inject.remote(
                Command(time_ns=t0, target="market_watcher", name="tick", args={"i": str(i), "t0": str(t0)}),
                "venue:sim",
            )
        )
        time.sleep(args.tick_gap_ms / 1000)
    lat: list[int] = []
    stamps: list[dict[str, int]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st = ray.get(line["trader"].state.remote())["status"]
        lat, stamps = st["latencies_ns"], st["stamps"]
        if len(lat) >= args.ticks:
            break
        time.sleep(0.2)
    ms = [x / 1e6 for x in lat]
    points = ["t0", "at_market_watcher", "at_strategist", "at_risk_officer", "at_trader", "journal_done",
              "venue_done"]
    names = ["inject_to_watcher", "watcher_to_strategist", "strategist_to_risk", "risk_to_trader",
             "journal_write_ahead", "venue_call"]
    breakdown: dict[str, dict[str, float]] = {}
    for name, a_, b_ in zip(names, points[:-1], points[1:], strict=True):
        seg = [(s_[b_] - s_[a_]) / 1e6 for s_ in stamps if a_ in s_ and b_ in s_]
        if seg:
            breakdown[name] = {"p50": round(statistics.median(seg), 3), "p99": round(pct(seg, 0.99), 3),
                               "max": round(max(seg), 3)}
    slow = sorted(stamps, key=lambda s_: s_["venue_done"] - s_["t0"])[-max(1, len(stamps) // 100):]
    slowest = {n: round(statistics.mean((s_[b_] - s_[a_]) / 1e6 for s_ in slow), 3)
               for n, a_, b_ in zip(names, points[:-1], points[1:], strict=True)}
    batch = [Envelope.trusted("x#1", time.time_ns(), "market_watcher",
                              Command(time_ns=time.time_ns(), target="strategist", name="tick",
                                      args={"i": "1", "t0": str(time.time_ns()), "at_market_watcher": "1"}))]
    c0 = time.perf_counter_ns()
    for _ in range(2000):
        cloudpickle.loads(cloudpickle.dumps(batch))
    serialise_us = (time.perf_counter_ns() - c0) / 2000 / 1000
    commit = durable_costs(jdir, 200)
    hop, rawp = statistics.median(ours), statistics.median(raw)
    result = {
        "hop_us_p50": round(hop, 1),
        "raw_ray_us_p50": round(rawp, 1),
        "ratio": round(hop / rawp, 3),
        "ratio_target": 1.3,
        "hop_us_p99": round(pct(ours, 0.99), 1),
        "raw_ray_us_p99": round(pct(raw, 0.99), 1),
        "tick_to_order_ms_p50": round(statistics.median(ms), 3) if ms else None,
        "tick_to_order_ms_p99": round(pct(ms, 0.99), 3) if ms else None,
        "tick_to_order_target_ms_p99": 10.0,
        "journal_durable": not args.no_journal,
        "breakdown_ms": breakdown,
        "slowest_1pct_mean_ms": slowest,
        "serialise_us": round(serialise_us, 1),
        "durable_in_process_ms": commit,
        "ticks_delivered": len(ms),
        "ticks_sent": args.ticks,
        "samples": len(ours),
    }
    ray.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
