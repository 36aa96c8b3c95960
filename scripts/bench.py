#!/usr/bin/env python3
"""bench.py -- echochatd against its peers, measured by echochat-bench.

The body of scripts/bench, which installs the peers and builds first.
For each scenario it starts a fresh server per run on a free loopback
port, runs bench/echochat-bench against it, and stops it; servers take
turns (A B C, A B C, ...) for --rounds rounds so that a drift in the
machine's load hits them all alike, and the median of each figure is
shown.  With two or more CPUs the server runs on CPU 0 and the load tool
on CPU 1.

Scenarios and servers:

  echo-100    100 connections x 16 lines of 64 B in flight: echochatd,
              epoll-echo, asyncio, socat, ncat --exec
  echo-1      1 connection, 1 line in flight (latency): same servers
  echo-large  10 connections x 16 lines of 16 KiB: same servers
  (every chat scenario paces each sender on all its receivers,
  echochat-bench --pace-all: a line is in flight until the last has it)
  chat-100    100 participants, 10 senders: echochatd, naive-chat (the
              simplest libevent broadcaster, bench/naive-chat.c), redis
              pub/sub, asyncio, ncat --chat
  chat-1000   1,000 participants, 10 senders: same servers
  chat-rooms  1,000 participants in 10 rooms of 100, one sender in each,
              160 lines in flight per sender (as many on their way to each
              participant as in chat-1000): echochatd, beside its chat-1000
              figure
  chat-cluster  900 participants, 10 senders, over 3 echochatd sharing
              one redis-server ([cluster]), participants and senders spread
              over the nodes: beside one echochatd with the same 900 and
              Redis pub/sub alone (redis-server must be installed)
  udp         10 sockets x 16 datagrams of 64 B: echochatd, epoll-echo -u
  idle-10k    server RSS per idle connection, 10,000 connections:
              echochatd, epoll-echo, asyncio, redis
  ws-echo     echo-100 over WebSocket (echochat-bench --ws, upgrades
              before the clock): echochatd, beside its echo-100 figure
  ws-chat     chat-100 over WebSocket (every participant upgrades before
              the clock, every delivery checked as over TCP): echochatd
              over plain TCP and "echochatd ws" (the same daemon and
              config with websocket = yes) in one table, so that the
              deliveries/s and server CPU ns per delivery ratios are the
              cost of WebSocket
  idle-10k-ws  idle-10k with every connection upgraded to WebSocket
              (echochat-bench idle --ws): echochatd, beside its idle-10k
              figure
  echo-100-tls  echo-100 over TLS (echochat-bench --tls, handshakes
              before the clock), with the server's CPU time per round trip:
              echochatd, stunnel4 in front of epoll-echo, ncat --ssl --exec
  idle-10k-tls  the same over TLS (handshake done, then idle), from
              Python's ssl module: echochatd, and stunnel4 in front of
              epoll-echo
  stalled-1k-tls  server RSS per TLS handshake stalled halfway through
              its ClientHello, 1,000 connections: same servers

Every load-tool table (not the idle ones) has the server's CPU share
(its process groups' utime + stime over the measured window) and its CPU
ns per round trip, delivery or reply, with a ratio to the scenario's
reference; a row where the load tool itself used >= 95% of its CPU is
marked load-tool bound.

Environment: BENCH_SECONDS (measured seconds per run, default 3),
BENCH_WORKERS (echochatd's [server] workers; refused loudly if this
echochatd does not know the key), BENCH_BASELINE (another build's
echochatd, measured beside this one as "baseline" in every scenario
echochatd is in: a change's cost, in one run), BENCH_VARIANT (INI text,
"\n" for newlines, added to echochatd's configuration and measured beside
it as "variant": a setting's cost, e.g. BENCH_VARIANT='[metrics]\nbind =
127.0.0.1:0'), BENCH_TIMEOUT (seconds for the whole
bench, default 1200: runs left when it is spent show as n/a),
BENCH_BUILDDIR (where the built programs are when the build is not in the
source tree).

Every phase has a time limit, a peer that fails shows as failed with the
reason (and is not retried in later rounds of that scenario), and on any
exit the servers it started are stopped: each runs in a session of its
own, and only those process groups are signalled.
"""

import argparse
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# echochatd is started by the integration suites' harness, which knows it
# is ready, and its port, from its NOTIFY_SOCKET notification.
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import harness  # noqa: E402

# The built programs: in the source tree, or in a separate build directory
# (BENCH_BUILDDIR, as make distcheck's tests run it).
BUILD = os.environ.get("BENCH_BUILDDIR") or TOP
TOOL = os.path.join(BUILD, "bench", "echochat-bench")
ECHOCHATD = os.path.join(BUILD, "src", "echochatd")
EPOLL_ECHO = os.path.join(BUILD, "bench", "epoll-echo")
NAIVE_CHAT = os.path.join(BUILD, "bench", "naive-chat")
ASYNCIO_SERVER = os.path.join(TOP, "bench", "asyncio_server.py")
BASELINE = os.environ.get("BENCH_BASELINE", "")
VARIANT = os.environ.get("BENCH_VARIANT", "").replace("\\n", "\n")

WARMUP = 1
START_TIMEOUT = 10
STOP_TIMEOUT = 5
# The tool's own bounds: connecting (30 s), joining or priming (15 s),
# warm-up and measurement; beyond that something is wrong with it.
TOOL_SLACK = 60


class Fail(Exception):
    """A run that produced no figures; the message is the reason shown."""


# ---------------------------------------------------------------------
# servers

