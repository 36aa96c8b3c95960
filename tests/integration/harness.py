"""harness.py -- start the real echochatd for integration tests.

Each Server writes its configuration to a temporary directory, starts the
daemon from $ECHOCHATD (optionally under $ECHOCHAT_VALGRIND, e.g.
"valgrind --leak-check=full --error-exitcode=99"), reads the real address
of every listener from its log, and stops it by pid.  Listeners bind to
port 0 on loopback, so tests never collide with each other or with
anything else on the machine.
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ECHOCHATD = os.environ.get("ECHOCHATD") or os.path.join(
    os.path.dirname(__file__), "..", "..", "src", "echochatd")
SRCDIR = os.environ.get("ECHOCHAT_SRCDIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")
VALGRIND = shlex.split(os.environ.get("ECHOCHAT_VALGRIND", "") or "")
# Under valgrind everything is ~20x slower: scale waits, shrink loads.
SLOW = 20 if VALGRIND else 1
# A daemon built with ASan/UBSan (scripts/test sets this for that build):
# its quarantine and shadow memory make RSS say nothing about our memory.
SANITIZED = bool(os.environ.get("ECHOCHAT_SANITIZED"))
# ECHOCHAT_WORKERS=N runs every Server with "workers = N" (make check runs
# the suites with 1 and with 2): everything must hold across threads.
WORKERS = os.environ.get("ECHOCHAT_WORKERS", "")
# Can a test judge the daemon's memory by its RSS?
RSS_MEANINGFUL = not VALGRIND and not SANITIZED

LISTEN_RE = re.compile(
    r"listener (\S+): listening on (tcp|udp|unix) (\S+) \(handler (\S+)\)")


def parse_addr(text):
    """'127.0.0.1:5' or '[::1]:5' -> (family, host, port)."""
    host, _, port = text.rpartition(":")
    if host.startswith("["):
        return socket.AF_INET6, host[1:-1], int(port)
    return socket.AF_INET, host, int(port)


def with_workers(config):
    """The configuration with $ECHOCHAT_WORKERS applied, unless it sets
    workers itself."""
    if not WORKERS or re.search(r"^workers\s*=", config, re.M):
        return config
    if re.search(r"^\[server\]\s*$", config, re.M):
        return re.sub(r"^\[server\]\s*$", "[server]\nworkers = " + WORKERS,
                      config, count=1, flags=re.M)
    return "[server]\nworkers = %s\n\n%s" % (WORKERS, config)


class Server:
    """A running echochatd with the given INI text (None: built-in)."""

    def __init__(self, config=None, args=(), valgrind=True, env=None,
                 wait_ready=True):
        self.tmp = tempfile.TemporaryDirectory(prefix="echochat-test-")
        self.dir = self.tmp.name
        self.listeners = {}
        self.log_lines = []
        self._lock = threading.Lock()
        cmd = [ECHOCHATD]
        if config is not None:
            self.config_path = os.path.join(self.dir, "echochatd.ini")
            with open(self.config_path, "w") as f:
                f.write(with_workers(config.replace("@DIR@", self.dir)))
            cmd += ["-c", self.config_path]
        cmd += list(args)
        self.valgrind = bool(VALGRIND) and valgrind
        if self.valgrind:
            cmd = VALGRIND + ["--log-file=" + os.path.join(
                self.dir, "valgrind.%p")] + cmd
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env)
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if wait_ready:
            if not self._ready.wait(10 * SLOW):
                self.kill()
                raise AssertionError("echochatd did not become ready:\n" +
                                     self.log())

    def _read_log(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.log_lines.append(line)
            m = LISTEN_RE.search(line)
            if m:
                self.listeners[m.group(1)] = (m.group(2), m.group(3))
            if line.endswith(" info: ready"):
                self._ready.set()
        self._ready.set()

    def log(self):
        with self._lock:
            return "\n".join(self.log_lines)

    def wait_log(self, pattern, timeout=5):
        """Wait until a log line matches the regex; returns the match."""
        deadline = time.time() + timeout * SLOW
        rx = re.compile(pattern)
        while time.time() < deadline:
            with self._lock:
                for line in self.log_lines:
                    m = rx.search(line)
                    if m:
                        return m
            time.sleep(0.02)
        raise AssertionError("no log line matching %r in:\n%s" %
                             (pattern, self.log()))

    def addr(self, name):
        """(family, sockaddr) of a listener."""
        proto, where = self.listeners[name]
        if proto == "unix":
            return socket.AF_UNIX, where
        family, host, port = parse_addr(where)
        return family, (host, port)

    def port(self, name):
        return self.addr(name)[1][1]

    def connect(self, name, timeout=5):
        family, sa = self.addr(name)
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout * SLOW)
        s.connect(sa)
        return s

    def udp(self, name, timeout=2):
        family, sa = self.addr(name)
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(timeout * SLOW)
        s.connect(sa)
        return s

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the daemon and return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("echochatd did not exit after %s" % sig)
        self._reader.join(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def valgrind_report(self):
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.startswith("valgrind."):
                with open(os.path.join(self.dir, name)) as f:
                    out.append(f.read())
        return "\n".join(out)

    def close(self):
        """Stop (if running) and check a clean exit; for tearDown."""
        rc = self.stop()
        report = self.valgrind_report() if self.valgrind else ""
        self.tmp.cleanup()
        if rc != 0:
            raise AssertionError("echochatd exited %d\n%s\n%s" %
                                 (rc, self.log(), report))


def wait_quiet(server, timeout=5):
    """For a daemon at -L debug: wait until every connect logged has its
    disconnect, i.e. the daemon has let go of every connection it took.

    Stopping a daemon that still holds connections is tested on its own;
    other tests stop a quiet one."""
    deadline = time.time() + timeout * SLOW
    while True:
        log = server.log()
        opened = log.count(" debug: connect ")
        closed = log.count(" debug: disconnect ")
        if opened == closed:
            return
        if time.time() > deadline:
            raise AssertionError("%d connections still open:\n%s" %
                                 (opened - closed, log[-3000:]))
        time.sleep(0.02)


def release(server):
    """Make sure the daemon is gone and its files removed (no checks)."""
    server.kill()
    server.stop()           # reaps it, ends the log reader, closes pipes
    server.tmp.cleanup()


def finish(server, quiet=True):
    """Wait for quiet (debug log), stop, check exit 0 (and valgrind's
    verdict), clean up."""
    try:
        if quiet:
            wait_quiet(server)
        server.close()
    finally:
        release(server)


def roundtrip(testcase, sock, data=b"ping\n", timeout=10):
    """Send data and expect exactly it back."""
    sock.sendall(data)
    testcase.assertEqual(recv_exactly(sock, len(data), timeout), data)


def run(cmd_args, config=None, timeout=10):
    """Run echochatd to completion (for -t, -V, errors):
    returns (rc, stdout, stderr) as text."""
    with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
        args = [ECHOCHATD]
        if config is not None:
            path = os.path.join(d, "test.ini")
            with open(path, "w") as f:
                f.write(config)
            args += ["-c", path]
        p = subprocess.run(args + list(cmd_args), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout * SLOW)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))


def recv_exactly(sock, n, timeout=10):
    """Read exactly n bytes or fail."""
    sock.settimeout(timeout * SLOW)
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        if not chunk:
            raise AssertionError("connection closed after %d of %d bytes"
                                 % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_line(sock, timeout=5):
    """Read one line (with its LF) byte-safely; b'' on EOF."""
    sock.settimeout(timeout * SLOW)
    buf = bytearray()
    while not buf.endswith(b"\n"):
        ch = sock.recv(1)
        if not ch:
            break
        buf += ch
    return bytes(buf)


def recv_until_closed(sock, timeout=5):
    sock.settimeout(timeout * SLOW)
    buf = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(buf)
        buf += chunk


def main():
    """Run the calling module's tests; exit non-zero on failure."""
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    result = prog.result
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
