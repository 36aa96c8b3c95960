#!/usr/bin/env python3
"""test_abuse.py -- hostile clients and faults (README "Security").

Covers:

- Descriptor exhaustion: with RLIMIT_NOFILE at 64 the daemon runs out of
  descriptors; it keeps serving the clients it has, does not spin on the
  listener (CPU time over 2 s of exhaustion), logs the pause once per
  episode (`warn: listener NAME: accept: Too many open files; pausing`),
  and accepts again (`info: listener NAME: accepting again`) as soon as
  descriptors are freed -- twice, to see two episodes.
- Slow and stuck clients: silent connections are closed by idle_timeout
  and their descriptors released; a client dribbling a line one byte per
  second is told `*** error: line timeout` again and again and its partial
  line never reaches anyone; a client stuck in flow control (never reads)
  is closed by idle_timeout; 20,000 connect/close cycles of every kind
  (FIN, RST, half-close, data left unread, chat join and /quit) leave the
  daemon's descriptor count where it was and its RSS within a few MiB.
- UDP: forged datagrams (raw sockets, root only; skipped with a reason
  otherwise) from source ports below 1024 are never answered; a forged
  source address never receives chat traffic -- only rationed join
  challenges -- even when the attacker forges `/join` lines with guessed
  tokens, while the real owner of that address can still join; echo
  replies are never larger than the request (N bytes -> N bytes) and a
  chat stranger only ever gets the one challenge datagram; replies to one
  source IP share one budget across listeners (echo answers and chat
  challenges), other IPs have their own; forged sources from 20,000
  addresses do not grow memory; a forged datagram that makes the daemon
  answer itself (source = its own listener) dies out within udp_burst
  replies, and -- with udp_rate = 0 -- must not make it spin forever.
- Chat flood control cross-check: a UDP participant flooding the room is
  throttled like a stream one (the stream cases are in test_chat.py).
- Memory ceiling: output_limit = 64k, max_line = 4k, max_clients = 2000;
  1,999 clients flood the echo listener without reading (and, in a second
  test, 200 of them flood a chat listener with short lines instead); the
  daemon's RSS stays under 2000 x (64 KiB + 4 KiB + 2 KiB) above its
  starting RSS and a fresh client is answered promptly.  A third, small
  test pins down the chat part: 20 participants that never read, fed
  short broadcast lines until each is cut at output_limit, must cost at
  most output_limit + max_line + 2 KiB each.

Under $ECHOCHAT_VALGRIND (harness.SLOW > 1) loads are shrunk; there and in
an ASan build ($ECHOCHAT_SANITIZED) RSS
assertions skipped (RSS means nothing under valgrind); everything else
still runs.  Every wait has a deadline; the whole file takes about 45 s
(about 90 s under valgrind).

Three tests pin what once went wrong: the two chat memory tests (a queued
broadcast line once cost a whole ~1 KiB evbuffer chain, so a participant
that never read cost about 85 times output_limit in short lines; now it
costs a pointer plus 16 bytes, and output_limit counts that) and the
udp_rate = 0 self-reply loop (once 100% CPU forever after one forged
datagram; now datagrams from echochatd's own ports are dropped).
"""
import os
import random
import re
import resource
import selectors
import socket
import struct
import sys
import time
import unittest

import harness

SLOW = harness.SLOW
VALGRIND = bool(harness.VALGRIND)
RSS_MEANINGFUL = harness.RSS_MEANINGFUL
CHALLENGE_RE = re.compile(rb"\A\*\*\* To join, send: /join ([0-9a-f]{16})\n\Z")
WELCOME_RE = re.compile(
    rb"\A\*\*\* Welcome to echochat, (guest[0-9]+)\. "
    rb"Type /help for help\.\n\Z")
KIB = 1024
# The forged-source tests watch fixed ports (1024, ...) on a loopback
# address of their own; one per run, so that runs side by side (other
# trees, other suites) never find them taken.
PRIVATE_LOOPBACK = "127.77.%d.%d" % ((os.getpid() >> 8) & 255,
                                     (os.getpid() & 254) + 1)


def say(fmt, *args):
    """A figure for the person reading the test output."""
    sys.stdout.write("\n    " + (fmt % args if args else fmt))
    sys.stdout.flush()


def listener(name, handler="echo", proto="tcp", bind="127.0.0.1:0",
             extra=""):
    return ("\n[listener %s]\nproto = %s\nbind = %s\nhandler = %s\n%s" %
            (name, proto, bind, handler, extra))


# --- The daemon seen from /proc. ---

def proc_fds(server):
    return len(os.listdir("/proc/%d/fd" % server.proc.pid))


def proc_cpu(server):
    """utime + stime of the daemon, in seconds."""
    with open("/proc/%d/stat" % server.proc.pid) as f:
        text = f.read()
    fields = text[text.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_nofile(server):
    with open("/proc/%d/limits" % server.proc.pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def wait_fds(server, target, timeout=5):
    """Wait until the daemon holds target descriptors (or fewer)."""
    try:
        wait_for(lambda: proc_fds(server) <= target, timeout * SLOW,
                 "the daemon to release descriptors")
    except AssertionError:
        raise AssertionError("the daemon holds %d descriptors, expected "
                             "%d:\n%s" % (proc_fds(server), target,
                                          server.log()[-3000:]))


wait_quiet = harness.wait_quiet
release = harness.release
finish = harness.finish
roundtrip = harness.roundtrip


def reset_close(sock):
    """Close with a RST (SO_LINGER 0): no TIME_WAIT, nothing owed."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class NoFile:
    """Set RLIMIT_NOFILE's soft limit for a while (the daemon started
    meanwhile inherits it)."""

    def __init__(self, soft):
        self.old = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.soft = min(soft, self.old[1]) if self.old[1] != \
            resource.RLIM_INFINITY else soft

    def __enter__(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.soft, self.old[1]))
        return self

    def __exit__(self, *exc):
        resource.setrlimit(resource.RLIMIT_NOFILE, self.old)


def raise_nofile(want):
    """Raise our own soft limit up to want (bounded by the hard limit);
    returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


# --- Forged datagrams (raw IPv4 sockets, root only). ---

def raw_socket_or_skip(testcase):
    if os.geteuid() != 0:
        print("\n    skipped: raw sockets (forged source addresses) need "
              "root")
        testcase.skipTest("raw sockets need root")
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_RAW,
                             socket.IPPROTO_RAW)
    except OSError as e:
        print("\n    skipped: no raw socket: %s" % e)
        testcase.skipTest("no raw socket: %s" % e)


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def forged_udp(src, dst, payload):
    """An IPv4 + UDP packet from src (ip, port) to dst (ip, port)."""
    (sip, sport), (dip, dport) = src, dst
    length = 8 + len(payload)
    pseudo = (socket.inet_aton(sip) + socket.inet_aton(dip) +
              struct.pack("!BBH", 0, socket.IPPROTO_UDP, length))
    header = struct.pack("!HHHH", sport, dport, length, 0)
    check = _checksum(pseudo + header + payload) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, length, check) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0, 64,
                     socket.IPPROTO_UDP, 0, socket.inet_aton(sip),
                     socket.inet_aton(dip))
    return ip + udp