class Server:
    """One server process (with whatever it forks) in a session of its own."""

    def __init__(self, name, argv, workdir, cpu, ready, port=None):
        self.name = name
        self.port = port
        self.log = os.path.join(workdir, "server.log")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cpu + argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=workdir)
        LIVE.add(self)
        try:
            ready(self)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def log_tail(self, n=1):
        try:
            with open(self.log, errors="replace") as f:
                lines = [l.strip() for l in f if l.strip()]
        except OSError:
            return ""
        return " / ".join(lines[-n:])

    def wait_for_log(self, pattern):
        """Wait until the log matches `pattern`; return the match."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail("%s exited with status %d at start: %s"
                           % (self.name, self.proc.returncode, self.log_tail(3)))
            with open(self.log, errors="replace") as f:
                m = re.search(pattern, f.read())
            if m:
                return m
            time.sleep(0.02)
        raise Fail("%s not ready within %d s: %s" % (self.name, START_TIMEOUT, self.log_tail()))

    def wait_for_port(self):
        """Wait until the TCP port accepts a connection."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail("%s exited with status %d at start: %s"
                           % (self.name, self.proc.returncode, self.log_tail(3)))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise Fail("%s not listening within %d s" % (self.name, START_TIMEOUT))

    def died(self):
        """Why the server is no longer running, or None."""
        if self.proc.poll() is None:
            return None
        return "%s exited with status %d: %s" % (self.name, self.proc.returncode,
                                                 self.log_tail())

    def stop(self):
        """SIGTERM to the server's own process group, SIGKILL if it lingers
        (and the same to a server it fronts)."""
        partner = getattr(self, "partner", None)
        if partner is not None:
            partner.stop()
        if self not in LIVE:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline:
                self.proc.poll()
                if not group_alive(self.proc.pid):
                    break
                time.sleep(0.02)
            else:
                continue
            break
        self.proc.poll()
        LIVE.discard(self)


LIVE = set()


class Echochatd(Server):
    """echochatd through the harness, in a session of its own like the
    peers (so stop() is theirs); its stderr is kept by the harness."""

    def __init__(self, config, workdir, cpu, name="echochatd", binary=ECHOCHATD):
        self.name = name
        self.daemon = harness.Server(config, args=["-L", "info"], valgrind=False,
                                     binary=binary, prefix=cpu, workdir=workdir,
                                     wait_ready=False, new_session=True)
        self.proc = self.daemon.proc
        LIVE.add(self)
        try:
            try:
                self.daemon.wait_ready(1, START_TIMEOUT)
            except AssertionError:
                if self.proc.poll() is not None:
                    raise Fail("%s exited with status %d at start: %s"
                               % (self.name, self.proc.returncode, self.log_tail(3)))
                raise Fail("%s not ready within %d s: %s"
                           % (self.name, START_TIMEOUT, self.log_tail()))
            self.port = self.daemon.port("bench")
        except BaseException:
            self.stop()
            raise

    def log_tail(self, n=1):
        lines = [l.strip() for l in self.daemon.log_lines if l.strip()]
        return " / ".join(lines[-n:])

    def stop(self):
        super().stop()
        self.daemon.stop()          # reaped by now: ends the harness's reader


def server_pgids(srv):
    """The process groups whose CPU time is the server's: each server runs
    in a session of its own, with what it forks; stunnel4's epoll-echo is
    its partner, in another."""
    out = list(getattr(srv, "pgids", [srv.pid]))
    partner = getattr(srv, "partner", None)
    if partner is not None:
        out.append(partner.pid)
    return out


