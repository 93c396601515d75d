"""Reproduce the screenshots in ``docs/dashboard/``: what the Ray dashboard shows for our actors.

What it does, end to end (see ``docs/dashboard.md``):

1. starts a private Ray head **with the dashboard** as a child process (``ray start --head --block``,
   its own ``--temp-dir`` and ports, so it never touches another cluster on the machine), unless
   ``--address`` names one that is already running;
2. launches the default supervised tree against the simulated exchange with the control API
   (:func:`cluster.ray_runtime.control.start_tree`), lets it trade, then crashes one agent with
   :func:`cluster.ray_runtime.control.kill_agent` so a supervisor restart is visible;
3. drives headless Chromium over the DevTools protocol (no Selenium/Playwright: a websocket from
   aiohttp, which the project already depends on) and captures the Actors table, one actor's
   detail page with its logs, and the dashboard's Metrics view;
4. scrapes the node's Prometheus export port for the ``ray_polyagents_*`` series and keeps both the
   text and a rendering of it (the dashboard's own metrics charts need Grafana + Prometheus);
5. stops the tree and the cluster it started (only that cluster's processes).

Why a DevTools client instead of ``chromium --screenshot``: the dashboard is a single-page app that
fetches its data after load; we wait for the text we expect to appear instead of guessing a
virtual-time budget, and we can say precisely which page failed to show what.

Run: ``uv run python tools/dashboard_screenshot.py`` (about two minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import html
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Under `uv run`, Ray would start every worker through `uv run`; the venv's interpreter is enough.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROME_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*",
]
MAX_PNG_BYTES = 300 * 1024


# --------------------------------------------------------------------------- the cluster
@dataclass(frozen=True)
class ClusterPorts:
    gcs: int = 6390
    dashboard: int = 8265
    metrics_export: int = 8080
    dashboard_agent_listen: int = 52410
    client_server: int = 10001


class PrivateCluster:
    """A Ray head started by us and stopped by us (SIGTERM to ``ray start --block`` tears it down)."""

    def __init__(self, ports: ClusterPorts, temp_dir: str, num_cpus: int = 2) -> None:
        self.ports = ports
        self.temp_dir = temp_dir
        self.num_cpus = num_cpus
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(temp_dir + ".start.log")
        self.token_path: Path | None = None

    def start(self, timeout_s: float = 120.0) -> str:
        """Start the head; token authentication stays on (Ray's default) with a token of our own."""
        token_path = Path(self.temp_dir + ".auth_token")
        token_path.write_text(secrets.token_hex(32))
        token_path.chmod(0o600)
        # Set in this process too: the driver (ray.init) and the State API then present the same token.
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token_path)
        self.token_path = token_path
        ray_cli = str(Path(sys.executable).parent / "ray")
        p = self.ports
        cmd = [
            ray_cli, "start", "--head", "--block",
            f"--port={p.gcs}", f"--num-cpus={self.num_cpus}", "--object-store-memory=200000000",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={p.dashboard}",
            f"--metrics-export-port={p.metrics_export}",
            f"--dashboard-agent-listen-port={p.dashboard_agent_listen}",
            f"--ray-client-server-port={p.client_server}",
            f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
        ]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited {self.proc.returncode}: see {self.log_path}")
            if _http_ok(f"http://127.0.0.1:{p.dashboard}/api/gcs_healthz"):
                import ray

                return f"{ray.util.get_node_ip_address()}:{p.gcs}"
            time.sleep(1.0)
        raise RuntimeError(f"dashboard did not answer on port {p.dashboard} within {timeout_s:.0f}s")

    def stop(self) -> None:
        """SIGTERM to our own ``ray start --block``: it stops exactly the processes it started."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _http_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return str(r.read().decode())


# --------------------------------------------------------------------------- the society
def run_society(address: str, run_dir: str, kill: str, run_s: float) -> dict[str, Any]:
    """Start the default tree, let it run, crash ``kill`` and wait for its supervisor to restart it."""
    from cluster.ray_runtime import control

    # The trader's account must be the venue account the host opens for it (its agent id); the
    # default TraderConfig.account ("us") would make every start fail and the trader crash-loop.
    tree = {"agent_configs": {"trader": {"account": "trader"}}}
    started = control.start_tree(address=address, config=tree, world={"markets": 2, "speed": 1.0},
                                 run_dir=run_dir)
    print(f"tree up: {started['agents']}", flush=True)
    _wait(lambda: _all_running(control.tree_status()), 180, "every agent running")
    time.sleep(run_s)
    before = _agent(control.tree_status(), kill)
    path = control.kill_agent(kill)
    print(f"killed {path} (restarts before: {before['restarts']})", flush=True)
    _wait(lambda: _restarted(control.tree_status(), kill, before["restarts"]), 120, f"{kill} restarted")
    time.sleep(run_s)
    # The kill switch on and off again: the risk officer publishes HALTED then ACTIVE, so the
    # trading-state gauge has a value (it is only recorded when the state changes).
    control.kill_switch(True)
    time.sleep(12.0)
    control.kill_switch(False)
    time.sleep(12.0)
    status = control.tree_status()
    return {"started": started, "killed": path, "status": status}


def _agent(status: dict[str, Any], name: str) -> dict[str, Any]:
    for a in status["agents"]:
        if a["id"] == name:
            return dict(a)
    raise KeyError(name)


def _all_running(status: dict[str, Any]) -> bool:
    return bool(status["agents"]) and all(a["state"] == "running" for a in status["agents"])


def _restarted(status: dict[str, Any], name: str, before: int) -> bool:
    a = _agent(status, name)
    return bool(a["restarts"] > before and a["state"] == "running")


def _wait(cond: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except Exception as exc:  # the tree may be between states; say what we saw at the end
            last = exc
        else:
            last = None
        time.sleep(1.0)
    seen = ""
    with contextlib.suppress(Exception):
        from cluster.ray_runtime import control

        seen = json.dumps([(a["id"], a["state"], a["restarts"]) for a in control.tree_status()["agents"]])
    raise TimeoutError(f"waited {timeout_s:.0f}s for {what}" + (f" ({last})" if last else "") + f"; agents: {seen}")


def actors_by_name(dashboard: str) -> list[dict[str, Any]]:
    """Our actors as the State API (the dashboard's own source) lists them."""
    from ray.util.state import list_actors

    rows = list_actors(address=dashboard, filters=[("ray_namespace", "=", "polyagents")], limit=1000, detail=True)
    return [
        {"actor_id": r.actor_id, "name": r.name, "class_name": r.class_name, "state": r.state,
         "repr_name": r.repr_name, "num_restarts": r.num_restarts, "pid": r.pid}
        for r in rows
    ]


def polyagents_metrics(port: int, want: tuple[str, ...], timeout_s: float = 90.0) -> str:
    """The ``ray_polyagents_*`` lines of the node's Prometheus export, once ``want`` all appear."""
    deadline = time.monotonic() + timeout_s
    lines: list[str] = []
    while time.monotonic() < deadline:
        text = _http_text(f"http://127.0.0.1:{port}/metrics")
        lines = [ln for ln in text.splitlines() if "polyagents_" in ln]
        if all(any(ln.startswith(w) for ln in lines) for w in want):
            break
        time.sleep(2.0)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the browser
class Chromium:
    """Headless Chromium driven over the DevTools protocol (one page)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="polyagents-chromium-")
        self.proc: subprocess.Popen[bytes] | None = None
        self._ws: Any = None
        self._session: Any = None
        self._id = 0

    async def __aenter__(self) -> Chromium:
        import aiohttp

        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={self.profile}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json()
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = await self._session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        await self.send("Page.enable")
        await self.send("Emulation.setDeviceMetricsOverride",
                        width=self.width, height=self.height, deviceScaleFactor=1, mobile=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close()
        with contextlib.suppress(Exception):
            await self._session.close()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        shutil.rmtree(self.profile, ignore_errors=True)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        my = self._id
        await self._ws.send_json({"id": my, "method": method, "params": params})
        while True:
            msg = await self._ws.receive_json(timeout=60)
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))

    async def eval(self, expr: str) -> Any:
        res = await self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        return res.get("result", {}).get("value")

    async def goto(self, url: str, expect: list[str], timeout_s: float = 60.0) -> str:
        """Open ``url`` and wait until every string in ``expect`` is in the page's text."""
        await self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            text = str(await self.eval("document.body ? document.body.innerText : ''") or "")
            if all(e in text for e in expect):
                await asyncio.sleep(1.5)  # let charts and late rows settle before the picture
                return text
        missing = [e for e in expect if e not in text]
        raise TimeoutError(f"{url}: page never showed {missing}")

    async def click_text(self, text: str) -> bool:
        """Click the innermost visible element whose own text is exactly ``text``."""
        js = f"""(() => {{
          const want = {json.dumps(text)};
          const els = [...document.querySelectorAll('button, a, [role=tab], span, div, p')]
            .filter(e => e.innerText && e.innerText.trim() === want && e.offsetParent !== null);
          if (!els.length) return false;
          els[els.length - 1].click();
          return true;
        }})()"""
        return bool(await self.eval(js))

    async def screenshot(self, path: Path, full_height: int | None = None) -> int:
        if full_height is not None:
            await self.send("Emulation.setDeviceMetricsOverride",
                            width=self.width, height=full_height, deviceScaleFactor=1, mobile=False)
            await asyncio.sleep(1.0)
        shot = await self.send("Page.captureScreenshot", format="png")
        if full_height is not None:
            await self.send("Emulation.setDeviceMetricsOverride",
                            width=self.width, height=self.height, deviceScaleFactor=1, mobile=False)
        return save_png(base64.b64decode(shot["data"]), path)


def save_png(data: bytes, path: Path) -> int:
    """Save a screenshot, reduced to a palette PNG when it would exceed the size budget."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    if out.tell() > MAX_PNG_BYTES:
        out = io.BytesIO()
        img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    path.write_bytes(out.getvalue())
    return out.tell()


NOISY_LABELS = re.compile(r'(Component|NodeAddress|SessionName|Version|otel_scope_\w+)="[^"]*",?')


def metrics_html(text: str, source: str) -> str:
    """A plain page of the scraped series: agent and role highlighted, Ray's bookkeeping labels cut."""
    rows = []
    for ln in text.splitlines():
        if ln.startswith("#") or "_bucket{" in ln:
            continue
        esc = html.escape(NOISY_LABELS.sub("", ln).replace(",}", "}"))
        esc = re.sub(r"((?:agent|role)=&quot;[^&]*&quot;)", r"<b>\1</b>", esc)
        rows.append(f"<div>{esc}</div>")
    return (
        "<!doctype html><meta charset=utf-8><title>ray_polyagents_* series</title>"
        "<style>body{font:13px/1.5 monospace;margin:16px;background:#fff;color:#222}"
        "h1{font:600 16px sans-serif} b{color:#0b5394} p{font:13px sans-serif;color:#555}</style>"
        f"<h1>ray_polyagents_* series scraped from {html.escape(source)}</h1>"
        "<p>Histogram buckets, HELP/TYPE lines and Ray's Component, NodeAddress, SessionName, Version and "
        "otel_scope_* labels are left out here (they are in metrics.prom.txt). Every series carries "
        "<b>agent</b> and <b>role</b>, and WorkerId: a restarted host is a new worker, so its series is "
        "a new one.</p>" + "".join(rows)
    )


async def authenticate(b: Chromium, dashboard: str, token: str | None, out: Path) -> None:
    """Answer the dashboard's token prompt the way a user does (type the token, press SUBMIT)."""
    text = await b.goto(f"{dashboard}/#/actors", ["Actors"])
    if "Authentication Token Required" not in text:
        return
    await b.screenshot(out / "token_prompt.png")
    if token is None:
        raise RuntimeError("the dashboard asks for a token: pass --token-file (or `ray get-auth-token`)")
    await b.eval("document.querySelector('input[type=password]').focus()")
    await b.send("Input.insertText", text=token)
    if not await b.click_text("SUBMIT"):
        raise RuntimeError("token prompt without a SUBMIT button")
    await asyncio.sleep(3.0)


async def header_box(b: Chromium, label: str) -> dict[str, float]:
    js = f"""(() => {{
      const th = [...document.querySelectorAll('th')].find(t => t.innerText.trim() === {json.dumps(label)});
      if (!th) return null;
      const r = th.getBoundingClientRect();
      return {{left: r.left, right: r.right, top: r.top, bottom: r.bottom}};
    }})()"""
    box = await b.eval(js)
    if not box:
        raise RuntimeError(f"no table header {label!r} on the page")
    return dict(box)


def crop_png(src: Path, dst: Path, right: int) -> int:
    from PIL import Image

    img = Image.open(src)
    out = io.BytesIO()
    img.crop((0, 0, min(right, img.width), img.height)).save(out, "PNG")
    return save_png(out.getvalue(), dst)


async def capture(dashboard: str, out: Path, actors: list[dict[str, Any]], killed_path: str,
                  token: str | None, metrics_text: str, metrics_source: str,
                  prometheus: str | None) -> dict[str, Any]:
    shots: dict[str, Any] = {}
    dead = [a for a in actors if a["name"] == killed_path and a["state"] == "DEAD"]
    sup_path = killed_path.rsplit("/", 1)[0]
    sup = [a for a in actors if a["name"] == sup_path and a["state"] == "ALIVE"]
    # 1. the Actors table, wide enough that no column scrolls away (Restarted, Exit detail at the right)
    async with Chromium(3400, 1400) as b:
        await authenticate(b, dashboard, token, out)
        await b.goto(f"{dashboard}/#/actors", ["AgentHost(role=trader, id=trader)", "DEAD"])
        ok = await b.eval("""(() => { const i = [...document.querySelectorAll('input')].find(x => x.value === '10');
                              if (!i) return false; i.focus(); i.select(); return true; })()""")
        if ok:
            await b.send("Input.insertText", text="50")  # every actor on one page
            await asyncio.sleep(3.0)
        height = int(await b.eval("document.documentElement.scrollHeight"))
        state = await header_box(b, "State")
        shots["actors.png"] = await b.screenshot(out / "actors.png", full_height=height)
        # the same picture cut after the State column: ID, Worker ID, Class, Name, Repr, State legible
        shots["actors_repr.png"] = crop_png(out / "actors.png", out / "actors_repr.png", int(state["right"]) + 12)
    async with Chromium(1600, 1000) as b:
        await authenticate(b, dashboard, token, out)
        # 2. the killed host: DEAD, Restarted 0, the exit detail, its (empty) logs
        if dead:
            await b.goto(f"{dashboard}/#/actors/{dead[0]['actor_id']}", ["DEAD", "Exit Detail", "STDERR"])
            h = int(await b.eval("document.documentElement.scrollHeight"))
            shots["actor_dead.png"] = await b.screenshot(out / "actor_dead.png", full_height=min(h, 1300))
        # 3. the supervisor that restarted it: its detail page and its worker's stderr
        if sup:
            await b.goto(f"{dashboard}/#/actors/{sup[0]['actor_id']}", ["Supervisor(path=", "STDERR"])
            h = int(await b.eval("document.documentElement.scrollHeight"))
            shots["actor_logs.png"] = await b.screenshot(out / "actor_logs.png", full_height=min(h, 1300))
        # 4. the dashboard's Metrics view (charts need Grafana + Prometheus)
        page = await b.goto(f"{dashboard}/#/metrics", ["Metrics"])
        await b.send("Emulation.setDeviceMetricsOverride", width=1600, height=600, deviceScaleFactor=1, mobile=False)
        shots["metrics_view.png"] = await b.screenshot(out / "metrics_view.png")
        shots["metrics_view_text"] = " ".join(page.split())[:400]
        await b.send("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1, mobile=False)
        # 5. what the node exports for us, rendered
        page_file = out / ".metrics_page.html"
        page_file.write_text(metrics_html(metrics_text, metrics_source))
        try:
            await b.goto(page_file.as_uri(), ["ray_polyagents_"])
            h = int(await b.eval("document.documentElement.scrollHeight"))
            shots["metrics_prometheus.png"] = await b.screenshot(out / "metrics_prometheus.png",
                                                                 full_height=min(h, 1400))
        finally:
            page_file.unlink(missing_ok=True)
        # 6. Prometheus (if we ran one on Ray's generated config): one panel's query, graphed by agent
        if prometheus is not None:
            expr = "sum by (agent) (rate(ray_polyagents_messages_total[1m]))"
            url = (f"{prometheus}/classic/graph?g0.expr={urllib.parse.quote(expr)}&g0.tab=0"
                   "&g0.range_input=5m&g0.stacked=0")
            await b.goto(url, ["market_watcher", "strategist"], timeout_s=90)
            shots["prometheus_graph.png"] = await b.screenshot(out / "prometheus_graph.png", full_height=1100)
    return shots


# --------------------------------------------------------------------------- Prometheus (optional)
class PrivatePrometheus:
    """Prometheus on the scrape config Ray writes for the session (if a ``prometheus`` binary exists)."""

    def __init__(self, session_dir: Path, data_dir: Path, port: int = 9090) -> None:
        self.config = session_dir / "metrics" / "prometheus" / "prometheus.yml"
        self.data_dir = data_dir
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str | None:
        exe = shutil.which("prometheus")
        if exe is None or not self.config.exists():
            return None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, f"--config.file={self.config}", f"--storage.tsdb.path={self.data_dir}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        for _ in range(60):
            if _http_ok(f"{self.url}/-/ready"):
                return self.url
            time.sleep(0.5)
        self.stop()
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


def grafana_queries(path: Path) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of the Grafana dashboard JSON."""
    board = json.loads(path.read_text())
    return [(p.get("title", ""), t["expr"]) for p in board.get("panels", []) for t in p.get("targets", [])
            if t.get("expr")]


def check_grafana_queries(prometheus: str, path: Path) -> list[dict[str, Any]]:
    """Run each panel's query (``$agent`` = all) against Prometheus: which return series now."""
    results = []
    for title, expr in grafana_queries(path):
        q = expr.replace("$agent", ".*").replace("$__range", "5m").replace("$__rate_interval", "1m")
        body = json.loads(_http_text(f"{prometheus}/api/v1/query?query={urllib.parse.quote(q)}"))
        series = body.get("data", {}).get("result", [])
        agents = sorted({s["metric"].get("agent", "") for s in series})
        results.append({"panel": title, "status": body.get("status"), "series": len(series), "agents": agents})
    return results


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", default=str(REPO / "docs" / "dashboard"), help="where the PNGs go")
    ap.add_argument("--address", default=None, help="use this running cluster (it is not stopped afterwards)")
    ap.add_argument("--dashboard", default=None, help="dashboard URL (default http://127.0.0.1:8265)")
    ap.add_argument("--token-file", default=None, help="the cluster's auth token (with --address)")
    ap.add_argument("--metrics-port", type=int, default=ClusterPorts.metrics_export)
    ap.add_argument("--kill", default="strategist", help="agent to crash on purpose")
    ap.add_argument("--run-seconds", type=float, default=20.0)
    ap.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus even if installed")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ports = ClusterPorts(metrics_export=args.metrics_port)
    cluster: PrivateCluster | None = None
    prom: PrivatePrometheus | None = None
    prom_url: str | None = None
    work = Path(tempfile.mkdtemp(prefix="polyagents-dash-"))
    address = args.address
    dashboard = args.dashboard or f"http://127.0.0.1:{ports.dashboard}"
    token = Path(args.token_file).read_text().strip() if args.token_file else None
    try:
        if address is None:
            cluster = PrivateCluster(ports, str(work / "ray"))
            address = cluster.start()
            assert cluster.token_path is not None
            token = cluster.token_path.read_text().strip()
            print(f"cluster up at {address}, dashboard {dashboard}", flush=True)
            if not args.no_prometheus:
                prom = PrivatePrometheus(work / "ray" / "session_latest", work / "prometheus")
                prom_url = prom.start()
                print(f"prometheus: {prom_url or 'not installed; skipped'}", flush=True)
        result = run_society(address, str(work / "run"), args.kill, args.run_seconds)
        metrics_source = f"http://127.0.0.1:{args.metrics_port}/metrics"
        metrics_text = polyagents_metrics(args.metrics_port, (
            "ray_polyagents_messages_total", "ray_polyagents_mailbox_depth", "ray_polyagents_restarts_total",
            "ray_polyagents_handler_seconds_bucket", "ray_polyagents_trading_state",
        ))
        (out / "metrics.prom.txt").write_text(metrics_text)
        actors = actors_by_name(dashboard)
        shots = asyncio.run(capture(dashboard, out, actors, result["killed"], token, metrics_text,
                                    metrics_source, prom_url))
        panels = check_grafana_queries(prom_url, REPO / "docs" / "grafana" / "polyagents.json") if prom_url else []
        summary = {
            "killed": result["killed"],
            "agents": [{k: a[k] for k in ("id", "state", "restarts", "messages", "mailbox")}
                       for a in result["status"]["agents"]],
            "actors": [{k: a[k] for k in ("name", "class_name", "state", "repr_name", "num_restarts")}
                       for a in actors],
            "screenshots": {k: v for k, v in shots.items() if k.endswith(".png")},
            "metrics_view_text": shots.get("metrics_view_text", ""),
            "metric_names": sorted({ln.split("{")[0] for ln in metrics_text.splitlines()
                                    if ln and not ln.startswith("#")}),
            "grafana_panels_against_prometheus": panels,
        }
        (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary))
        return 0
    finally:
        if prom is not None:
            prom.stop()
        _shutdown(cluster)
        shutil.rmtree(work, ignore_errors=True)


def _shutdown(cluster: PrivateCluster | None) -> None:
    import ray

    if ray.is_initialized():
        from cluster.ray_runtime import control

        with contextlib.suppress(Exception):
            control.stop_tree()
        ray.shutdown()
    if cluster is not None:
        cluster.stop()
        print("cluster stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
