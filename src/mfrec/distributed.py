"""Training across hosts on MXNet's parameter server (ps-lite), as SageMaker lays hosts out.

Every host runs one worker (the `train` process itself) and one server (a child process);
the first host in sorted order also runs the scheduler. The DMLC_* variables come from the
resource config: the scheduler address is the first host's name, resolved with retries while
DNS settles, the interface is network_interface_name.

ps-lite neither notices a dead peer nor times out: a worker whose peer died waits in push/pull
forever. So the hosts also keep a small TCP "coordinator" link (first host, scheduler port + 1):
a host that fails sends its reason; a host whose link drops before it finished counts as
failed; either way every host writes "host X failed: reason" to /opt/ml/output/failure and
exits with the failing host's exit code. The first host finishes last (SageMaker local mode
stops the other containers as soon as it exits).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from mfrec.errors import UserError

log = logging.getLogger("mfrec.distributed")

DIST_KVSTORES = ("dist_sync", "dist_async")
DEFAULT_PORT = 8000
EXIT_PEER_FAILED = 2


@dataclass(frozen=True)
class ClusterSpec:
    hosts: tuple[str, ...]
    current_host: str
    interface: str
    port: int = DEFAULT_PORT
    resolve_timeout_s: float = 300.0
    startup_timeout_s: float = 1800.0
    finish_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosts", tuple(sorted(self.hosts)))
        if self.current_host not in self.hosts:
            raise UserError(f"current_host {self.current_host!r} is not among hosts {list(self.hosts)}")

    @property
    def scheduler_host(self) -> str:
        return self.hosts[0]

    @property
    def index(self) -> int:
        return self.hosts.index(self.current_host)

    @property
    def count(self) -> int:
        return len(self.hosts)

    @property
    def is_first(self) -> bool:
        return self.index == 0

    @property
    def coordinator_port(self) -> int:
        return self.port + 1

    @classmethod
    def from_config(cls, config, environ: Mapping[str, str]) -> "ClusterSpec":
        """MFREC_PS_PORT moves the scheduler port (and the coordinator's, one above it)."""
        port = int(environ.get("MFREC_PS_PORT", DEFAULT_PORT))
        return cls(hosts=tuple(config.hosts), current_host=config.current_host,
                   interface=config.network_interface_name, port=port)


def _nothing(*_args) -> None:
    pass


@dataclass(frozen=True)
class WorkerRole:
    """What the training loop needs to know about its place in the cluster. passed_final_barrier
    is called once every worker has reached the end (the first host's outputs are written)."""

    index: int = 0
    count: int = 1
    passed_final_barrier: Callable[[], None] = _nothing
    # agree(key, value) returns once every host sent the same value; a difference fails the job.
    agree: Callable[[str, str], None] = _nothing

    @property
    def writes_outputs(self) -> bool:
        return self.index == 0


SINGLE_WORKER = WorkerRole()


def free_port_pair() -> int:
    """A port p with p and p + 1 free: for MFREC_PS_PORT (scheduler, and the coordinator above it)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("0.0.0.0", 0))
            port = probe.getsockname()[1]
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("0.0.0.0", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def is_distributed_kvstore(kvstore: str | None) -> bool:
    return kvstore in DIST_KVSTORES


def resolve_address(host: str, timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> str:
    """IPv4 address of host, retrying until timeout_s: SageMaker's DNS entries appear late."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        except socket.gaierror as error:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"cannot resolve the scheduler host {host!r} within {timeout_s:.0f} s: {error}") from error
            sleep(1.0)


def ps_environment(spec: ClusterSpec, scheduler_address: str, role: str) -> dict[str, str]:
    return {
        "DMLC_ROLE": role,
        "DMLC_PS_ROOT_URI": scheduler_address,
        "DMLC_PS_ROOT_PORT": str(spec.port),
        "DMLC_NUM_SERVER": str(spec.count),
        "DMLC_NUM_WORKER": str(spec.count),
        "DMLC_INTERFACE": spec.interface,
        "PS_VERBOSE": "0",
    }


# ---------------------------------------------------------------------------------------------
# The coordinator link: one line per message, "hello HOST", "done", "fail CODE REASON",
# "agree KEY VALUE" (answered by "agreed KEY" once every host sent the same value).


def _keepalive(sock: socket.socket) -> None:
    """A peer that vanishes without closing (host lost) is noticed within about a minute."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 20), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 4)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def _send(sock: socket.socket, line: str) -> None:
    try:
        sock.sendall((line.replace("\n", " ") + "\n").encode())
    except OSError:
        pass


def _lines(sock: socket.socket):
    """The lines a peer sends until it closes or the connection breaks."""
    reader = sock.makefile("r", encoding="utf-8", errors="replace")
    try:
        yield from reader
    except OSError:
        return


class Coordinator:
    """Runs on the first host: relays the first failure to every host, counts finished hosts."""

    def __init__(self, spec: ClusterSpec, bind_address: str = "0.0.0.0") -> None:
        self.spec = spec
        self._server = socket.create_server((bind_address, spec.coordinator_port), reuse_port=False)
        self._lock = threading.Lock()
        self._peers: dict[str, socket.socket] = {}
        self._done: set[str] = set()
        self._agreements: dict[str, dict[str, str]] = {}
        self._failure: str | None = None
        self._all_done = threading.Event()
        threading.Thread(target=self._accept, name="coordinator-accept", daemon=True).start()
        threading.Thread(target=self._startup_deadline, name="coordinator-deadline", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            _keepalive(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        host = None
        for line in _lines(sock):
            kind, _, rest = line.strip().partition(" ")
            if kind == "hello":
                host = rest
                with self._lock:
                    self._peers[host] = sock
                    failure = self._failure
                if failure:
                    _send(sock, failure)
            elif kind == "done" and host:
                with self._lock:
                    self._done.add(host)
                    if len(self._done) == self.spec.count:
                        self._all_done.set()
            elif kind == "fail":
                code, _, reason = rest.partition(" ")
                self._broadcast(code, f"host {host} failed: {reason}")
            elif kind == "agree" and host:
                self._agree(host, *rest.partition(" ")[::2])
        if host is not None and host not in self._done:
            self._broadcast(str(EXIT_PEER_FAILED), f"host {host} stopped before finishing (process died or host unreachable)")

    def _agree(self, host: str, key: str, value: str) -> None:
        with self._lock:
            values = self._agreements.setdefault(key, {})
            values[host] = value
            if len(values) < self.spec.count:
                return
            peers = list(self._peers.values())
        if len(set(values.values())) == 1:
            for sock in peers:
                _send(sock, f"agreed {key}")
        else:
            listed = "; ".join(f"{h}: {v}" for h, v in sorted(values.items()))
            self._broadcast(str(EXIT_PEER_FAILED), f"the hosts disagree on {key} ({listed})")

    def _broadcast(self, code: str, reason: str) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = f"fail {code} {reason}"
            failure, peers = self._failure, list(self._peers.values())
        for sock in peers:
            _send(sock, failure)

    def _startup_deadline(self) -> None:
        time.sleep(self.spec.startup_timeout_s)
        with self._lock:
            missing = sorted(set(self.spec.hosts) - set(self._peers))
        if missing:
            self._broadcast(str(EXIT_PEER_FAILED), f"host(s) {', '.join(missing)} did not join within {self.spec.startup_timeout_s:.0f} s")

    def wait_all_done(self, timeout_s: float) -> bool:
        return self._all_done.wait(timeout_s)

    def close(self) -> None:
        self._server.close()


class CoordinatorLink:
    """Every host's connection to the coordinator. on_failure(code, reason) runs on its thread."""

    def __init__(self, spec: ClusterSpec, address: str, on_failure: Callable[[int, str], None]) -> None:
        self.spec = spec
        self._on_failure = on_failure
        self._finished = threading.Event()
        self._agreed: dict[str, threading.Event] = {}
        self._sock = self._connect(address)
        _send(self._sock, f"hello {spec.current_host}")
        threading.Thread(target=self._listen, name="coordinator-link", daemon=True).start()

    def _connect(self, address: str) -> socket.socket:
        deadline = time.monotonic() + self.spec.startup_timeout_s
        while True:
            try:
                sock = socket.create_connection((address, self.spec.coordinator_port), timeout=10)
                sock.settimeout(None)
                _keepalive(sock)
                return sock
            except OSError as error:
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"cannot reach the first host {self.spec.scheduler_host} "
                                       f"({address}:{self.spec.coordinator_port}): {error}") from error
                time.sleep(1.0)

    def _listen(self) -> None:
        for line in _lines(self._sock):
            kind, _, rest = line.strip().partition(" ")
            if kind == "agreed":
                self._agreed.setdefault(rest, threading.Event()).set()
            elif kind == "fail":
                if self._finished.is_set():
                    return  # this host's own failure, relayed back, or a failure after it finished
                code, _, reason = rest.partition(" ")
                self._on_failure(int(code) if code.isdigit() else EXIT_PEER_FAILED, reason)
                return
        if not self._finished.is_set():
            self._on_failure(EXIT_PEER_FAILED, f"lost the link to the first host {self.spec.scheduler_host}")

    def agree(self, key: str, value: str) -> None:
        """Blocks until every host sent the same value (a difference ends the process)."""
        event = self._agreed.setdefault(key, threading.Event())
        _send(self._sock, f"agree {key} {value}")
        event.wait()

    def report_failure(self, code: int, reason: str) -> None:
        self._finished.set()
        _send(self._sock, f"fail {code} {reason}")

    def report_done(self) -> None:
        self._finished.set()
        _send(self._sock, "done")

    def close(self) -> None:
        self._finished.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# The scheduler and server processes.