def group_alive(pgid):
    """Whether a process of group pgid still runs.  Zombies do not count:
    whether they are reaped soon is up to init."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_echochatd(mode, workdir, cpu, workers, name="echochatd", binary=ECHOCHATD,
                    extra=""):
    """mode: echo, chat, udp, tls (echo), ws (echo over WebSocket) or ws-chat
    (chat over WebSocket); one listener on a port the kernel picks; extra: more
    INI text (BENCH_VARIANT)."""
    proto, handler = {"echo": ("tcp", "echo"), "chat": ("tcp", "chat"),
                      "udp": ("udp", "echo"), "tls": ("tcp", "echo"),
                      "ws": ("tcp", "echo"), "ws-chat": ("tcp", "chat")}[mode]
    ini = echochatd_ini(workers, proto, handler)
    if mode in ("ws", "ws-chat"):
        ini += "websocket = yes\n"
    if mode == "tls":
        crt, key = make_cert(workdir)
        ini += "tls_cert = %s\ntls_key = %s\n" % (crt, key)
    return Echochatd(ini + extra, workdir, cpu, name, binary)


def make_cert(workdir):
    """A throw-away self-signed EC P-256 certificate and key in workdir."""
    crt, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                        "-out", crt, "-days", "2", "-subj", "/CN=bench"],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise Fail("openssl req: %s" % e)
    return crt, key


def start_ncat_ssl(workdir, cpu):
    """ncat --ssl --exec /bin/cat: a forked ncat and a cat per connection."""
    crt, key = make_cert(workdir)
    return start_on_free_port(
        "ncat --ssl", lambda p: ["ncat", "-l", "127.0.0.1", str(p), "--keep-open",
                                 "--max-conns", "20000", "--ssl", "--ssl-cert", crt,
                                 "--ssl-key", key, "--exec", "/bin/cat"], workdir, cpu)


def start_stunnel(workdir, cpu):
    """stunnel4 terminating TLS in front of an epoll-echo of its own."""
    echo = start_printing_port("epoll-echo", [EPOLL_ECHO, "0"], workdir, cpu)
    crt, key = make_cert(workdir)
    port = free_port()
    conf = os.path.join(workdir, "stunnel.conf")
    with open(conf, "w") as f:
        f.write("foreground = yes\npid =\nsyslog = no\ndebug = 3\n"
                "[bench]\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
                "cert = %s\nkey = %s\n" % (port, echo.port, crt, key))
    try:
        srv = Server("stunnel4", ["stunnel4", conf], workdir, cpu, Server.wait_for_port, port)
    except BaseException:
        echo.stop()
        raise
    srv.partner = echo
    return srv


def client_hello():
    """A real ClientHello (Python's), through memory BIOs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def idle_tls(port, pid, n, seconds, stall=False):
    """Open n TLS connections (handshakes done), hold them, and report the
    server's RSS per connection like echochat-bench's idle mode does.
    stall: each sends half a ClientHello and stops there instead."""
    def rss():
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Fail("no VmRSS for pid %d" % pid)

    def fds():
        return len(os.listdir("/proc/%d/fd" % pid))

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    hello = client_hello() if stall else b""
    half = hello[:len(hello) // 2]
    time.sleep(0.2)
    rss0, fds0 = rss(), fds()
    socks, failed, why = [], 0, ""
    t0 = time.monotonic()
    try:
        for _ in range(n):
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=10)
                if stall:
                    raw.sendall(half)
                    socks.append(raw)
                else:
                    socks.append(ctx.wrap_socket(raw))
            except (OSError, ssl.SSLError) as e:
                failed += 1
                why = why or str(e)
                if failed > n // 10:
                    break
        connect_ms = (time.monotonic() - t0) * 1000
        if not socks:
            raise Fail("no TLS connection opened (%s)" % why)
        time.sleep(0.5)
        rss1 = rss()
        time.sleep(seconds)
        rss2, held = rss(), fds() - fds0
    finally:
        for c in socks:
            c.close()
    ok = len(socks)
    return {"conns": str(n), "opened": str(ok), "failed": str(failed),
            "connect_ms": "%.1f" % connect_ms, "server_fds": str(held),
            "rss_before_kb": str(rss0), "rss_open_kb": str(rss1),
            "rss_held_kb": str(rss2),
            "rss_per_conn_bytes": "%.0f" % ((rss1 - rss0) * 1024 / ok),
            "rss_per_conn_held_bytes": "%.0f" % ((rss2 - rss0) * 1024 / ok),
            "errors": str(failed)}


def echochatd_ini(workers, proto="tcp", handler="echo"):
    return "\n".join([
        "; echochatd for scripts/bench: no limit that a benchmark would hit",
        "[server]",
        "max_clients = 20000",
        "max_clients_per_ip = 0",
        "udp_rate = 0",
        "log_level = info",
    ] + (["workers = %s" % workers] if workers is not None else []) + [
        "[chat]",
        "chat_rate = 0",
        "[listener bench]",
        "proto = %s" % proto,
        "bind = 127.0.0.1:0",
        "handler = %s" % handler,
        "",
    ])


def start_printing_port(name, argv, workdir, cpu):
    """Peers of ours that bind port 0 and print 'listening on ... :PORT'."""
    def ready(s):
        s.port = int(s.wait_for_log(r"listening on \w+ 127\.0\.0\.1:(\d+)").group(1))
    return Server(name, argv, workdir, cpu, ready)


def start_on_free_port(name, argv_for_port, workdir, cpu):
    port = free_port()
    return Server(name, argv_for_port(port), workdir, cpu, Server.wait_for_port, port)


def redis_argv(port, workdir):
    # Loopback only, nothing written to disk; maxclients above idle-10k
    # (redis lowers it to what RLIMIT_NOFILE allows, and says so).
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--maxclients", "19000", "--dir", workdir]


# chat-cluster: how many echochatd share the Redis server, and how soon a
# node that stops beating is taken for gone (short: nothing dies here).
CLUSTER_NODES = 3
CLUSTER_NODE_TIMEOUT = "5s"


class Cluster:
    """CLUSTER_NODES echochatd with [cluster] over one redis-server of
    their own, on a free loopback port: one server to run_once, whose port
    is the nodes' ports for echochat-bench -p and whose CPU time is theirs
    and Redis's (every one in a session of its own)."""

    def __init__(self, workdir, cpu, workers):
        self.name = "cluster"
        self.members = []
        try:
            rport = free_port()
            rdir = os.path.join(workdir, "redis")
            os.mkdir(rdir)
            self.members.append(Server("redis-server", redis_argv(rport, rdir), rdir, cpu,
                                       Server.wait_for_port, rport))
            for i in range(1, CLUSTER_NODES + 1):
                ndir = os.path.join(workdir, "n%d" % i)
                os.mkdir(ndir)
                ini = (echochatd_ini(workers, "tcp", "chat") +
                       "[cluster]\nredis = 127.0.0.1:%d\nchannel = bench\nnode = n%d\n"
                       "node_timeout = %s\n" % (rport, i, CLUSTER_NODE_TIMEOUT))
                self.members.append(Echochatd(ini, ndir, cpu, "cluster node n%d" % i))
        except BaseException:
            self.stop()
            raise
        self.port = ",".join(str(m.port) for m in self.members[1:])
        self.pgids = [m.pid for m in self.members]

    @property
    def pid(self):
        return self.members[1].pid

    def died(self):
        for m in self.members:
            why = m.died()
            if why:
                return why
        return None

    def stop(self):
        for m in reversed(self.members):
            m.stop()


# Each server: label, the program it needs, and how to start it for a mode.
def make_servers(workers):
    py = sys.executable
    servers = {
        "echochatd": ("echochatd", ECHOCHATD,
                      lambda mode, d, cpu: start_echochatd(mode, d, cpu, workers)),
        "epoll-echo": ("epoll-echo", EPOLL_ECHO,
                       lambda mode, d, cpu: start_printing_port(
                           "epoll-echo", [EPOLL_ECHO, "0"], d, cpu)),
        "epoll-echo -u": ("epoll-echo", EPOLL_ECHO,
                          lambda mode, d, cpu: start_printing_port(
                              "epoll-echo -u", [EPOLL_ECHO, "-u", "0"], d, cpu)),
        "naive-chat": ("naive-chat", NAIVE_CHAT,
                       lambda mode, d, cpu: start_printing_port(
                           "naive-chat", [NAIVE_CHAT, "0"], d, cpu)),
        "asyncio": ("asyncio", py,
                    lambda mode, d, cpu: start_printing_port(
                        "asyncio", [py, ASYNCIO_SERVER, "--mode", mode, "--port", "0"], d, cpu)),
        # socat listens with a backlog of 5 unless told otherwise.
        "socat": ("socat", "socat",
                  lambda mode, d, cpu: start_on_free_port(
                      "socat", lambda p: ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,"
                                          "fork,backlog=1024" % p, "PIPE"], d, cpu)),
        # ncat refuses more than 100 clients unless told otherwise.
        "ncat --exec": ("ncat", "ncat",
                        lambda mode, d, cpu: start_on_free_port(
                            "ncat --exec", lambda p: ["ncat", "-l", "127.0.0.1", str(p),
                                                      "--keep-open", "--max-conns", "20000",
                                                      "--exec", "/bin/cat"], d, cpu)),
        "ncat --chat": ("ncat", "ncat",
                        lambda mode, d, cpu: start_on_free_port(
                            "ncat --chat", lambda p: ["ncat", "-l", "127.0.0.1", str(p),
                                                      "--keep-open", "--max-conns", "20000",
                                                      "--chat"], d, cpu)),
        "ncat --ssl": ("ncat", "ncat", lambda mode, d, cpu: start_ncat_ssl(d, cpu)),
        "stunnel4": ("stunnel4", "stunnel4",
                     lambda mode, d, cpu: start_stunnel(d, cpu)),
        "redis": ("redis", "redis-server",
                  lambda mode, d, cpu: start_on_free_port(
                      "redis", lambda p: redis_argv(p, d), d, cpu)),
        "cluster": ("cluster", "redis-server",
                    lambda mode, d, cpu: Cluster(d, cpu, workers)),
    }
    add_ws_servers(servers, workers)
    if BASELINE:
        servers["baseline"] = ("baseline", BASELINE,
                               lambda mode, d, cpu: start_echochatd(
                                   mode, d, cpu, workers, "baseline", BASELINE))
    if VARIANT:
        servers["variant"] = ("variant", ECHOCHATD,
                              lambda mode, d, cpu: start_echochatd(
                                  mode, d, cpu, workers, "variant", ECHOCHATD,
                                  "\n" + VARIANT + "\n"))
    return servers


