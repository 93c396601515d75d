"""Which Ray cluster is ours: the record ``polyagents up`` writes and every control command reads.

``up`` starts its own Ray head (``ray start --head --block`` in a new process session, so its PID
owns every process of that head) or joins an address it was given, starts the tree, and writes
``cluster.json`` in the state directory (``$POLYAGENTS_STATE_DIR``, default ``~/.polyagents``) and
in the run directory: the address, the namespace, the tree id, and the head's PID when ``up``
started it. Control commands act on that address (or an explicit ``--address``) and nowhere else;
there is no "whatever cluster this machine runs" fallback. ``down`` stops the head by that PID,
never with ``ray stop`` (which ends every Ray process of the user).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cluster.errors import OperationError, UserError

RECORD_FILE = "cluster.json"
HEAD_LOG = "ray-head.log"
#: What ``ray start --block`` prints once the head is up (then it blocks, watching its processes).
HEAD_READY = "This command will now block forever"


def state_dir() -> Path:
    """Where ``up`` records our cluster (read at each call, so a test can point it at a tmp dir)."""
    return Path(os.environ.get("POLYAGENTS_STATE_DIR") or Path.home() / ".polyagents")


@dataclass(frozen=True)
class ClusterRecord:
    address: str
    namespace: str
    tree_id: str
    run_dir: str
    auth_token_path: str | None = None
    """Ray's auth token of the head ``up`` started (its own, in the state directory: not the
    user-wide ``~/.ray/auth_token`` another cluster may overwrite)."""
    head_pid: int | None = None
    """The ``ray start --block`` process ``up`` started (its process group is the head), or None
    when ``up`` joined a cluster given with ``--address``."""


def same_address(a: str, b: str) -> bool:
    def norm(x: str) -> str:
        host, _, port = x.removeprefix("ray://").rpartition(":")
        return f"{'127.0.0.1' if host in ('localhost', '') else host}:{port}"

    return norm(a) == norm(b)


#: How long an unreachable address may take to fail, per step (Ray itself retries for minutes).
PROBE_TIMEOUT_S = 5.0
#: The client connection preface of HTTP/2 (RFC 9113 §3.4) and an empty SETTINGS frame.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_H2_SETTINGS = 0x4


def probe_gcs(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail in seconds, in one line, when no Ray cluster answers at ``address``, instead of Ray's
    minutes of retries and raw GCS warnings: nothing listens (a closed port, a host that does not
    answer), or something does that is not a Ray GCS. The GCS speaks gRPC, i.e. HTTP/2, whose
    server answers a client's connection preface with a SETTINGS frame before any call or
    authentication; a web server, a database or a port that accepts and stays silent does not.
    Here, not beside ``ray.init``, so a command fails before it spends seconds importing Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        conn = socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s)
    except ValueError:
        raise UserError(f"--address {address}: expected host:port") from None
    except OSError as exc:
        raise OperationError(f"no Ray cluster at {address}: {exc.strerror or type(exc).__name__}") from None
    try:
        conn.sendall(_H2_PREFACE)
        head = b""
        while len(head) < 9:  # a frame header: length (3), type (1), flags (1), stream (4)
            chunk = conn.recv(9 - len(head))
            if not chunk:
                break
            head += chunk
    except TimeoutError:
        raise OperationError(f"no Ray cluster at {address}: it accepts connections but did not answer "
                             f"in {timeout_s:.0f} s") from None
    except OSError as exc:
        raise OperationError(f"no Ray cluster at {address}: {exc.strerror or type(exc).__name__}") from None
    finally:
        conn.close()
    if len(head) < 9 or head[3] != _H2_SETTINGS:
        raise OperationError(f"no Ray cluster at {address}: something else listens there (not gRPC)")


def record_path() -> Path:
    return state_dir() / RECORD_FILE


def load_record() -> ClusterRecord | None:
    path = record_path()
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return ClusterRecord(**data)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: not a polyagents cluster record ({exc}); delete it or pass --address") from None


def save_record(rec: ClusterRecord) -> Path:
    """Write the record to the state directory and beside the run's journal."""
    text = json.dumps(asdict(rec), indent=2, sort_keys=True)
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    run = Path(rec.run_dir)
    if run.is_dir():
        (run / RECORD_FILE).write_text(text)
    return path