# mxnet runs the scheduler/server loop when imported with DMLC_ROLE set to it. Before that the
# child asks Linux to kill it when its parent dies (PR_SET_PDEATHSIG), so a killed worker
# leaves no server behind.
_PS_PROGRAM = (
    "import ctypes, os, sys; ctypes.CDLL(None).prctl(1, 9); "
    "os.getppid() == int(sys.argv[1]) or sys.exit(3); import mxnet"
)


@dataclass
class PsProcesses:
    """The scheduler (first host) and server child processes; an early exit is a failure."""

    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    closing: bool = False

    @classmethod
    def start(cls, spec: ClusterSpec, scheduler_address: str, environ: Mapping[str, str]) -> "PsProcesses":
        roles = (["scheduler"] if spec.is_first else []) + ["server"]
        started = cls()
        for role in roles:
            env = {**environ, **ps_environment(spec, scheduler_address, role), "OMP_NUM_THREADS": "1"}
            started.processes[role] = subprocess.Popen([sys.executable, "-c", _PS_PROGRAM, str(os.getpid())], env=env)
            log.info("started the parameter-server %s (pid %d)", role, started.processes[role].pid)
        return started

    def watch(self, on_failure: Callable[[int, str], None]) -> None:
        for role, process in self.processes.items():
            threading.Thread(target=self._watch_one, args=(role, process, on_failure), daemon=True).start()

    def _watch_one(self, role: str, process: subprocess.Popen, on_failure) -> None:
        # Exit code 0 only follows the stop command the workers send when they close the kvstore.
        code = process.wait()
        if code != 0 and not self.closing:
            on_failure(EXIT_PEER_FAILED, f"the parameter-server {role} exited with code {code} during training")

    def wait(self, timeout_s: float) -> None:
        self.closing = True
        deadline = time.monotonic() + timeout_s
        for role, process in self.processes.items():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("the parameter-server %s did not stop within %.0f s; killing it", role, timeout_s)
                process.kill()

    def kill(self) -> None:
        self.closing = True
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()