def add_ws_servers(servers, workers):
    """"echochatd ws": echochatd with websocket = yes on its listener, whatever
    the scenario's mode (ws-chat's row beside the plain TCP one)."""
    servers["echochatd ws"] = ("echochatd", ECHOCHATD,
                               lambda mode, d, cpu: start_echochatd(
                                   "ws-chat" if mode == "chat" else "ws", d, cpu, workers))


# ---------------------------------------------------------------------
# scenarios

def fmt_rate(v):
    return "{:,.0f}".format(v)


def fmt_us(v):
    return "%.1f" % v if v < 100 else "{:,.0f}".format(v)


def fmt_mb(v):
    return "%.1f" % v


def fmt_cpu(v):
    return "%.2f" % v


def fmt_bytes(v):
    return "{:,.0f}".format(v)


def fmt_pct(v):
    return "%.0f" % v


# The unit the server's CPU time is divided by, per load-tool mode.
CPU_UNITS = {"echo": "round trip", "chat": "delivery", "udp": "reply"}
# The tool's share of its CPU above which a row is marked load-tool bound.
TOOL_BOUND_PCT = 95


class Scenario:
    def __init__(self, name, title, mode, servers, args, figures, ratio, reference,
                 ratio_label, fixed_seconds=None, reference_scenario=None, cpu=False,
                 more_ratios=(), cpu_reference=None):
        self.name = name
        self.title = title
        self.mode = mode            # the server's mode: echo, chat or udp
        self.servers = servers      # (label, extra tool arguments, or None: not applicable)
        self.args = args
        self.figures = figures      # (column, RESULT key or function, formatter)
        self.ratio = ratio          # figure the ratio is taken of
        self.reference = reference
        self.ratio_label = ratio_label
        self.fixed_seconds = fixed_seconds
        self.reference_scenario = reference_scenario    # reference's row is from there
        # Every load-tool scenario also shows the server's CPU time: the
        # share of one CPU and the ns per unit (round trip, delivery,
        # reply), and the tool's own share (a run where it is near 100% is
        # load-tool bound: the server may have been able to do more).
        self.unit = CPU_UNITS.get(args[0])
        self.cpu = cpu or self.unit is not None
        self.more_ratios = list(more_ratios)   # (column, figure, reference)
        if self.unit:
            self.figures = self.figures + [
                ("server CPU %", "server_cpu_pct", fmt_pct),
                ("server CPU ns/%s" % self.unit, "server_ns_per", fmt_rate)]
            if cpu_reference:
                self.more_ratios.append(("CPU/%s vs %s" % (self.unit, cpu_reference),
                                         "server_ns_per", cpu_reference))


def mb_per_s(res):
    return float(res["rate"]) * float(res["size"]) / 1e6


ECHO_SERVERS = [("echochatd", []), ("epoll-echo", []), ("asyncio", []), ("socat", []),
                ("ncat --exec", [])]
CHAT_SERVERS = [("echochatd", []), ("naive-chat", ["--proto", "plain"]), ("redis", ["--redis"]),
                ("asyncio", ["--proto", "plain"]), ("ncat --chat", ["--proto", "plain"])]
LATENCY = [("p50 us", "p50_us", fmt_us), ("p99 us", "p99_us", fmt_us),
           ("p99.9 us", "p999_us", fmt_us), ("max us", "max_us", fmt_us)]

