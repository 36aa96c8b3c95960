"""harness.py -- start the real echochatd for integration tests (and for
scripts/soak and scripts/bench.py, which import it).

Each Server writes its configuration to a temporary directory and starts
the daemon from $ECHOCHATD (optionally under $ECHOCHAT_VALGRIND, e.g.
"valgrind --leak-check=full --error-exitcode=99").  It knows the daemon is
ready, and the real address of every listener, from the notification the
daemon sends to $NOTIFY_SOCKET (echochatd(8), SYSTEMD): READY=1 with
"STATUS=ready; listeners: NAME PROTO ADDR, ..." once every listener is
bound, and again after every SIGHUP reload.  The harness binds that socket
itself, one per server, so no log line is parsed to learn readiness.
The daemon's stderr is still read and kept: tests assert on what it logs.
Listeners bind to port 0 on loopback, so tests never collide with each
other or with anything else on the machine.  The daemon is stopped by pid.
"""
import fcntl
import os
import re
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
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
# A wait that means "nothing arrives" must outlast the daemon's reaction,
# which valgrind slows too; it is spent in full every time, so it grows by
# less than SLOW (a line the daemon meant to send comes within this).
QUIET_SLOW = 5 if VALGRIND else 1
# A daemon built with ASan/UBSan (scripts/test sets this for that build):
# its quarantine and shadow memory make RSS say nothing about our memory.
SANITIZED = bool(os.environ.get("ECHOCHAT_SANITIZED"))
# ECHOCHAT_WORKERS=N runs every Server with "workers = N" (make check runs
# the suites with 1 and with 2): everything must hold across threads.
WORKERS = os.environ.get("ECHOCHAT_WORKERS", "")
# Can a test judge the daemon's memory by its RSS?
RSS_MEANINGFUL = not VALGRIND and not SANITIZED

# What the daemon logs for each listener it opens.  Readiness does not
# come from here; tests that read a log file (log = PATH) use it.
LISTEN_RE = re.compile(
    r"listener (\S+): listening on (tcp|udp|unix) (\S+) \(handler (\S+)\)")

# The STATUS the daemon sends with READY=1 (echochatd(8), SYSTEMD).  A
# listener's name is one word and its protocol one of three, so ", "
# followed by those two starts the next listener even if a Unix path
# holds a comma.
STATUS_PREFIX = "ready; listeners: "
STATUS_SPLIT_RE = re.compile(r", (?=\S+ (?:tcp|udp|unix) )")


def parse_status(value):
    """'ready; listeners: echo tcp 127.0.0.1:5, ...' -> {name: (proto,
    addr)}; None for any other STATUS."""
    if not value.startswith(STATUS_PREFIX):
        return None
    listeners = {}
    body = value[len(STATUS_PREFIX):]
    for part in STATUS_SPLIT_RE.split(body) if body else []:
        name, proto, addr = part.split(" ", 2)
        listeners[name] = (proto, addr)
    return listeners


def parse_addr(text):
    """'127.0.0.1:5' or '[::1]:5' -> (family, host, port)."""
    host, _, port = text.rpartition(":")
    if host.startswith("["):
        return socket.AF_INET6, host[1:-1], int(port)
    return socket.AF_INET, host, int(port)


def with_workers(config):
    """The configuration with $ECHOCHAT_WORKERS applied, unless it sets
    workers itself: a [server] section of its own at the end, so that
    every line keeps its number (tests check errors by line)."""
    if not WORKERS or re.search(r"^workers\s*=", config, re.M):
        return config
    if config and not config.endswith("\n"):
        config += "\n"
    return config + "\n[server]\nworkers = %s\n" % WORKERS


def unread_bytes(fd):
    """Bytes waiting to be read on a pipe or socket (FIONREAD)."""
    buf = fcntl.ioctl(fd, termios.FIONREAD, struct.pack("i", 0))
    return struct.unpack("i", buf)[0]


def notify_address(path):
    """sd_notify(3)'s naming: '@name' is in the abstract namespace."""
    return "\0" + path[1:] if path.startswith("@") else path


class KeptDir:
    """A directory the caller owns: the Server uses it, never removes it
    (scripts/soak keeps its daemon's directory when asked to)."""

    def __init__(self, path):
        self.name = path

    def cleanup(self):
        pass