# ---------------------------------------------------------------------------------------------
# One host's part in the job.


class Cluster:
    """Start the parameter-server processes and the coordinator link; set the worker's DMLC_*.

    Use as a context manager around the training job; an exception leaving it is reported to
    every host before it propagates.
    """

    def __init__(self, spec: ClusterSpec, failure_file: Path, environ: Mapping[str, str] | None = None,
                 exit: Callable[[int], None] = os._exit) -> None:
        self.spec = spec
        self.failure_file = failure_file
        self._environ = dict(os.environ if environ is None else environ)
        self._exit = exit
        self._coordinator: Coordinator | None = None
        self._link: CoordinatorLink | None = None
        self._ps = PsProcesses()
        self._failed = threading.Lock()
        self._past_final_barrier = threading.Event()

    @property
    def role(self) -> WorkerRole:
        return WorkerRole(index=self.spec.index, count=self.spec.count,
                          passed_final_barrier=self._past_final_barrier.set, agree=self._link.agree)

    def __enter__(self) -> "Cluster":
        self._take_over_sigterm()
        address = resolve_address(self.spec.scheduler_host, self.spec.resolve_timeout_s)
        log.info("cluster of %d host(s) %s; this is %s (worker %d); scheduler %s:%d",
                 self.spec.count, ",".join(self.spec.hosts), self.spec.current_host, self.spec.index,
                 address, self.spec.port)
        if self.spec.is_first:
            self._coordinator = Coordinator(self.spec)
        self._link = CoordinatorLink(self.spec, address, self._peer_failed)
        self._ps = PsProcesses.start(self.spec, address, self._environ)
        self._ps.watch(self._peer_failed)
        # Read by MXNet when the Trainer creates its kvstore.
        os.environ.update(ps_environment(self.spec, address, "worker"))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            self._report_own_failure(exc)
            return
        self._ps.wait(self.spec.finish_timeout_s)
        self._link.report_done()
        if self._coordinator is not None:
            if not self._coordinator.wait_all_done(self.spec.finish_timeout_s):
                log.warning("not every host reported done within %.0f s", self.spec.finish_timeout_s)
            self._coordinator.close()
        self._link.close()
        log.info("host %s finished", self.spec.current_host)

    def _report_own_failure(self, exc: BaseException) -> None:
        """Tell every host, write the failure file, and end the process here: a live dist kvstore's
        destructor would wait at a barrier for workers that are gone."""
        from mfrec.train import exit_code_for, failure_reason, report_failure

        self._failed.acquire(blocking=False)
        code = exit_code_for(exc)
        if self._link is not None:
            self._link.report_failure(code, failure_reason(exc))
        self._ps.kill()
        report_failure(exc, self.failure_file)
        if self._coordinator is not None:
            time.sleep(1.0)  # let the relay reach the other hosts before this process ends
        logging.shutdown()
        self._exit(code)

    def _peer_failed(self, code: int, reason: str) -> None:
        """Another host (or this host's server/scheduler) failed: stop now, whatever the worker does."""
        if not self._failed.acquire(blocking=False):
            return
        log.error("stopping: %s", reason)
        try:
            self.failure_file.parent.mkdir(parents=True, exist_ok=True)
            self.failure_file.write_text(reason[:1024], encoding="utf-8")
        except OSError as error:
            log.error("cannot write %s: %s", self.failure_file, error)
        if self._link is not None:
            self._link.report_failure(code, reason)
        self._ps.kill()
        if self._coordinator is not None:
            time.sleep(1.0)
        logging.shutdown()
        self._exit(code)

    def _take_over_sigterm(self) -> None:
        """SIGTERM stops every host at once, without a mid-epoch checkpoint (the hosts are at
        different batches; the first host's end-of-epoch checkpoint stays). A thread waits for the
        signal because the main thread may sit in MXNet's C code, where Python handlers never run;
        threads started later (MXNet's too) inherit the blocked mask."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        threading.Thread(target=self._await_sigterm, name="sigterm", daemon=True).start()

    def _await_sigterm(self) -> None:
        signal.sigwait({signal.SIGTERM})
        if self._past_final_barrier.is_set():
            # The job is done (SageMaker local mode stops every container once one exits).
            log.info("SIGTERM after the final barrier: the job is complete")
            self._ps.kill()
            logging.shutdown()
            self._exit(0)
        self._peer_failed(128 + signal.SIGTERM, f"host {self.spec.current_host} was stopped (SIGTERM)")


def close_kvstore(trainer, role: WorkerRole) -> None:
    """The final barrier, then the kvstore's shutdown (its destructor stops the servers)."""
    import gc

    if not trainer._kv_initialized and "dist" in str(trainer._kvstore_params["kvstore"]):
        # No step was taken (a resumed job that had already finished): the servers still wait
        # for the kvstore that stops them.
        trainer._init_kvstore()
        trainer._init_params()  # the keys must exist on the servers before their shutdown
    kvstore = getattr(trainer, "_kvstore", None)
    if kvstore is None or "dist" not in kvstore.type:
        return
    kvstore._barrier()
    role.passed_final_barrier()
    trainer._kvstore = None
    del kvstore
    gc.collect()