SCENARIOS = [
    Scenario("echo-100", "100 connections x 16 lines of 64 B in flight", "echo",
             ECHO_SERVERS, ["echo", "-c", "100", "-P", "16", "-s", "64"],
             [("round trips/s", "rate", fmt_rate)] + LATENCY,
             "rate", "epoll-echo", "round trips/s vs epoll-echo",
             cpu_reference="epoll-echo"),
    Scenario("echo-100-tls", "100 connections x 16 lines of 64 B in flight, over TLS",
             "tls", [("echochatd", []), ("stunnel4", []), ("ncat --ssl", [])],
             ["echo", "--tls", "-c", "100", "-P", "16", "-s", "64"],
             [("round trips/s", "rate", fmt_rate)] + LATENCY,
             "rate", "stunnel4", "round trips/s vs stunnel4", cpu_reference="stunnel4"),
    Scenario("ws-echo", "echo-100 over WebSocket: 100 connections x 16 lines of 64 B in "
             "flight, one text frame each", "ws", [("echochatd", [])],
             ["echo", "--ws", "-c", "100", "-P", "16", "-s", "64"],
             [("round trips/s", "rate", fmt_rate)] + LATENCY,
             "rate", "echochatd", "round trips/s vs echo-100's echochatd",
             reference_scenario="echo-100"),
    Scenario("echo-1", "1 connection, 1 line of 64 B in flight (latency)", "echo",
             ECHO_SERVERS, ["echo", "-c", "1", "-P", "1", "-s", "64"],
             LATENCY + [("round trips/s", "rate", fmt_rate)],
             "p50_us", "epoll-echo", "p50 vs epoll-echo (lower is better)",
             cpu_reference="epoll-echo"),
    Scenario("echo-large", "10 connections x 16 lines of 16 KiB in flight", "echo",
             ECHO_SERVERS, ["echo", "-c", "10", "-P", "16", "-s", "16384"],
             [("MB/s each way", mb_per_s, fmt_mb), ("p50 us", "p50_us", fmt_us),
              ("p99 us", "p99_us", fmt_us)],
             mb_per_s, "epoll-echo", "MB/s vs epoll-echo", cpu_reference="epoll-echo"),
    Scenario("chat-100", "100 participants, 10 senders, 16 lines in flight per sender",
             "chat", CHAT_SERVERS, ["chat", "-c", "100", "-k", "10", "-P", "16", "--pace-all"],
             [("deliveries/s", "rate", fmt_rate)] + LATENCY[:3] +
             [("losses", "losses", fmt_rate)],
             "rate", "naive-chat", "deliveries/s vs naive-chat",
             more_ratios=[("deliveries/s vs redis", "rate", "redis")],
             cpu_reference="naive-chat"),
    Scenario("chat-1000", "1,000 participants, 10 senders, 16 lines in flight per sender",
             "chat", CHAT_SERVERS, ["chat", "-c", "1000", "-k", "10", "-P", "16", "--pace-all"],
             [("deliveries/s", "rate", fmt_rate)] + LATENCY[:3] +
             [("losses", "losses", fmt_rate)],
             "rate", "naive-chat", "deliveries/s vs naive-chat",
             more_ratios=[("deliveries/s vs redis", "rate", "redis")],
             cpu_reference="naive-chat"),
    Scenario("chat-rooms", "1,000 participants in 10 rooms, one sender per room, 160 lines "
             "in flight per sender", "chat", [("echochatd", ["--rooms", "10"])],
             ["chat", "-c", "1000", "-k", "10", "-P", "160", "--pace-all"],
             [("deliveries/s", "rate", fmt_rate), ("lines/s", "sent_rate", fmt_rate)] +
             LATENCY[:3] + [("losses", "losses", fmt_rate)],
             "rate", "echochatd", "deliveries/s vs chat-1000's echochatd",
             reference_scenario="chat-1000"),
    Scenario("ws-chat", "chat-100 over plain TCP and over WebSocket: 100 participants, "
             "10 senders, 16 lines in flight per sender", "chat",
             [("echochatd", []), ("echochatd ws", ["--ws"])],
             ["chat", "-c", "100", "-k", "10", "-P", "16", "--pace-all"],
             [("deliveries/s", "rate", fmt_rate)] + LATENCY[:3] +
             [("losses", "losses", fmt_rate)],
             "rate", "echochatd", "deliveries/s vs TCP", cpu_reference="echochatd"),
    Scenario("chat-cluster", "900 participants over 3 servers sharing one Redis, 10 senders, "
             "16 lines in flight per sender", "chat",
             [("cluster", []), ("echochatd", []), ("redis", ["--redis"])],
             ["chat", "-c", "900", "-k", "10", "-P", "16", "--pace-all"],
             [("deliveries/s", "rate", fmt_rate)] + LATENCY[:3] +
             [("losses", "losses", fmt_rate)],
             "rate", "echochatd", "deliveries/s vs echochatd alone",
             more_ratios=[("deliveries/s vs redis", "rate", "redis")],
             cpu_reference="echochatd"),
    Scenario("udp", "10 sockets x 16 datagrams of 64 B in flight", "udp",
             [("echochatd", []), ("epoll-echo -u", [])],
             ["udp", "-c", "10", "-P", "16", "-s", "64"],
             [("replies/s", "rate", fmt_rate), ("p50 us", "p50_us", fmt_us),
              ("p99 us", "p99_us", fmt_us), ("lost", "losses", fmt_rate)],
             "rate", "epoll-echo -u", "replies/s vs epoll-echo -u",
             cpu_reference="epoll-echo -u"),
    Scenario("idle-10k", "server RSS per idle connection, 10,000 connections held 1 s",
             "echo", [("echochatd", []), ("epoll-echo", []), ("asyncio", []), ("redis", []),
                      ("socat", None), ("ncat --exec", None)],
             ["idle", "-c", "10000"],
             [("RSS bytes/conn", "rss_per_conn_bytes", fmt_bytes),
              ("server fds", "server_fds", fmt_rate)],
             "rss_per_conn_bytes", "redis", "RSS/conn vs redis (lower is better)",
             fixed_seconds=1),
    Scenario("idle-10k-ws", "server RSS per idle WebSocket connection (upgraded), 10,000 "
             "connections held 1 s", "ws", [("echochatd", [])],
             ["idle", "--ws", "-c", "10000"],
             [("RSS bytes/conn", "rss_per_conn_bytes", fmt_bytes),
              ("server fds", "server_fds", fmt_rate)],
             "rss_per_conn_bytes", "echochatd", "RSS/conn vs idle-10k's echochatd",
             fixed_seconds=1, reference_scenario="idle-10k"),
    Scenario("stalled-1k-tls", "server RSS per TLS handshake stalled halfway through its "
             "ClientHello, 1,000 connections held 1 s", "tls",
             [("echochatd", []), ("stunnel4", [])],
             ["stalled-tls", "-c", "1000"],
             [("RSS bytes/conn", "rss_per_conn_bytes", fmt_bytes),
              ("server fds", "server_fds", fmt_rate)],
             "rss_per_conn_bytes", "stunnel4", "RSS/conn vs stunnel4 (lower is better)",
             fixed_seconds=1),
    Scenario("idle-10k-tls", "server RSS per idle TLS connection, 10,000 connections held 1 s",
             "tls", [("echochatd", []), ("stunnel4", [])],
             ["idle-tls", "-c", "10000"],
             [("RSS bytes/conn", "rss_per_conn_bytes", fmt_bytes),
              ("server fds", "server_fds", fmt_rate)],
             "rss_per_conn_bytes", "stunnel4", "RSS/conn vs stunnel4 (lower is better)",
             fixed_seconds=1),
]
SCENARIO_NOTES = {
    "idle-10k": "socat and ncat --exec fork a process per connection: one process's RSS "
                "says nothing about them. VmRSS is user-space memory only; the kernel's "
                "socket buffers are not in it.",
    "echo-100-tls": "echochat-bench --tls (TLS 1.3 here, EC P-256 certificate, not "
                    "verified) does the 100 handshakes before the clock. Server CPU is "
                    "user + system time over the measured window of the server's process "
                    "group (stunnel4: and of the epoll-echo behind it; ncat: with the ncat "
                    "and cat it forks per connection), divided by the round trips.",
    "idle-10k-tls": "Handshakes by Python's ssl module (TLS 1.3, EC P-256), one at a time; "
                    "stunnel4's figure is its own process, the epoll-echo behind it not "
                    "counted.",
    "chat-100": "redis: every participant subscribes, each sender publishes on a second "
                "connection; its own subscription hears its lines too (not counted).",
}
SCENARIO_NOTES["chat-1000"] = SCENARIO_NOTES["chat-100"]
SCENARIO_NOTES["ws-chat"] = (
    "echochatd is chat-100's load over plain TCP; echochatd ws the same daemon and "
    "config with websocket = yes, every participant upgraded before the clock, each line "
    "sent as one masked text frame and each delivery a text frame, decoded and checked as "
    "over TCP. CPU/delivery vs echochatd is what WebSocket costs the server per delivery.")