class Server:
    """A running echochatd with the given INI text (None: built-in).

    env is the daemon's whole environment (default: ours); NOTIFY_SOCKET
    is set in it to the harness's own socket.  If env names a socket of
    its own in NOTIFY_SOCKET, every notification is passed on to it as
    well, so a test can watch them.  binary replaces $ECHOCHATD, prefix is
    put in front of the command (taskset, say), workdir is a directory to
    use instead of a fresh temporary one, new_session starts the daemon
    in a session of its own (scripts/bench stops it by process group).

    Once ready (wait_ready), self.listeners is {name: (proto, addr)} as
    the last READY=1 said, self.ready_count counts the READY=1 received
    (1 after the start, one more after every reload, failed or not) and
    self.log_lines holds at least everything logged to stderr before that
    READY=1 was sent."""

    def __init__(self, config=None, args=(), valgrind=True, env=None,
                 wait_ready=True, binary=None, prefix=(), workdir=None,
                 new_session=False):
        self._prepare(workdir)
        cmd = [binary or ECHOCHATD]
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
        self._spawn(list(prefix) + cmd, env, start_new_session=new_session)
        if wait_ready:
            self._wait_started()

    # -- starting ----------------------------------------------------

    def _prepare(self, workdir=None):
        """The directory, the state the reader fills in and the
        notification socket; before anything is started."""
        if workdir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="echochat-test-")
        else:
            self.tmp = KeptDir(workdir)
        self.dir = self.tmp.name
        self.listeners = {}
        self.log_lines = []
        self.notifications = []     # every assignment received, in order
        self.ready_count = 0
        self.status = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._log_ended = False
        self._closing = False
        self._forward = None
        # In the abstract namespace, named after the directory (so unique
        # while it exists): by the time it is ready the daemon may run as
        # user = nobody, which a socket file in our 0700 directory would
        # shut out; an abstract socket has no file permissions.
        self.notify_path = "@" + os.path.join(self.dir, "notify")
        if len(self.notify_path.encode()) >= 100:   # sun_path is 108
            self.notify_path = "@echochat-harness-%d-%d" % (os.getpid(),
                                                            id(self))
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(notify_address(self.notify_path))
        self._notify.setblocking(False)

    def _spawn(self, cmd, env=None, **popen):
        """Start cmd with NOTIFY_SOCKET pointing at the harness, and the
        thread that reads its stderr and its notifications."""
        env = dict(os.environ if env is None else env)
        theirs = env.get("NOTIFY_SOCKET")
        # One we inherited (make check run by a service manager, say) is
        # not the test's: the daemons under test must not notify it.
        if theirs and theirs != os.environ.get("NOTIFY_SOCKET"):
            self._forward = notify_address(theirs)
        env["NOTIFY_SOCKET"] = self.notify_path
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, **popen)
        self._stderr = self.proc.stderr.fileno()
        os.set_blocking(self._stderr, False)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _wait_started(self):
        """Wait for the first READY=1; return early (as a start that
        failed) if the daemon's stderr closes without one."""
        deadline = time.monotonic() + 10 * SLOW
        with self._changed:
            while not (self.ready_count and self._log_caught_up()):
                # A -d start's READY=1 comes from the detached daemon
                # before the foreground process exits: take it first.
                if self._log_ended and not self._notify_pending():
                    return
                if time.monotonic() > deadline:
                    break
                self._changed.wait(0.02)
            else:
                return
        self.kill()
        raise AssertionError("echochatd did not become ready:\n" +
                             self.log())

    # -- the reader ----------------------------------------------------

    def _read(self):
        """stderr into log_lines, notifications into the state; each
        under the lock, so that holding it and seeing nothing unread
        means everything sent so far has been taken in."""
        poller = select.poll()
        poller.register(self._stderr, select.POLLIN)
        poller.register(self._notify, select.POLLIN)
        partial = b""
        while True:
            events = dict(poller.poll(50))
            with self._changed:
                if not self._log_ended and self._stderr in events:
                    partial = self._take_log(partial)
                    if self._log_ended:
                        poller.unregister(self._stderr)
                self._take_notifications()
                closing = self._closing
                self._changed.notify_all()
            if closing:
                return

    def _take_log(self, partial):
        try:
            data = os.read(self._stderr, 65536)
        except BlockingIOError:
            return partial
        if not data:
            self._log_ended = True
            if partial:
                self.log_lines.append(partial.decode("utf-8", "replace"))
            return b""
        *lines, partial = (partial + data).split(b"\n")
        self.log_lines += [l.decode("utf-8", "replace") for l in lines]
        return partial

    def _take_notifications(self):
        while True:
            try:
                data = self._notify.recv(65536)
            except BlockingIOError:
                return
            if self._forward is not None:
                try:
                    self._notify.sendto(data, self._forward)
                except OSError:
                    pass            # the test closed its socket: its business
            for assignment in data.decode("utf-8", "replace").split("\n"):
                if assignment:
                    self._note(assignment)

    def _note(self, assignment):
        self.notifications.append(assignment)
        key, _, value = assignment.partition("=")
        if key == "STATUS":
            self.status = value
            listeners = parse_status(value)
            if listeners is not None:
                self.listeners.clear()
                self.listeners.update(listeners)
        elif assignment == "READY=1":
            self.ready_count += 1

    def _notify_pending(self):
        """Under the lock: is a notification waiting to be taken in?"""
        return self._notify.fileno() != -1 and unread_bytes(self._notify) > 0

    def _log_caught_up(self):
        """Under the lock: has the reader taken in every byte the daemon
        wrote to stderr so far?  A READY=1 is sent after the lines it
        follows, so once it is in, those lines are in the pipe."""
        return self._log_ended or unread_bytes(self._stderr) == 0

    # -- readiness -------------------------------------------------------

    def wait_ready(self, n=1, timeout=10):
        """Wait until the daemon has sent READY=1 n times in all (the start
        is the first, each reload, done or failed, one more) and the log
        has caught up with the last; AssertionError if it exits first or
        the time runs out."""
        deadline = time.monotonic() + timeout * SLOW
        with self._changed:
            while not (self.ready_count >= n and self._log_caught_up()):
                if (self._log_ended and self.proc.poll() is not None and
                        not self._notify_pending()):
                    why = "exited with status %d" % self.proc.returncode
                    break
                if time.monotonic() > deadline:
                    why = "timed out"
                    break
                self._changed.wait(0.02)
            else:
                return
        raise AssertionError("echochatd: READY=1 #%d never came (%s); "
                             "notifications: %s; log:\n%s" % (
                                 n, why, self.notifications, self.log()))

    def reload(self, timeout=5):
        """SIGHUP, and wait until the daemon is ready again (a failed
        reload is ready again too, on the previous configuration): the
        lines it logged meanwhile, as text."""
        with self._lock:
            mark, n = len(self.log_lines), self.ready_count + 1
        self.send_signal(signal.SIGHUP)
        self.wait_ready(n, timeout)
        with self._lock:
            return "\n".join(self.log_lines[mark:])

    # -- the log ---------------------------------------------------------

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

    def wait_log_matches(self, pattern, count, timeout=5):
        """Wait until `count` log lines match the regex; returns the
        matches.  The log is read by another thread, so a line the
        daemon wrote a moment ago may not be here yet."""
        deadline = time.time() + timeout * SLOW
        rx = re.compile(pattern)
        while True:
            with self._lock:
                found = [m for m in map(rx.search, self.log_lines) if m]
            if len(found) >= count or time.time() >= deadline:
                return found
            time.sleep(0.02)

    # -- talking to it ---------------------------------------------------

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

    # -- stopping --------------------------------------------------------

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
        self._end_reader()
        return rc

    def _end_reader(self):
        """After the exit: let the reader take what is left (the log's
        end, STOPPING=1), then close the pipes and the socket."""
        deadline = time.monotonic() + 5
        with self._changed:
            while not self._log_ended and time.monotonic() < deadline:
                self._changed.wait(0.02)
            self._closing = True
        self._reader.join(5)
        with self._lock:
            self._log_ended = True      # whatever is left is not read
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe:
                    pipe.close()
            self._notify.close()

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