def clear_record() -> None:
    record_path().unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_bin() -> str:
    exe = Path(sys.executable).with_name("ray")
    if exe.exists():
        return str(exe)
    found = shutil.which("ray")
    if not found:
        raise OperationError("the `ray` command is not installed in this environment")
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def head_alive(rec: ClusterRecord) -> bool:
    """The recorded head process is still running and is still our ``ray start`` (not a reused PID)."""
    if rec.head_pid is None:
        return False
    port = rec.address.rsplit(":", 1)[-1]
    cmd = _cmdline(rec.head_pid)
    return "start" in cmd and "--block" in cmd and f"--port={port}" in cmd


def start_head(num_cpus: int | None, dashboard: bool, timeout_s: float = 300.0) -> tuple[str, int]:
    """Start a Ray head of our own on free local ports; return (address, PID of its process group).

    The ports a second head would collide on are picked free, so another cluster on this machine
    (another user's, another tree's) is neither joined nor disturbed. On a loaded machine Ray's
    raylet gives up on its dashboard agent after a fixed 15 s (ray-project/ray#65983) and the head
    dies at startup: that start is retried, within ``timeout_s`` overall."""
    deadline = time.monotonic() + timeout_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return _start_head_once(num_cpus, dashboard, deadline)
        except _HeadStartTimedOut as exc:
            if time.monotonic() > deadline or attempt >= 4:
                raise OperationError(f"ray start failed {attempt} time(s): {exc}") from None


class _HeadStartTimedOut(Exception):
    """``ray start`` gave up during its own startup (the node did not register in time)."""


def _start_head_once(num_cpus: int | None, dashboard: bool, deadline: float) -> tuple[str, int]:
    port = free_port()
    cmd = [
        _ray_bin(), "start", "--head", "--block", "--disable-usage-stats", f"--port={port}",
        f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
    ]
    if dashboard:
        cmd += ["--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={free_port()}"]
    else:
        cmd.append("--include-dashboard=false")
    if num_cpus:
        cmd.append(f"--num-cpus={num_cpus}")
    d = state_dir()
    d.mkdir(parents=True, exist_ok=True)
    log_path = d / HEAD_LOG
    # workers use this venv's interpreter (not `uv run`)
    env = {"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", **os.environ, **auth_env(ensure_token())}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    while True:
        text = log_path.read_text(errors="replace")
        if HEAD_READY in text:
            m = re.search(r"ray start --address='([^']+)'", text)
            return (m.group(1) if m else f"127.0.0.1:{port}"), proc.pid
        code = proc.poll()
        if code is not None:
            stop_head(proc.pid, timeout_s=30)  # whatever it left behind in its own group
            last = ([ln for ln in text.splitlines() if ln.strip()] or ["no output"])[-1].strip()
            if "timed out during startup" in last:
                raise _HeadStartTimedOut(f"{last} (log: {log_path})")
            raise OperationError(f"ray start failed (exit {code}): {last} (log: {log_path})")
        if time.monotonic() > deadline:
            stop_head(proc.pid, timeout_s=30)
            raise OperationError(f"the Ray head did not start in time (log: {log_path})")
        time.sleep(0.2)  # polling a log file for a condition, with the deadline above


def token_path() -> Path:
    return state_dir() / "ray_auth_token"


def ensure_token() -> Path:
    """Our heads' own Ray auth token (created once, readable by this user only)."""
    import secrets

    path = token_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path


def auth_env(token_path: Path | str | None) -> dict[str, str]:
    """The environment a Ray client needs to talk to a head that uses ``token_path``."""
    return {} if token_path is None else {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}


def use_record_auth(rec: ClusterRecord | None) -> None:
    """Before this process first joins Ray: authenticate with the recorded head's own token."""
    if rec is not None and rec.auth_token_path is not None:
        os.environ.update(auth_env(rec.auth_token_path))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_head(pid: int, timeout_s: float = 60.0) -> None:
    """Stop the head ``up`` started: SIGTERM to its own process group (``ray start --block`` then
    stops the head's processes), SIGKILL to what is left after ``timeout_s``. Nothing else is touched."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _group_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when this process is its parent (tests)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            break
        time.sleep(0.2)  # polling for the processes to exit, with the deadline above