SCENARIO_NOTES["chat-cluster"] = (
    "cluster: %d echochatd with [cluster] over one redis-server of their own, all on the "
    "server's CPU; participant i on node i mod %d (so are the senders), in one room, each "
    "having heard every node before the clock starts; a line reaches the others of its "
    "node directly and those of the other nodes through Redis. Losses include the lines "
    "still missing 2 s after the window. Server CPU is the nodes' and redis-server's. "
    "echochatd: one node alone with the same 900; redis: pub/sub alone, as in chat-1000."
    % (CLUSTER_NODES, CLUSTER_NODES))
SCENARIO_NOTES["chat-rooms"] = (
    "Each line reaches the 99 others of its sender's room, not 999: the same deliveries/s "
    "as chat-1000 takes ten times the lines/s. Each sender has 160 lines in flight, so "
    "that as many lines are on their way to each participant as in chat-1000 (10 senders "
    "x 16). The ratio is to echochatd's chat-1000 deliveries/s in this run (n/a when "
    "chat-1000 was not run).")
# Causes found by looking into a failure, shown only when that row fails.
KNOWN_CAUSES = {
    ("echo-large", "ncat --exec"):
        "ncat --exec relays each connection through a forked ncat and pipes to cat; the "
        "relay blocks writing to cat's stdin while cat blocks writing back to it, so with "
        "256 KiB in flight per connection both wait for ever.",
}


# ---------------------------------------------------------------------
# running

def parse_result(out):
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    return None


def figure(res, key):
    return key(res) if callable(key) else float(res[key])


def key_in(res, key):
    return callable(key) or key in res


def run_once(scn, label, extra, servers, cpus, seconds, workdir):
    """One run: start the server, run the tool, stop the server."""
    _, _, start = servers[label]
    srv = start(scn.mode, workdir, cpus[0])
    try:
        secs = scn.fixed_seconds or seconds
        if scn.args[0] in ("idle-tls", "stalled-tls"):
            res = idle_tls(srv.port, srv.pid, int(scn.args[2]), secs,
                           stall=scn.args[0] == "stalled-tls")
            died = srv.died()
            if died:
                raise Fail(died)
            return res
        argv = cpus[1] + [TOOL] + scn.args + extra + ["-p", str(srv.port), "-d", str(secs)]
        if scn.args[0] == "idle":
            argv += ["--pid", str(srv.pid)]
        if scn.cpu:
            argv += ["--cpu-pgid", ",".join(str(g) for g in server_pgids(srv))]
        argv += ["-w", str(WARMUP)]
        try:
            p = subprocess.run(argv, capture_output=True, text=True,
                               timeout=secs + WARMUP + TOOL_SLACK)
        except subprocess.TimeoutExpired:
            raise Fail("echochat-bench did not finish within %d s" % (secs + WARMUP + TOOL_SLACK))
        res = parse_result(p.stdout)
        died = srv.died()
        if res is None:
            why = (p.stderr.strip().splitlines() or ["exit status %d" % p.returncode])[-1]
            raise Fail(why + ("; " + died if died else ""))
        if scn.args[0] != "idle" and float(res.get("rate", 0)) == 0:
            notes = [l.split(":", 1)[1].strip() for l in p.stdout.splitlines()
                     if l.strip().startswith("note:")]
            raise Fail("; ".join(notes or ["nothing measured"]) + ("; " + died if died else ""))
        if died:
            res["_note"] = "by the end of the run " + died
        return res
    finally:
        srv.stop()