def forge(raw, src, dst, payload):
    raw.sendto(forged_udp(src, dst, payload), (dst[0], 0))


def observer(ip, port=0):
    """A plain UDP socket on ip:port that sees what that address gets."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    s.setblocking(False)
    return s


def read_until(sock, pattern, timeout=5):
    """Stream lines up to and including the first matching pattern."""
    rx = re.compile(pattern)
    lines = []
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        line = harness.recv_line(sock, timeout)
        if not line:
            break
        lines.append(line)
        if rx.search(line):
            return lines
    raise AssertionError("no line matching %r in %r" % (pattern, lines))


def drain_datagrams(sock, quiet=0.3):
    """Every datagram until quiet seconds pass without one."""
    got = []
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    try:
        while sel.select(quiet * min(SLOW, 3)):
            while True:
                try:
                    got.append(sock.recv(70000))
                except BlockingIOError:
                    break
    finally:
        sel.close()
    return got


# ----------------------------------------------------------------------

class DescriptorExhaustion(unittest.TestCase):
    """accept failing with EMFILE pauses the listener, not the server."""

    LIMIT = 64
    PAUSED = r"warn: listener echo: accept: Too many open files; pausing$"
    AGAIN = r"info: listener echo: accepting again$"

    def setUp(self):
        with NoFile(self.LIMIT):
            self.server = harness.Server(listener("echo"),
                                         args=["-L", "debug"])
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        finish(self.server)

    def count(self, pattern):
        rx = re.compile(pattern)
        return sum(1 for line in self.server.log().splitlines()
                   if rx.search(line))

    def wait_disconnects(self, n):
        """Until the daemon has seen n disconnects (under valgrind a
        connection it cannot take yet is closed by valgrind, not kept in
        the backlog)."""
        wait_for(lambda: self.server.log().count(" debug: disconnect ") >=
                 n, 3 * SLOW, "the daemon to see the closes")

    def fill_up(self):
        """Connect until a new connection is no longer answered; returns
        (served, stuck): the stuck one sits in the kernel's backlog with
        an unanswered line.  Under valgrind the connection is taken off
        the backlog and closed by valgrind's accept wrapper (a descriptor
        beyond the client's limit), so stuck is None there."""
        served = []
        wait = 0.5 if not VALGRIND else 5
        for i in range(self.LIMIT * 2):
            s = self.server.connect("echo")
            self.socks.append(s)
            s.sendall(b"line %d\n" % i)
            s.settimeout(wait)
            try:
                got = harness.recv_exactly(s, len(b"line %d\n" % i),
                                           timeout=wait / SLOW)
            except socket.timeout:
                return served, (s, b"line %d\n" % i)
            except (AssertionError, ConnectionError):
                if not VALGRIND:
                    raise
                return served, None
            self.assertEqual(got, b"line %d\n" % i)
            served.append(s)
        self.fail("%d connections and still no EMFILE (limit %s):\n%s" %
                  (len(served), proc_nofile(self.server), self.server.log()))

    def test_out_of_descriptors_pauses_and_recovers(self):
        # valgrind keeps a few descriptors above the client's limit.
        if VALGRIND:
            self.assertLessEqual(proc_nofile(self.server), self.LIMIT + 32)
        else:
            self.assertEqual(proc_nofile(self.server), self.LIMIT)
        served, stuck = self.fill_up()
        backlog = [stuck] if stuck else []
        say("EMFILE after %d connections (daemon holds %d descriptors)",
            len(served), proc_fds(self.server))
        self.server.wait_log(self.PAUSED)
        # Existing clients are still served.
        for s in (served[0], served[len(served) // 2], served[-1]):
            roundtrip(self, s, b"still served\n")
        # More clients knock meanwhile: they wait in the backlog.
        for i in range(3 if not VALGRIND else 0):
            s = self.server.connect("echo")
            self.socks.append(s)
            s.sendall(b"waiting %d\n" % i)
            backlog.append((s, b"waiting %d\n" % i))
        # Not spinning: the listener rests between attempts.
        cpu0, t0 = proc_cpu(self.server), time.monotonic()
        time.sleep(2)
        cpu = proc_cpu(self.server) - cpu0
        wall = time.monotonic() - t0
        say("CPU while out of descriptors: %.2f s over %.1f s", cpu, wall)
        self.assertLess(cpu, 0.5 if not VALGRIND else 1.5,
                        "echochatd spins while out of descriptors")
        roundtrip(self, served[1], b"after the pause\n")
        self.assertEqual(self.count(self.PAUSED), 1,
                         "the pause was not logged exactly once:\n" +
                         self.server.log())
        self.assertEqual(self.count(self.AGAIN), 0)
        # Free five descriptors: the waiting clients are taken at once.
        t0 = time.monotonic()
        gone = self.server.log().count(" debug: disconnect ")
        for s in served[-5:]:
            s.close()
            self.socks.remove(s)
        del served[-5:]
        for s, line in backlog:
            self.assertEqual(harness.recv_exactly(s, len(line), timeout=3),
                             line)
        if backlog:
            say("backlog served %.2f s after descriptors were freed",
                time.monotonic() - t0)
        else:
            self.wait_disconnects(gone + 5)
            with self.server.connect("echo") as fresh:
                roundtrip(self, fresh, b"after the pause\n")
        self.server.wait_log(self.AGAIN)
        self.assertEqual(self.count(self.AGAIN), 1)
        served += [s for s, _ in backlog]
        # A second episode is logged again, once.
        more, stuck2 = self.fill_up()
        self.server.wait_log(self.PAUSED)
        wait_for(lambda: self.count(self.PAUSED) >= 2, 2 * SLOW,
                 "a second pause")
        time.sleep(0.5)
        self.assertEqual(self.count(self.PAUSED), 2)
        gone = self.server.log().count(" debug: disconnect ")
        for s in (served + more)[:3]:
            s.close()
            self.socks.remove(s)
        self.wait_disconnects(gone + 3)
        if stuck2:
            self.assertEqual(harness.recv_exactly(stuck2[0], len(stuck2[1]),
                                                  timeout=3), stuck2[1])
        with self.server.connect("echo") as fresh:
            roundtrip(self, fresh, b"fresh\n")
        wait_for(lambda: self.count(self.AGAIN) >= 2, 3 * SLOW,
                 "a second recovery:\n" + self.server.log())
        self.assertEqual(self.count(self.AGAIN), 2)

    def test_recovery_that_takes_the_last_descriptor_ends_the_shortage(self):
        """As many descriptors freed as clients wait: taking them uses
        the last free slot, so the accept after them fails at once (the
        kernel wants a descriptor before it looks at the backlog).  The
        shortage is still over, and the log says so, once."""
        served, stuck = self.fill_up()
        self.server.wait_log(self.PAUSED)
        waiting = [stuck] if stuck else []
        for i in range(2 if not VALGRIND else 0):
            s = self.server.connect("echo")
            self.socks.append(s)
            s.sendall(b"waiting %d\n" % i)
            waiting.append((s, b"waiting %d\n" % i))
        freed = max(len(waiting), 1)
        gone = self.server.log().count(" debug: disconnect ")
        for s in served[-freed:]:
            s.close()
            self.socks.remove(s)
        if not waiting:
            # valgrind took the stuck one off the backlog: one new client
            # takes the one descriptor freed.
            self.wait_disconnects(gone + freed)
            s = self.server.connect("echo")
            self.socks.append(s)
            s.sendall(b"fresh\n")
            waiting.append((s, b"fresh\n"))
        for s, line in waiting:
            self.assertEqual(harness.recv_exactly(s, len(line),
                                                  timeout=3 * SLOW), line)
        self.server.wait_log(self.AGAIN)
        time.sleep(0.5)
        self.assertEqual(self.count(self.AGAIN), 1)
        self.assertEqual(self.count(self.PAUSED), 1)
        roundtrip(self, served[0], b"still served\n")


# ----------------------------------------------------------------------

class SlowAndStuck(unittest.TestCase):
    """idle_timeout and line_timeout together: nobody holds a slot or a
    buffer forever by saying nothing or saying it very slowly."""

    def test_silent_connections_are_closed_and_released(self):
        count = 300 if not VALGRIND else 30
        raise_nofile(count + 200)
        server = harness.Server("[server]\nidle_timeout = 1\n" +
                                listener("echo") +
                                listener("chat", handler="chat"))
        socks = []
        try:
            base = proc_fds(server)
            with server.connect("echo") as active:
                for i in range(count):
                    socks.append(server.connect("echo" if i % 2 else
                                                "chat"))
                t0 = time.monotonic()
                self.assertGreaterEqual(wait_for(
                    lambda: proc_fds(server) >= base + count and
                    proc_fds(server), 2 * SLOW, "the daemon to accept"),
                    base + count)
                # The active one keeps talking, the others say nothing.
                while proc_fds(server) > base + 1:
                    self.assertLess(time.monotonic() - t0, 4 * SLOW,
                                    "silent connections still held")
                    roundtrip(self, active, b"alive\n")
                    time.sleep(0.2)
                say("%d silent connections closed %.1f s after they "
                    "connected (idle_timeout 1 s)", count,
                    time.monotonic() - t0)
                roundtrip(self, active, b"still here\n")
                # Echo ones were closed silently; chat ones got only what
                # the room said before.
                for i, s in enumerate(socks):
                    data = harness.recv_until_closed(s, timeout=2)
                    if i % 2:
                        self.assertEqual(data, b"")
                    else:
                        self.assertTrue(data.startswith(b"*** Welcome"))
            wait_fds(server, base)
            self.assertEqual(server.log().count(": idle timeout"), count)
        finally:
            for s in socks:
                s.close()
            finish(server, quiet=False)

    def test_dribbled_line_cannot_hold_a_buffer(self):
        """One byte per second, never a newline: the partial line is
        dropped every line_timeout; the connection is not idle (it sends),
        so idle_timeout leaves it alone; a silent neighbour is closed."""
        server = harness.Server("[server]\nline_timeout = 2\n"
                                "idle_timeout = 3\n" +
                                listener("chat", handler="chat"),
                                args=["-L", "debug"])
        try:
            a = server.connect("chat")
            drip = server.connect("chat")
            silent = server.connect("chat")
            # Nicks from the welcomes: with workers, joins may finish out
            # of connection order.
            nick = {}
            for name, s in (("a", a), ("drip", drip), ("silent", silent)):
                m = WELCOME_RE.match(harness.recv_line(s))
                self.assertTrue(m)
                nick[name] = m.group(1)
            got_a = bytearray()
            got_drip = bytearray()
            a.setblocking(False)
            drip.setblocking(False)
            t0 = time.monotonic()
            i = 0
            while time.monotonic() - t0 < 7.5:
                drip.send(b"%c" % (ord("a") + i % 26))
                i += 1
                if i % 2 == 0:
                    a.send(b"a is here %d\n" % i)   # a is not idle either
                step_end = time.monotonic() + 1.0
                while time.monotonic() < step_end:
                    for s, buf in ((a, got_a), (drip, got_drip)):
                        try:
                            buf += s.recv(65536)
                        except BlockingIOError:
                            pass
                    time.sleep(0.05)
            n_errors = got_drip.count(b"*** error: line timeout\n")
            say("dribbler (1 byte/s, line_timeout 2 s): told %d times in "
                "7.5 s", n_errors)
            self.assertGreaterEqual(n_errors, 2)
            self.assertLessEqual(n_errors, 4)
            # Nothing it dribbled reached the room as a line.
            self.assertNotIn(b"<%s>" % nick["drip"], bytes(got_a))
            # It was never closed for idleness; the silent one was.
            self.assertIn(b"*** %s has left\n" % nick["silent"], bytes(got_a))
            self.assertNotIn(b"*** %s has left" % nick["drip"], bytes(got_a))
            drip.setblocking(True)
            a.setblocking(True)
            drip.sendall(b"\n/quit\n")
            self.assertTrue(harness.recv_until_closed(drip).endswith(
                b"*** Bye\n"))
            self.assertEqual(server.log().count(
                "info: closing 127.0.0.1"), 1)
            for s in (a, drip, silent):
                s.close()
        finally:
            finish(server)

    def test_reader_stuck_in_flow_control_is_closed_when_idle(self):
        """A never-reading echo client stops being read (TCP flow
        control); idle_timeout still ends it rather than letting it hold
        its queue forever."""
        server = harness.Server("[server]\nidle_timeout = 1\n"
                                "output_limit = 64k\n" + listener("echo"),
                                args=["-L", "debug"])
        try:
            base = proc_fds(server)
            family, sa = server.addr("echo")
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * KIB)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * KIB)
            s.connect(sa)
            t_connect = time.monotonic()
            s.setblocking(False)
            block = os.urandom(64 * KIB)
            sent = 0
            last = time.monotonic()
            while time.monotonic() - last < 0.3:
                try:
                    sent += s.send(block)
                    last = time.monotonic()
                except BlockingIOError:
                    time.sleep(0.01)
                except ConnectionError:
                    break           # already closed by the daemon
            server.wait_log(r"info: closing 127\.0\.0\.1:\d+ on listener "
                            r"echo: idle timeout$", timeout=4)
            closed = time.monotonic()
            say("never-reading echo client: sent %d KiB, last progress "
                "%.1f s after connecting, closed after %.1f s",
                sent // KIB, last - t_connect, closed - t_connect)
            self.assertLess(closed - last, 3 * SLOW)
            self.assertLess(closed - t_connect, 8 * SLOW)
            wait_fds(server, base)
            reset_close(s)
        finally:
            finish(server)

    def test_connection_storm_leaks_nothing(self):
        """20,000 connect/close cycles of every kind, up to 100 at once."""
        cycles = 20000 if not VALGRIND else 1500
        raise_nofile(1000)
        server = harness.Server("[server]\nlog_level = info\n" +
                                listener("echo") +
                                listener("chat", handler="chat") +
                                listener("unix", proto="unix",
                                         bind="@DIR@/echo.sock"))
        window = []
        kinds = {}

        def cycle(i):
            kind = i % 8
            kinds[kind] = kinds.get(kind, 0) + 1
            name = "chat" if kind in (5, 6) else \
                "unix" if kind == 7 else "echo"
            s = server.connect(name, timeout=10)
            if kind == 1:
                s.send(b"unread echo\n")            # answer never read
            elif kind == 2:
                s.sendall(b"x" * 3000)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))   # RST
            elif kind == 3:
                s.sendall(b"half closed\n")
                s.shutdown(socket.SHUT_WR)
                if harness.recv_until_closed(s) != b"half closed\n":
                    raise AssertionError("half-closed echo lost bytes")
            elif kind == 4:
                s.sendall(b"partial, no newline")
            elif kind == 6:
                s.sendall(b"hello room\n/quit storm\n")
            elif kind == 7:
                s.sendall(b"unix\n")
            window.append(s)
            if len(window) > 100:
                old = window.pop(0)
                old.close()

        try:
            for i in range(cycles // 10):          # warm up the allocator
                cycle(i)
            while window:
                window.pop().close()
            time.sleep(0.5)
            base_fds = proc_fds(server)
            base_rss = server.rss_kib()
            t0 = time.monotonic()
            for i in range(cycles):
                cycle(i)
                if i % 1000 == 0:
                    self.assertIsNone(server.proc.poll(), "daemon died")
            while window:
                window.pop().close()
            elapsed = time.monotonic() - t0
            wait_fds(server, base_fds, timeout=10)
            time.sleep(0.3)
            rss = server.rss_kib()
            say("%d cycles in %.1f s (%.0f/s); descriptors %d -> %d; "
                "RSS %d -> %d KiB", cycles, elapsed, cycles / elapsed,
                base_fds, proc_fds(server), base_rss, rss)
            self.assertEqual(proc_fds(server), base_fds)
            if RSS_MEANINGFUL:
                self.assertLess(rss - base_rss, 4 * KIB,
                                "RSS grew by %d KiB" % (rss - base_rss))
            with server.connect("echo") as s:
                roundtrip(self, s)
        finally:
            for s in window:
                s.close()
            finish(server, quiet=False)


# ----------------------------------------------------------------------

class UdpAbuse(unittest.TestCase):

    server = None

    def tearDown(self):
        if self.server is not None:     # raw-socket tests may skip first
            finish(self.server, quiet=False)

    def test_reply_never_larger_than_request(self):
        """Echo and upper: N bytes -> exactly N bytes, one datagram.  A
        chat stranger: one challenge per datagram, whatever it holds; the
        welcome after /join.  Those two are the only replies larger than
        what came in."""
        self.server = harness.Server(
            "[server]\nudp_rate = 0\n" +
            listener("echo", proto="udp") +
            listener("upper", "upper", proto="udp") +
            listener("chat", "chat", proto="udp"))
        sizes = [0, 1, 2, 100, 1400, 8192, 65507]
        for name in ("echo", "upper"):
            with self.server.udp(name) as u:
                for n in sizes:
                    payload = bytes(random.getrandbits(8) for _ in
                                    range(min(n, 4096))) * (n // 4096 + 1)
                    payload = payload[:n]
                    u.send(payload)
                    reply = u.recv(70000)
                    self.assertEqual(len(reply), n, name)
                    if name == "echo":
                        self.assertEqual(reply, payload)
        with self.server.udp("chat") as u:
            u.setblocking(False)
            challenges = []
            for payload in (b"x", b"\xff\xfb\x01", b"a\nb\nc\nd\n" * 100,
                            b"y" * 8000, b"/join nope\nhello\n",
                            b"/who\n/help\n/nick evil\n"):
                u.send(payload)
                got = drain_datagrams(u, quiet=0.2)
                self.assertEqual(len(got), 1, (payload[:20], got))
                self.assertRegex(got[0], CHALLENGE_RE)
                challenges.append(got[0])
            self.assertEqual(len(set(challenges)), 1)
            token = CHALLENGE_RE.match(challenges[0]).group(1)
            u.send(b"/join " + token + b"\n")
            got = drain_datagrams(u, quiet=0.2)
            self.assertEqual(len(got), 1)
            self.assertRegex(got[0], WELCOME_RE)
            u.send(b"/quit\n")
            self.assertEqual(drain_datagrams(u, quiet=0.2), [b"*** Bye\n"])

    def test_budget_is_per_ip_and_shared_by_listeners(self):
        """Echo answers and chat challenges to one source IP draw from one
        bucket; another IP has its own."""
        self.server = harness.Server(
            "[server]\nudp_rate = 1\nudp_burst = 6\n" +
            listener("echo", proto="udp") +
            listener("chat", "chat", proto="udp"))

        def sock_on(ip, name):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((ip, 0))
            s.connect(self.server.addr(name)[1])
            s.setblocking(False)
            return s

        e1, c1 = sock_on("127.0.0.5", "echo"), sock_on("127.0.0.5", "chat")
        e2 = sock_on("127.0.0.6", "echo")
        try:
            t0 = time.monotonic()
            for i in range(6):
                e1.send(b"e%d" % i)
            self.assertEqual(len(drain_datagrams(e1)), 6)
            for i in range(5):
                c1.send(b"hello %d\n" % i)
            got = drain_datagrams(c1)
            # The burst went to echo; since then, 1 per second.
            allowed = int((time.monotonic() - t0) * 1) + 1
            self.assertLess(allowed, 5, "too slow to tell")
            self.assertLessEqual(len(got), allowed,
                                 "chat challenges ignore the echo budget")
            for i in range(6):
                e2.send(b"other ip %d" % i)
            self.assertEqual(len(drain_datagrams(e2)), 6,
                             "one IP's budget throttled another")
        finally:
            for s in (e1, c1, e2):
                s.close()
        self.server.wait_log(r"info: udp: dropped \d+ repl(y|ies) over udp_rate")

    def test_forged_privileged_source_ports_never_answered(self):
        raw = raw_socket_or_skip(self)
        self.server = harness.Server(
            "[server]\nudp_rate = 0\n" + listener("echo", proto="udp") +
            listener("chat", "chat", proto="udp"))
        ip = PRIVATE_LOOPBACK
        watchers = {}
        with raw:
            for port in (1, 7, 19, 53, 123, 1023, 1024):
                try:
                    watchers[port] = observer(ip, port)
                except OSError:
                    pass        # in use: the datagram is still forged
            self.assertIn(1024, watchers)
            for name in ("echo", "chat"):
                dst = ("127.0.0.1", self.server.port(name))
                for port in (0, 1, 7, 19, 53, 123, 1023, 1024):
                    forge(raw, (ip, port), dst, b"loop? %d\n" % port)
            time.sleep(0.3)
            got = {port: drain_datagrams(w, quiet=0.1)
                   for port, w in watchers.items()}
            for w in watchers.values():
                w.close()
        for port, data in got.items():
            if port < 1024:
                self.assertEqual(data, [], "answered port %d" % port)
        self.assertEqual(len(got[1024]), 2, got[1024])     # echo + challenge
        self.assertIn(b"loop? 1024\n", got[1024])
        self.server.wait_log(r"from ports below 1024")

    def test_forged_address_never_gets_chat_traffic(self):
        raw = raw_socket_or_skip(self)
        rate, burst = 2, 5
        self.server = harness.Server(
            "[server]\nudp_rate = %d\nudp_burst = %d\n" % (rate, burst) +
            listener("chat", "chat") + listener("chat-udp", "chat",
                                                proto="udp"))
        chat_udp = ("127.0.0.1", self.server.port("chat-udp"))
        victim = observer(PRIVATE_LOOPBACK)
        victim_addr = victim.getsockname()
        a = self.server.connect("chat")
        b = self.server.connect("chat")
        legit = self.server.udp("chat-udp")
        try:
            with raw:
                self.assertRegex(harness.recv_line(a), WELCOME_RE)
                self.assertRegex(harness.recv_line(b), WELCOME_RE)
                self.assertEqual(harness.recv_line(a),
                                 b"*** guest2 has joined\n")
                legit.send(b"hi\n")
                token = CHALLENGE_RE.match(legit.recv(100)).group(1)
                legit.send(b"/join " + token + b"\n")
                self.assertRegex(legit.recv(200), WELCOME_RE)
                for s in (a, b):
                    self.assertEqual(harness.recv_line(s),
                                     b"*** guest3 has joined\n")
                # The attack: the victim's address, guessed tokens, lines
                # of chat -- while the room talks.
                rng = random.Random(77)
                t0 = time.monotonic()
                forged = [b"hello\n", b"/join\n", b"/join 0\n",
                          b"/join 0000000000000000\n",
                          b"/join " + token + b"\n",   # someone else's
                          b"/join x\nhello\n/nick evil\n",
                          b"/JOIN FFFFFFFFFFFFFFFF\n"]
                forged += [b"/join %016x\n" % rng.getrandbits(64)
                           for _ in range(300)]
                for i, payload in enumerate(forged):
                    forge(raw, victim_addr, chat_udp, payload)
                    if i % 50 == 0:
                        a.sendall(b"room line %d\n" % i)
                        legit.send(b"udp line %d\n" % i)
                        time.sleep(0.1)
                a.sendall(b"/who\n")
                seen = read_until(a, rb"\A\*\*\* Users ")
                self.assertEqual(seen[-1],
                                 b"*** Users (3): guest1, guest2, guest3\n")
                self.assertEqual([x for x in seen if b"has joined" in x],
                                 [])
                b.sendall(b"last word\n")
                got = drain_datagrams(victim, quiet=0.5)
                elapsed = time.monotonic() - t0
            say("forged /join attempts: %d; the forged address got %d "
                "datagrams in %.1f s (udp_rate %d, udp_burst %d)",
                len(forged), len(got), elapsed, rate, burst)
            for d in got:
                self.assertRegex(d, CHALLENGE_RE,
                                 "the forged address got more than a "
                                 "challenge")
            self.assertGreaterEqual(len(got), 1)
            self.assertLessEqual(len(got), burst + rate * elapsed + 1)
            self.assertNotIn(token, b"".join(got))
            # The room went on and never saw the forger.
            lines = []
            legit.settimeout(0.5 * SLOW)
            try:
                while True:
                    lines.append(legit.recv(1000))
            except socket.timeout:
                pass
            self.assertIn(b"<guest2> last word\n", lines)
            self.assertEqual([x for x in lines if b"has joined" in x], [])
            # Positive control: the real owner of the address can join
            # with the challenge it received, and then it does get the
            # room's traffic.
            real = CHALLENGE_RE.match(got[-1]).group(1)
            time.sleep(1.0 / rate)          # earn a token for the welcome
            victim.sendto(b"/join " + real + b"\n", chat_udp)
            joined = drain_datagrams(victim, quiet=0.3)
            self.assertEqual(len(joined), 1)
            self.assertRegex(joined[0], WELCOME_RE)
            read_until(a, rb"\A<guest2> last word\n")
            a.sendall(b"welcome, real one\n")
            self.assertIn(b"<guest1> welcome, real one\n",
                          drain_datagrams(victim, quiet=0.3))
            victim.sendto(b"/quit\n", chat_udp)
        finally:
            for s in (a, b, legit, victim):
                s.close()

    def test_forged_echo_replies_are_rationed_and_not_amplified(self):
        raw = raw_socket_or_skip(self)
        rate, burst = 5, 10
        self.server = harness.Server(
            "[server]\nudp_rate = %d\nudp_burst = %d\n" % (rate, burst) +
            listener("echo", proto="udp"))
        dst = ("127.0.0.1", self.server.port("echo"))
        victim = observer("127.0.0.78")
        try:
            with raw:
                sizes = [1, 7, 100, 1000, 1400] * 20
                t0 = time.monotonic()
                for i, n in enumerate(sizes):
                    forge(raw, victim.getsockname(), dst,
                          bytes([i % 256]) * n)
                got = drain_datagrams(victim, quiet=0.5)
                elapsed = time.monotonic() - t0
            say("forged echo: %d requests, %d replies reached the victim "
                "in %.1f s", len(sizes), len(got), elapsed)
            self.assertGreaterEqual(len(got), burst)
            self.assertLessEqual(len(got), burst + rate * elapsed + 1)
            sent_bytes = sum(sizes)
            for i, d in enumerate(got):     # replies arrive in order
                self.assertEqual(d, bytes([i % 256]) * sizes[i])
            self.assertLessEqual(sum(len(d) for d in got), sent_bytes)
        finally:
            victim.close()

    def test_forged_sources_from_many_addresses_do_not_grow_memory(self):
        raw = raw_socket_or_skip(self)
        count = 20000 if not VALGRIND else 2000
        self.server = harness.Server(
            "[server]\nudp_rate = 1\nudp_burst = 2\n" +
            listener("echo", proto="udp") +
            listener("chat", "chat", proto="udp"))
        dsts = [("127.0.0.1", self.server.port(n)) for n in ("echo", "chat")]
        with self.server.udp("echo") as u:
            u.send(b"warm")
            self.assertEqual(u.recv(100), b"warm")
            rss0 = self.server.rss_kib()
            with raw:
                for i in range(count):
                    src = ("127.%d.%d.%d" % (1 + i // 65536 % 200,
                                             i // 256 % 256, i % 256 or 1),
                           40000 + i % 1000)
                    forge(raw, src, dsts[i % 2], b"x%d\n" % i)
                    if i % 2000 == 0:
                        time.sleep(0.01)
            time.sleep(0.5)
            rss = self.server.rss_kib()
            say("%d forged source addresses: RSS %d -> %d KiB", count,
                rss0, rss)
            if RSS_MEANINGFUL:
                self.assertLess(rss - rss0, 1024)
            # A fresh, honest address is still served.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as h:
                h.bind(("127.0.0.99", 0))
                h.settimeout(2 * SLOW)
                h.sendto(b"honest", dsts[0])
                self.assertEqual(h.recv(100), b"honest")

    def self_loop_cpu(self, rate, burst):
        """Forge datagrams whose source is the daemon's own listener;
        return its CPU time over the next 2 s (after 0.5 s)."""
        raw = raw_socket_or_skip(self)
        self.server = harness.Server(
            "[server]\nudp_rate = %d\nudp_burst = %d\n" % (rate, burst) +
            listener("echo", proto="udp") +
            listener("chat", "chat", proto="udp"))
        echo = ("127.0.0.1", self.server.port("echo"))
        chat = ("127.0.0.1", self.server.port("chat"))
        with raw:
            forge(raw, echo, chat, b"hello\n")      # chat <-> echo
            forge(raw, echo, echo, b"me again")     # echo <-> itself
            forge(raw, chat, chat, b"hi\n")         # chat <-> itself
        time.sleep(0.5)
        cpu0 = proc_cpu(self.server)
        time.sleep(2)
        cpu = proc_cpu(self.server) - cpu0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as h:
            h.bind(("127.0.0.98", 0))
            h.settimeout(2 * SLOW)
            h.sendto(b"anyone?", echo)
            self.assertEqual(h.recv(100), b"anyone?")
        return cpu

    def test_reply_loop_with_itself_dies_out(self):
        cpu = self.self_loop_cpu(100, 200)
        say("forged self-addressed datagrams: %.2f s CPU over 2 s "
            "(udp_rate 100)", cpu)
        self.assertLess(cpu, 0.3 if not VALGRIND else 1.0,
                        "echochatd keeps answering itself")
        self.server.wait_log(r"info: udp: dropped \d+ repl(y|ies) over udp_rate")

    def test_reply_loop_with_itself_without_udp_rate(self):
        """udp_rate = 0 turns the budget off; one forged datagram whose
        source is the daemon's own UDP listener must still not make it
        answer itself forever (at 100% CPU)."""
        cpu = self.self_loop_cpu(0, 200)
        say("forged self-addressed datagrams: %.2f s CPU over 2 s "
            "(udp_rate 0)", cpu)
        self.assertLess(cpu, 0.3 if not VALGRIND else 1.0,
                        "one forged datagram (source = echochatd's own UDP "
                        "listener) makes echochatd answer itself forever "
                        "when udp_rate = 0: %.2f s of CPU in 2 s" % cpu)


# ----------------------------------------------------------------------

class UdpChatFlood(unittest.TestCase):
    """Cross-check of chat_rate/chat_burst with a UDP participant."""

    def test_udp_participant_is_throttled(self):
        self.server = harness.Server(
            "[chat]\nchat_rate = 5\nchat_burst = 10\n" +
            listener("chat", "chat") + listener("chat-udp", "chat",
                                                proto="udp"))
        a = self.server.connect("chat")
        u = self.server.udp("chat-udp")
        try:
            self.assertRegex(harness.recv_line(a), WELCOME_RE)
            u.send(b"hi\n")
            token = CHALLENGE_RE.match(u.recv(100)).group(1)
            u.send(b"/join " + token + b"\n")
            self.assertRegex(u.recv(200), WELCOME_RE)
            self.assertEqual(harness.recv_line(a), b"*** guest2 has joined\n")
            u.setblocking(False)
            # 30 lines in one datagram, then 30 datagrams of one line.
            u.send(b"".join(b"flood %d\n" % i for i in range(30)))
            for i in range(30, 60):
                u.send(b"flood %d\n" % i)
            told = drain_datagrams(u, quiet=0.5)
            self.assertEqual(told, [b"*** error: slow down\n"])
            a.settimeout(0.5 * SLOW)
            got = bytearray()
            try:
                while True:
                    chunk = a.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except socket.timeout:
                pass
            lines = bytes(got).splitlines(True)
            self.assertGreaterEqual(len(lines), 10)
            self.assertLessEqual(len(lines), 12)
            self.assertEqual(lines[:10], [b"<guest2> flood %d\n" % i
                                          for i in range(10)])
            time.sleep(1.0)
            u.send(b"after a pause\n")
            a.settimeout(2 * SLOW)
            self.assertEqual(harness.recv_line(a),
                             b"<guest2> after a pause\n")
            self.server.wait_log(r"chat: guest2 sends more than chat_rate")
            u.send(b"/quit\n")
        finally:
            a.close()
            u.close()
            finish(self.server, quiet=False)


# ----------------------------------------------------------------------

class Flooders:
    """Nonblocking clients that send and never read, driven by one
    selector: each sends until its socket blocks (or it is cut, or it
    reaches its cap).  Samples the daemon's RSS as it goes."""

    def __init__(self, server):
        self.server = server
        self.sel = selectors.DefaultSelector()
        self.clients = []
        self.rss_max = 0
        self.cut = 0

    def add(self, sock, block, cap):
        sock.setblocking(False)
        c = {"sock": sock, "block": memoryview(block), "cap": cap,
             "sent": 0, "done": False}
        self.clients.append(c)
        self.sel.register(sock, selectors.EVENT_WRITE, c)

    def sample(self):
        try:
            self.rss_max = max(self.rss_max, self.server.rss_kib())
        except OSError:
            pass

    def _done(self, c):
        c["done"] = True
        self.sel.unregister(c["sock"])

    def run(self, deadline, settle=1.5):
        """Until nobody made progress for settle seconds, or deadline."""
        last_progress = time.monotonic()
        last_sample = 0
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now - last_sample > 0.05:
                self.sample()
                last_sample = now
            if now - last_progress > settle:
                break
            for key, _ in self.sel.select(0.05):
                c = key.data
                block = c["block"]
                for _ in range(4):
                    off = c["sent"] % len(block)
                    try:
                        n = c["sock"].send(block[off:])
                    except BlockingIOError:
                        break
                    except OSError:
                        self.cut += 1       # reset: cut by the server
                        self._done(c)
                        break
                    c["sent"] += n
                    last_progress = time.monotonic()
                    if c["cap"] and c["sent"] >= c["cap"]:
                        self._done(c)
                        break
        self.sample()

    def sent(self):
        return sum(c["sent"] for c in self.clients)

    def close(self):
        self.sel.close()
        for c in self.clients:
            reset_close(c["sock"])


class MemoryCeiling(unittest.TestCase):
    """Worst case per connection: output_limit + max_line + overhead."""

    OUTPUT_LIMIT = 64 * KIB
    MAX_LINE = 4 * KIB
    OVERHEAD = 2 * KIB
    MAX_CLIENTS = 2000 if not VALGRIND else 220

    # Each further event loop (workers = N) has its own 64 KiB read buffer
    # and, being a thread, its own malloc arena: a fixed cost per loop,
    # not per connection.
    LOOP_OVERHEAD = 256 * KIB

    def ceiling_kib(self, connections):
        loops = max(int(harness.WORKERS or 1), 1)
        return (connections * (self.OUTPUT_LIMIT + self.MAX_LINE +
                               self.OVERHEAD) +
                (loops - 1) * self.LOOP_OVERHEAD) // KIB

    def flood(self, n_chat):
        n_echo = self.MAX_CLIENTS - 1 - n_chat     # one slot: the fresh one
        if raise_nofile(self.MAX_CLIENTS + 500) < self.MAX_CLIENTS + 500:
            print("\n    skipped: RLIMIT_NOFILE hard limit below %d" %
                  (self.MAX_CLIENTS + 500))
            self.skipTest("RLIMIT_NOFILE hard limit too low")
        server = harness.Server(
            "[server]\nmax_clients = %d\noutput_limit = 64k\n"
            "max_line = 4k\n" % self.MAX_CLIENTS +
            listener("echo") + listener("chat", "chat"))
        flood = Flooders(server)
        t_start = time.monotonic()
        deadline = t_start + 45 * (1 if not VALGRIND else 4)
        try:
            self.assertGreaterEqual(proc_nofile(server),
                                    self.MAX_CLIENTS + 20)
            with server.connect("echo") as probe:
                roundtrip(self, probe, b"warm up\n")
            base_fds = proc_fds(server)
            rss0 = server.rss_kib()
            echo_block = os.urandom(64 * KIB)
            short = b"".join(b"z%d\n" % i for i in range(3000))
            chat_block = (short + b"L" * 4000 + b"\n" + b"T" * 5000 + b"\n" +
                          short)
            family, echo_sa = server.addr("echo")
            chat_sa = server.addr("chat")[1]
            for i in range(n_echo + n_chat):
                s = socket.socket(family, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * KIB)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * KIB)
                s.settimeout(10)
                chat = i < n_chat
                s.connect(chat_sa if chat else echo_sa)
                if chat:
                    flood.add(s, chat_block, 256 * KIB)
                else:
                    flood.add(s, echo_block, 0)
                if i % 200 == 0:
                    flood.sample()
                    self.assertLess(time.monotonic(), deadline)
            t_connected = time.monotonic()
            flood.run(deadline)
            t_flooded = time.monotonic()
            self.assertIsNone(server.proc.poll(), "echochatd died")
            # A fresh, well-behaved client is answered promptly.
            latencies = []
            with server.connect("echo") as fresh:
                for i in range(5):
                    t0 = time.monotonic()
                    roundtrip(self, fresh, b"fresh %d\n" % i)
                    latencies.append(time.monotonic() - t0)
            flood.sample()
            log = server.log()
            too_slow = log.count("output limit (65536 bytes) exceeded")
            throttled = log.count("sends more than chat_rate")
            ceiling = self.ceiling_kib(self.MAX_CLIENTS)
            say("%d echo + %d chat flooders: connected in %.1f s, flooded "
                "%d MiB in %.1f s; chat flooders cut as too slow: %d, "
                "throttled: %d", n_echo, n_chat, t_connected - t_start,
                flood.sent() >> 20, t_flooded - t_connected, too_slow,
                throttled)
            say("RSS start %d KiB, max %d KiB (+%d KiB = %.1f KiB per "
                "connection); ceiling +%d KiB; fresh client worst "
                "round trip %.0f ms", rss0, flood.rss_max,
                flood.rss_max - rss0,
                (flood.rss_max - rss0) / float(n_echo + n_chat),
                ceiling, max(latencies) * 1000)
            self.assertLess(max(latencies), 1.0 * SLOW,
                            "the fresh client waited too long")
            if n_chat:
                self.assertGreater(throttled + too_slow, 0)
            if RSS_MEANINGFUL:
                self.assertLess(flood.rss_max - rss0, ceiling,
                                "RSS grew by %d KiB with %d connections: "
                                "over the ceiling of %d KiB (%d x "
                                "(output_limit + max_line + 2 KiB))" %
                                (flood.rss_max - rss0, self.MAX_CLIENTS,
                                 ceiling, self.MAX_CLIENTS))
        finally:
            flood.close()
            try:
                if server.proc.poll() is None:
                    wait_fds(server, base_fds, timeout=15)
            finally:
                finish(server, quiet=False)

    def test_echo_flooders_that_never_read(self):
        self.flood(0)

    def test_echo_and_chat_flooders_that_never_read(self):
        self.flood(200 if not VALGRIND else 20)

    def test_slow_chat_participants_queue_at_most_output_limit(self):
        """20 participants that never read are fed short broadcast lines
        until each is cut at output_limit.  Their queues may cost
        output_limit + max_line + 2 KiB each, not a multiple of it."""
        readers = 20 if not VALGRIND else 5
        server = harness.Server(
            "[server]\noutput_limit = 64k\nmax_line = 4k\n"
            "[chat]\nchat_rate = 0\n" + listener("chat", "chat"))
        socks = []
        try:
            family, sa = server.addr("chat")
            for i in range(readers):
                s = socket.socket(family, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * KIB)
                s.settimeout(5 * SLOW)
                s.connect(sa)
                socks.append(s)
            talker = server.connect("chat")
            socks.append(talker)
            talker.setblocking(False)
            time.sleep(0.3)
            rss0 = server.rss_kib()
            rss_max = rss0
            block = b"".join(b"%d\n" % (i % 10) for i in range(4000))
            deadline = time.monotonic() + 20 * SLOW
            sent = 0
            while (server.log().count("output limit") < readers and
                   time.monotonic() < deadline):
                try:
                    sent += talker.send(block)
                except BlockingIOError:
                    time.sleep(0.005)
                try:
                    while talker.recv(65536):
                        pass
                except BlockingIOError:
                    pass
                rss_max = max(rss_max, server.rss_kib())
            cut = server.log().count("output limit")
            ceiling = self.ceiling_kib(readers)
            say("%d never-reading participants fed %d short lines: %d cut "
                "at output_limit; RSS %d -> max %d KiB (+%.0f KiB per "
                "participant; allowed %d)", readers, sent // 2, cut, rss0,
                rss_max, (rss_max - rss0) / float(readers),
                ceiling // readers)
            self.assertEqual(cut, readers)
            if RSS_MEANINGFUL:
                self.assertLess(rss_max - rss0, ceiling,
                                "%d participants that never read cost %d "
                                "KiB (%.0f KiB each) with output_limit "
                                "64k: every queued broadcast line costs a "
                                "whole evbuffer chain" %
                                (readers, rss_max - rss0,
                                 (rss_max - rss0) / float(readers)))
        finally:
            for s in socks:
                reset_close(s)
            finish(server, quiet=False)


if __name__ == "__main__":
    harness.main()