def free_ports(n=1, kind=socket.SOCK_STREAM):
    """n distinct loopback ports that are free right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(kind=socket.SOCK_STREAM):
    return free_ports(1, kind)[0]


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
                f.write(with_workers(config))
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


# $ECHOCHAT_NO_SKIP (scripts/test sets it in CI, as root): a skipped case
# is a failure, since everything a test needs (root, the packages
# scripts/deps installs) is there.  Only a skip for what the host itself
# lacks (its reason starts with HOST_SKIP, e.g. no IPv6 loopback) stays a
# skip.
NO_SKIP = bool(os.environ.get("ECHOCHAT_NO_SKIP"))
HOST_SKIP = "this host"


def main():
    """Run the calling module's tests.  Exit 0 if all ran passed, 1 on a
    failure (or if nothing ran), 77 if every case was skipped: automake's
    test driver (make check) shows that as SKIP, not PASS."""
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    result = prog.result
    failed = (len(result.failures) + len(result.errors) +
              len(result.unexpectedSuccesses))
    skipped = len(result.skipped)
    if NO_SKIP:
        for test, reason in result.skipped:
            if not reason.startswith(HOST_SKIP):
                print("FAIL (skipped, and ECHOCHAT_NO_SKIP is set): %s: %s"
                      % (test.id(), reason))
                failed += 1
                skipped -= 1
    passed = max(0, result.testsRun - failed - skipped)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed == 0 and passed == 0 and skipped > 0:
        sys.exit(77)
    sys.exit(0 if failed == 0 and passed > 0 else 1)