def problems(res):
    """What went wrong in a run that still produced figures."""
    keys = ("errors", "losses", "dups", "mismatches", "closed", "dropped", "failed")
    bad = ["%s=%s" % (k, res[k]) for k in keys if k in res and res[k] not in ("0", "0.0")]
    if "_note" in res:
        bad.append(res["_note"])
    return ", ".join(bad)


def with_baseline(entries):
    """The scenario's servers, with BENCH_BASELINE right after echochatd."""
    out = []
    for label, extra in entries:
        out.append((label, extra))
        if label == "echochatd" and BASELINE:
            out.append(("baseline", extra))
        if label == "echochatd" and VARIANT:
            out.append(("variant", extra))
    return out


def run_all(args, scenarios, servers, cpus, seconds, deadline, workdir):
    """results[scenario][label] = {"runs": [RESULT dict], "fail": str, "notes": [str]}"""
    results = {}
    for scn in scenarios:
        entries = [(l, e) for l, e in with_baseline(scn.servers)
                   if l in servers or e is None]
        table = results[scn.name] = {l: {"runs": [], "fail": None, "notes": []}
                                     for l, _ in entries}
        for label, extra in entries:
            if extra is None:
                table[label]["fail"] = "n/a: a process per connection"
                continue
            prog = servers[label][1]
            if not (os.path.isabs(prog) and os.access(prog, os.X_OK)) and not shutil.which(prog):
                table[label]["fail"] = "n/a: %s is not installed" % prog
        for rnd in range(1, args.rounds + 1):
            for label, extra in entries:
                t = table[label]
                if t["fail"]:
                    continue
                if time.monotonic() > deadline:
                    t["fail"] = "n/a: bench time limit (BENCH_TIMEOUT) reached"
                    continue
                rundir = tempfile.mkdtemp(prefix="%s-%s-" % (scn.name, label.replace(" ", "")),
                                          dir=workdir)
                t0 = time.monotonic()
                try:
                    res = run_once(scn, label, extra, servers, cpus, seconds, rundir)
                except (Fail, OSError) as e:
                    t["fail"] = "failed in round %d: %s" % (rnd, e)
                    res = None
                took = time.monotonic() - t0
                if res is not None:
                    t["runs"].append(res)
                    bad = problems(res)
                    if bad:
                        t["notes"].append("round %d: %s" % (rnd, bad))
                shutil.rmtree(rundir, ignore_errors=True)
                status = "ok" if res is not None else "FAILED"
                if res is not None and problems(res):
                    status = "errors"
                print("  %-10s round %d  %-14s %5.1f s  %s" % (scn.name, rnd, label, took,
                                                              status), file=sys.stderr)
    return results


def median_of(runs, key):
    return statistics.median(figure(r, key) for r in runs)


def print_table(scn, table, rounds, results=None):
    cols = [c for c, _, _ in scn.figures]
    ratios = [(scn.ratio_label, scn.ratio, scn.reference)] + scn.more_ratios
    print("### %s: %s" % (scn.name, scn.title))
    print()
    print("| server | " + " | ".join(cols + [r[0] for r in ratios]) + " | notes |")
    print("| --- | " + " | ".join("---:" for _ in cols + ratios) + " | --- |")

    def ref_value(key, reference):
        ref = table.get(reference)
        if scn.reference_scenario and key == scn.ratio:
            ref = (results or {}).get(scn.reference_scenario, {}).get(reference)
        try:
            return median_of(ref["runs"], key) if ref and ref["runs"] else None
        except KeyError:
            return None
    ref_vals = [ref_value(key, reference) for _, key, reference in ratios]
    for label, t in table.items():
        runs = t["runs"]
        notes = list(t["notes"])
        if not runs:
            cells = [t["fail"] or "failed"] + ["" for _ in cols[1:]]
            ratio = " | ".join("n/a" for _ in ratios)
        else:
            cells = [fmt(median_of(runs, key)) if all(key_in(r, key) for r in runs) else "n/a"
                     for _, key, fmt in scn.figures]
            ratio = " | ".join(
                "%.2fx" % (median_of(runs, key) / rv) if rv and all(key_in(r, key) for r in runs)
                else "n/a" for (_, key, _), rv in zip(ratios, ref_vals))
            if scn.unit and all("tool_cpu_pct" in r for r in runs):
                tool = median_of(runs, "tool_cpu_pct")
                if tool >= TOOL_BOUND_PCT:
                    notes.insert(0, "load-tool bound (load tool at %.0f%% CPU)" % tool)
            if t["fail"]:
                notes.append(t["fail"] + "; not retried")
            if len(runs) < rounds:
                notes.insert(0, "%d of %d rounds" % (len(runs), rounds))
        notes = "; ".join(n.replace("|", "/") for n in notes)
        print("| %s | %s | %s | %s |" % (label, " | ".join(c.replace("|", "/") for c in cells),
                                         ratio, notes))
    notes = [SCENARIO_NOTES[scn.name]] if scn.name in SCENARIO_NOTES else []
    notes += [KNOWN_CAUSES[(scn.name, label)] for label, t in table.items()
              if not t["runs"] and (scn.name, label) in KNOWN_CAUSES]
    for note in notes:
        print()
        print(note)
    print()


# ---------------------------------------------------------------------
# set-up

def machine_line():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    u = platform.uname()
    return "%d CPUs, %s, %s %s %s" % (os.cpu_count() or 1, model, u.system, u.release,
                                       u.machine)


def versions():
    def first(argv, pattern):
        try:
            out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = re.search(pattern, out)
        return m.group(1) if m else None
    found = [("Python", platform.python_version())]
    for name, argv, pat in (("ncat", ["ncat", "--version"], r"Version (\S+)"),
                            ("socat", ["socat", "-V"], r"socat version (\S+)"),
                            ("redis", ["redis-server", "--version"], r"v=(\S+)")):
        v = first(argv, pat)
        if v:
            found.append((name, v))
    return ", ".join("%s %s" % nv for nv in found)


def check_workers(workers, workdir):
    """echochatd must accept BENCH_WORKERS, or the bench stops and says why."""
    ini = os.path.join(workdir, "workers.ini")
    with open(ini, "w") as f:
        f.write(echochatd_ini(workers))
    p = subprocess.run([ECHOCHATD, "-t", "-c", ini], capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        sys.stderr.write("scripts/bench: BENCH_WORKERS=%s: this echochatd refuses "
                         "'workers = %s' in [server]:\n" % (workers, workers))
        for line in p.stderr.strip().splitlines():
            sys.stderr.write("  " + line + "\n")
        sys.stderr.write("scripts/bench: not benchmarking with a setting the server "
                         "ignores or refuses; unset BENCH_WORKERS.\n")
        sys.exit(1)


def pinning(workers):
    """(server prefix, tool prefix, description)."""
    n = os.cpu_count() or 1
    if n < 2 or not shutil.which("taskset"):
        why = "one CPU" if n < 2 else "no taskset"
        return [], [], "no pinning (%s): server and load tool share the CPU" % why
    if workers not in (None, "1"):
        if n >= 3:
            return (["taskset", "-c", "0-%d" % (n - 2)], ["taskset", "-c", str(n - 1)],
                    "server on CPUs 0-%d (workers = %s), load tool on CPU %d"
                    % (n - 2, workers, n - 1))
        return [], [], ("no pinning (workers = %s on %d CPUs): server threads and load "
                        "tool share the CPUs" % (workers, n))
    return ["taskset", "-c", "0"], ["taskset", "-c", "1"], "server on CPU 0, load tool on CPU 1"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def the_command(argv):
    env = " ".join("%s=%s" % (k, shlex.quote(os.environ[k]))
                   for k in ("BENCH_SECONDS", "BENCH_WORKERS", "BENCH_TIMEOUT",
                             "BENCH_VARIANT")
                   if k in os.environ)
    return " ".join(x for x in (env, "scripts/bench", " ".join(shlex.quote(a) for a in argv))
                    if x)


def parse_args(servers):
    names = [s.name for s in SCENARIOS]
    ap = argparse.ArgumentParser(
        prog="scripts/bench", description="echochatd against its peers, by echochat-bench.",
        epilog="scenarios: %s; servers: %s" % (", ".join(names), ", ".join(servers)))
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                    help="run only these scenarios (default: all)")
    ap.add_argument("--servers", default="",
                    help="comma-separated: run only servers whose name starts with one of "
                         "these (e.g. echochatd,epoll-echo); a scenario's reference is "
                         "then n/a unless named too")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per scenario (default 3)")
    args = ap.parse_args()
    for s in args.scenarios:
        if s not in names:
            ap.error("unknown scenario %r (choose from %s)" % (s, ", ".join(names)))
    if not 1 <= args.rounds <= 20:
        ap.error("--rounds must be 1..20")
    return args


def main():
    t_begin = time.monotonic()
    workers = os.environ.get("BENCH_WORKERS") or None
    servers = make_servers(workers)
    args = parse_args(servers)
    try:
        seconds = int(os.environ.get("BENCH_SECONDS", "3"))
        budget = int(os.environ.get("BENCH_TIMEOUT", "1200"))
        if not 1 <= seconds <= 600 or budget < 1:
            raise ValueError
    except ValueError:
        sys.exit("scripts/bench: BENCH_SECONDS must be 1..600 and BENCH_TIMEOUT positive")
    scenarios = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios]
    if args.servers:
        wanted = [w.strip() for w in args.servers.split(",") if w.strip()]
        servers = {k: v for k, v in servers.items() if any(k.startswith(w) for w in wanted)}
        if not servers:
            sys.exit("scripts/bench: --servers matches none of: %s"
                     % ", ".join(make_servers(workers)))
    for path in (TOOL, ECHOCHATD, EPOLL_ECHO):
        if not os.access(path, os.X_OK):
            sys.exit("scripts/bench: %s is missing: run scripts/build" % path)
    hard = raise_nofile()
    workdir = tempfile.mkdtemp(prefix="echochat-bench-")
    try:
        if workers is not None and "echochatd" in servers:
            check_workers(workers, workdir)
        server_cpu, tool_cpu, pin = pinning(workers)
        print("# echochat bench")
        print()
        print("- machine: %s" % machine_line())
        print("- command: `%s`" % the_command(sys.argv[1:]))
        print("- peers: %s" % versions())
        print("- %s; %d round%s, servers interleaved, median shown; %d s measured after "
              "%d s warm-up; RLIMIT_NOFILE %d; a fresh server for every run"
              % (pin, args.rounds, "s" if args.rounds > 1 else "", seconds, WARMUP, hard))
        if workers is not None:
            print("- echochatd: workers = %s" % workers)
        print("- epoll-echo does nothing but echo: a ratio near 1.00x to it means a server "
              "costs no more than the kernel's own loopback work here")
        print()
        sys.stdout.flush()
        deadline = t_begin + budget
        results = run_all(args, scenarios, servers, (server_cpu, tool_cpu), seconds, deadline,
                          workdir)
        for scn in scenarios:
            print_table(scn, results[scn.name], args.rounds, results)
        print("Total wall time: %.0f s" % (time.monotonic() - t_begin))
    finally:
        for srv in list(LIVE):
            srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    main()
