#!/usr/bin/env python3
"""test_limits.py -- connection limits, timeouts, memory bounds, shutdown.

Covers (echochatd.ini(5)): max_clients (one more is told
"*** error: server full" and closed; a freed slot serves again; Unix
connections count too), max_clients_per_ip (its own message; other
addresses and Unix sockets unaffected; a limit set by a reload counts the
connections already open), idle_timeout (an idle connection
closed silently after about the timeout, an active one kept; the
per-listener value overriding [server]), output_limit and flow control
(a client that sends 50 MiB to echo and never reads is slowed, not
dropped, while the daemon's RSS stays bounded and other clients keep
getting prompt answers; the same with an output_limit smaller than one
read), shared chat lines against output_limit (a line longer than
output_limit, a max_line = 1m line against the default output_limit and a
burst of long lines all reach participants that read; only the one that
stopped reading is cut), line_timeout (a stale or dribbled partial line is dropped and the client
told; 0 disables it), udp_rate/udp_burst (replies to one address are
rationed across all its ports, chat challenges included; 0 means no
limit), and SIGTERM while clients are connected (exit 0, quickly, clients
see EOF; clients that never read, with output queued for them, delay the
exit by shutdown_timeout: not less, not much more).
"""
import os
import signal
import socket
import threading
import time
import unittest

import harness

SLOW = harness.SLOW
FULL = b"*** error: server full\n"
PER_IP = b"*** error: too many connections from your address\n"


def listener(name, handler="echo", proto="tcp", bind="127.0.0.1:0",
             extra=""):
    return ("\n[listener %s]\nproto = %s\nbind = %s\nhandler = %s\n%s" %
            (name, proto, bind, handler, extra))


def start(config):
    """A daemon at debug level (so wait_quiet can count connections)."""
    return harness.Server(config, args=["-L", "debug"])


wait_quiet = harness.wait_quiet
release = harness.release
finish = harness.finish
roundtrip = harness.roundtrip


def connect_from(server, name, source):
    """A TCP connection to listener name from a chosen local address."""
    family, sa = server.addr(name)
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5 * SLOW)
    s.bind((source, 0))
    s.connect(sa)
    return s


def serve_again(testcase, connect, refusal, timeout=3):
    """After a slot was freed, a new connection is served (retrying
    while the daemon has not yet seen the close)."""
    deadline = time.time() + timeout * SLOW
    while True:
        s = connect()
        s.settimeout(0.3 * SLOW)
        try:
            first = s.recv(1)       # a refusal comes at once, unasked
        except socket.timeout:
            s.settimeout(5 * SLOW)
            return s
        testcase.assertEqual(first + harness.recv_until_closed(s), refusal)
        s.close()
        testcase.assertLess(time.time(), deadline,
                            "the freed slot was never reused")
        time.sleep(0.05)


class MaxClients(unittest.TestCase):

    def setUp(self):
        self.server = start("[server]\nmax_clients = 3\n" +
                            listener("echo") + listener("upper", "upper") +
                            listener("unix", proto="unix",
                                     bind="@DIR@/echo.sock"))
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        finish(self.server)

    def connect(self, name):
        s = self.server.connect(name)
        self.socks.append(s)
        return s

    def test_fourth_connection_is_told_server_full(self):
        served = [self.connect("echo") for _ in range(3)]
        for s in served:
            roundtrip(self, s)
        extra = self.connect("echo")
        self.assertEqual(harness.recv_until_closed(extra), FULL)
        self.server.wait_log(r"info: refused 127\.0\.0\.1:\d+ on listener "
                             r"echo: server full$")
        # The three are still served.
        for s in served:
            roundtrip(self, s, b"still here\n")
        # One leaves: a newcomer is served again.
        served[0].close()
        again = serve_again(self, lambda: self.connect("echo"), FULL)
        roundtrip(self, again, b"served\n")
        # And the limit still holds.
        extra = self.connect("echo")
        self.assertEqual(harness.recv_until_closed(extra), FULL)

    def test_limit_counts_every_stream_listener(self):
        a = self.connect("echo")
        b = self.connect("upper")
        c = self.connect("unix")
        for s in (a, c):
            roundtrip(self, s)
        b.sendall(b"x")
        self.assertEqual(harness.recv_exactly(b, 1), b"X")
        for name in ("unix", "upper", "echo"):
            self.assertEqual(harness.recv_until_closed(self.connect(name)),
                             FULL, name)


class MaxClientsPerIp(unittest.TestCase):

    def setUp(self):
        self.server = start("[server]\nmax_clients_per_ip = 2\n" +
                            listener("echo") +
                            listener("unix", proto="unix",
                                     bind="@DIR@/echo.sock"))
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        finish(self.server)

    def connect(self, name="echo"):
        s = self.server.connect(name)
        self.socks.append(s)
        return s

    def test_third_from_one_address_is_refused(self):
        served = [self.connect() for _ in range(2)]
        for s in served:
            roundtrip(self, s)
        self.assertEqual(harness.recv_until_closed(self.connect()), PER_IP)
        self.server.wait_log(r"info: refused 127\.0\.0\.1:\d+ on listener "
                             r"echo: too many connections from your "
                             r"address$")
        for s in served:
            roundtrip(self, s, b"still here\n")
        served[1].close()
        again = serve_again(self, self.connect, PER_IP)
        roundtrip(self, again, b"served\n")
        self.assertEqual(harness.recv_until_closed(self.connect()), PER_IP)

    def test_other_addresses_and_unix_unaffected(self):
        for s in [self.connect() for _ in range(2)]:
            roundtrip(self, s)
        # Unix connections have no address to count.
        for s in [self.connect("unix") for _ in range(3)]:
            roundtrip(self, s)
        # 127.0.0.2 is another (loopback) address with its own count.
        try:
            others = [connect_from(self.server, "echo", "127.0.0.2")
                      for _ in range(2)]
        except OSError as e:
            self.skipTest("cannot use 127.0.0.2 here: %s" % e)
        self.socks += others
        for s in others:
            roundtrip(self, s)
        third = connect_from(self.server, "echo", "127.0.0.2")
        self.socks.append(third)
        self.assertEqual(harness.recv_until_closed(third), PER_IP)


class MaxClientsPerIpByReload(unittest.TestCase):
    """A limit turned on by a reload counts the connections already open
    (echochatd.ini(5), max_clients_per_ip)."""

    def test_limit_set_by_reload_counts_open_connections(self):
        self.server = start(listener("echo"))
        socks = []
        try:
            socks = [self.server.connect("echo") for _ in range(3)]
            for s in socks:
                roundtrip(self, s)
            with open(self.server.config_path, "a") as f:
                f.write("\n[server]\nmax_clients_per_ip = 2\n")
            self.server.reload()
            # Three are in already: a fourth is over the limit of two.
            extra = self.server.connect("echo")
            socks.append(extra)
            self.assertEqual(harness.recv_until_closed(extra), PER_IP)
            for s in socks[:3]:
                roundtrip(self, s, b"still here\n")
            # Two leave: one is left, so one more fits, and no more.
            socks[0].close()
            socks[1].close()
            again = serve_again(self, lambda: self.server.connect("echo"),
                                PER_IP)
            socks.append(again)
            roundtrip(self, again, b"served\n")
            extra = self.server.connect("echo")
            socks.append(extra)
            self.assertEqual(harness.recv_until_closed(extra), PER_IP)
        finally:
            for s in socks:
                s.close()
            finish(self.server)


class IdleTimeout(unittest.TestCase):

    def tearDown(self):
        finish(self.server)

    def closed_after(self, sock, limit):
        """Seconds until the daemon closes sock (which must get nothing)."""
        t0 = time.monotonic()
        data = harness.recv_until_closed(sock, timeout=limit)
        self.assertEqual(data, b"", "the idle close is silent")
        return time.monotonic() - t0

    def test_idle_connection_closed(self):
        self.server = start("[server]\nidle_timeout = 1\n" + listener("echo"))
        with self.server.connect("echo") as s:
            roundtrip(self, s)      # activity restarts the clock
            elapsed = self.closed_after(s, 5)
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertLess(elapsed, 1 + 1.5 * SLOW)
        self.server.wait_log(r"info: closing 127\.0\.0\.1:\d+ on listener "
                             r"echo: idle timeout$")

    def test_active_connection_kept(self):
        self.server = start("[server]\nidle_timeout = 1\n" + listener("echo"))
        with self.server.connect("echo") as s:
            t_end = time.monotonic() + 3
            i = 0
            while time.monotonic() < t_end:
                roundtrip(self, s, b"keepalive %d\n" % i)
                i += 1
                time.sleep(0.3)
            roundtrip(self, s, b"still open after 3 s\n")
        self.assertNotIn("idle timeout", self.server.log())

    def test_listener_value_overrides_server(self):
        self.server = start(
            "[server]\nidle_timeout = 1\n" +
            listener("inherits") +
            listener("short", extra="idle_timeout = 300ms\n") +
            listener("never", extra="idle_timeout = 0\n") +
            listener("unix", proto="unix", bind="@DIR@/u.sock"))
        socks = {name: self.server.connect(name)
                 for name in ("inherits", "short", "never", "unix")}
        watchers = []
        try:
            t0 = time.monotonic()
            closed_at = {}
            lock = threading.Lock()

            def watch(name, sock):
                try:
                    data = harness.recv_until_closed(sock, timeout=4)
                except socket.timeout:
                    return
                with lock:
                    closed_at[name] = (time.monotonic() - t0, data)

            watchers = [threading.Thread(target=watch,
                                         args=(name, socks[name]),
                                         daemon=True)
                        for name in ("inherits", "short", "unix")]
            for w in watchers:
                w.start()
            for w in watchers:
                w.join(max(0, t0 + 2.5 * SLOW - time.monotonic()))
            # Well past the inherited 1 s before looking at "never".
            time.sleep(max(0, t0 + 1.8 - time.monotonic()))
            with lock:
                seen = dict(closed_at)
            self.assertIn("short", seen)
            self.assertIn("inherits", seen)
            self.assertIn("unix", seen)
            self.assertLess(seen["short"][0], 0.3 + 0.5 * SLOW)
            self.assertGreaterEqual(seen["short"][0], 0.15)
            self.assertGreaterEqual(seen["inherits"][0], 0.5)
            self.assertGreaterEqual(seen["unix"][0], 0.5)
            for name in ("short", "inherits", "unix"):
                self.assertEqual(seen[name][1], b"", name)
            # idle_timeout = 0 on the listener wins over [server]: this
            # one is still open after 1.8 s of silence.
            roundtrip(self, socks["never"], b"never idle\n")
        finally:
            for s in socks.values():
                s.close()
            for w in watchers:
                w.join(5 * SLOW)


class Hog(threading.Thread):
    """Sends up to volume bytes and never reads; stoppable."""

    BLOCK = os.urandom(1024 * 1024)

    def __init__(self, sock, volume):
        super().__init__(daemon=True)
        self.sock, self.volume = sock, volume
        self.sent = 0
        self.error = None
        self.last_progress = time.monotonic()
        self.stop = threading.Event()

    def run(self):
        self.sock.settimeout(0.1)
        block = memoryview(self.BLOCK)
        try:
            while self.sent < self.volume and not self.stop.is_set():
                off = self.sent % len(block)
                n = min(len(block) - off, self.volume - self.sent)
                try:
                    self.sent += self.sock.send(block[off:off + n])
                    self.last_progress = time.monotonic()
                except socket.timeout:
                    continue        # flow control: the kernel is full
        except OSError as e:
            self.error = e

    def expected(self, n):
        whole, part = divmod(n, len(self.BLOCK))
        return self.BLOCK * whole + self.BLOCK[:part]


class OutputLimit(unittest.TestCase):

    def tearDown(self):
        finish(self.server)

    def drain_and_check(self, hog, sock):
        """Read back everything the hog managed to send: every byte."""
        hog.stop.set()
        hog.join(5 * SLOW)
        self.assertFalse(hog.is_alive())
        self.assertIsNone(hog.error, "the never-reading client was "
                          "disconnected instead of slowed down:\n" +
                          self.server.log())
        try:
            got = harness.recv_exactly(sock, hog.sent, timeout=30)
            sock.shutdown(socket.SHUT_WR)
            rest = harness.recv_until_closed(sock)
        except OSError as e:
            self.fail("the never-reading client was disconnected (%r) "
                      "instead of slowed down:\n%s" % (e, self.server.log()))
        self.assertTrue(got == hog.expected(hog.sent), "echo corrupted")
        self.assertEqual(rest, b"")

    def test_never_reading_client_is_slowed_not_buffered(self):
        limit_kib = 1024
        self.server = start("[server]\noutput_limit = %dk\n" % limit_kib +
                            listener("echo"))
        volume = (32 if harness.VALGRIND else 50) * 1024 * 1024
        with self.server.connect("echo") as other, \
                self.server.connect("echo") as hogsock:
            roundtrip(self, other, b"warm up\n")
            rss0 = self.server.rss_kib()
            rss_max = rss0
            hog = Hog(hogsock, volume)
            hog.start()
            latencies = []
            t_end = time.monotonic() + 3
            i = 0
            while time.monotonic() < t_end:
                rss_max = max(rss_max, self.server.rss_kib())
                t0 = time.monotonic()
                roundtrip(self, other, b"prompt %d\n" % i)
                latencies.append(time.monotonic() - t0)
                i += 1
                rss_max = max(rss_max, self.server.rss_kib())
                time.sleep(0.05)
            # Flow control, not buffering: the hog is stuck in send().
            if not harness.VALGRIND:
                self.assertLess(hog.sent, volume, "50 MiB were absorbed "
                                "somewhere without the client reading")
                self.assertGreater(time.monotonic() - hog.last_progress,
                                   0.3, "the hog was never slowed down")
            rss_max = max(rss_max, self.server.rss_kib())
            self.assertGreater(len(latencies), 5)
            self.assertLess(max(latencies), 1.0 * SLOW,
                            "the other client waited too long")
            if harness.RSS_MEANINGFUL:  # not under valgrind or ASan
                self.assertLess(rss_max - rss0, limit_kib + 8 * 1024,
                                "RSS grew from %d to %d KiB" %
                                (rss0, rss_max))
            self.drain_and_check(hog, hogsock)
        self.assertNotIn("output limit", self.server.log())

    def test_small_output_limit_still_slows_echo(self):
        # The README: echo and upper clients that do not read are slowed by
        # TCP flow control; output_limit drops only clients whose output
        # comes from elsewhere (chat).  A limit below one read (64 KiB)
        # must not turn the echo's own answer into a disconnect.
        self.server = start("[server]\noutput_limit = 4k\n" +
                            listener("echo"))
        volume = (16 if harness.VALGRIND else 20) * 1024 * 1024
        family, sa = self.server.addr("echo")
        with socket.socket(family, socket.SOCK_STREAM) as hogsock:
            # A small receive window: the daemon's writes block sooner.
            hogsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            hogsock.settimeout(5 * SLOW)
            hogsock.connect(sa)
            hog = Hog(hogsock, volume)
            hog.start()
            deadline = time.monotonic() + 10 * SLOW
            while (hog.is_alive() and time.monotonic() < deadline and
                   time.monotonic() - hog.last_progress < 0.5):
                time.sleep(0.05)
            self.drain_and_check(hog, hogsock)
        self.assertNotIn("output limit", self.server.log())


class Reader(threading.Thread):
    """A chat participant that reads everything promptly, in a thread,
    until its connection closes or it saw `until`."""

    def __init__(self, sock, until):
        super().__init__(daemon=True)
        self.sock, self.until = sock, until
        self.buf = bytearray()
        self.error = None

    def run(self):
        self.sock.settimeout(30 * SLOW)
        try:
            while self.until not in self.buf[-len(self.until) - 65536:]:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return
                self.buf += chunk
        except OSError as e:
            self.error = e


class SharedLines(unittest.TestCase):
    """README "Chat": a broadcast line is tried on each participant's
    socket before it counts against output_limit, so one valid line (or
    a burst of them) never cuts a participant that reads; one that has
    stopped reading is still cut as too slow."""

    def tearDown(self):
        finish(self.server)

    def join(self, n, until_of):
        """n reading participants, then the sender; each reader has seen
        the sender join.  Returns (readers, sender, sender's nick)."""
        socks = []
        for _ in range(n):
            s = self.server.connect("chat")
            self.assertTrue(harness.recv_line(s).startswith(b"*** Welcome"))
            socks.append(s)
        sender = self.server.connect("chat")
        welcome = harness.recv_line(sender)
        nick = welcome.split(b", ")[1].split(b".")[0]
        for s in socks:
            while harness.recv_line(s) != b"*** %s has joined\n" % nick:
                pass
        readers = [Reader(s, until_of(nick)) for s in socks]
        for r in readers:
            r.start()
        return readers, sender, nick

    def check_readers(self, readers, line):
        for r in readers:
            r.join(60 * SLOW)
            self.assertFalse(r.is_alive(), "a reader is still waiting")
            self.assertIsNone(r.error)
            self.assertIn(line, bytes(r.buf), "a reader did not get the "
                          "line:\n" + self.server.log())

    def test_line_longer_than_output_limit_reaches_readers(self):
        self.server = start("[server]\noutput_limit = 1k\n" +
                            listener("chat", "chat"))
        text = b"y" * 2000
        readers, sender, nick = self.join(
            4, lambda nick: b"<%s> %s\n" % (nick, text))
        with sender:
            sender.sendall(text + b"\n")
            self.check_readers(readers, b"<%s> %s\n" % (nick, text))
            for r in readers:
                self.assertNotIn(b"has left", bytes(r.buf))
                r.sock.close()
        self.assertNotIn("output limit", self.server.log())

    def test_line_of_max_line_with_default_output_limit(self):
        # max_line = 1m: the line and its prefix are over the default
        # output_limit (1m) before any of it is written.
        self.server = start("[server]\nmax_line = 1m\n" +
                            listener("chat", "chat"))
        text = b"z" * (1024 * 1024)
        readers, sender, nick = self.join(
            3, lambda nick: b"<%s> %s\n" % (nick, text))
        with sender:
            sender.sendall(text + b"\n")
            self.check_readers(readers, b"<%s> %s\n" % (nick, text))
            for r in readers:
                r.sock.close()
        self.assertNotIn("output limit", self.server.log())

    def test_burst_cuts_only_the_reader_that_stopped(self):
        self.server = start("[server]\noutput_limit = 1k\n"
                            "[chat]\nchat_rate = 0\n" +
                            listener("chat", "chat"))
        family, sa = self.server.addr("chat")
        stuck = socket.socket(family, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.settimeout(5 * SLOW)
        stuck.connect(sa)
        welcome = harness.recv_line(stuck)
        stuck_nick = welcome.split(b", ")[1].split(b".")[0]
        count, body = 2000, b"w" * 1994
        last = b"%05d %s\n" % (count - 1, body)
        readers, sender, nick = self.join(2, lambda nick: last)
        with stuck, sender:
            for i in range(0, count, 100):
                sender.sendall(b"".join(b"%05d %s\n" % (j, body)
                                        for j in range(i, i + 100)))
            self.check_readers(readers, b"<%s> %s" % (nick, last))
            for r in readers:
                got = bytes(r.buf)
                for i in range(count):
                    self.assertIn(b"<%s> %05d %s\n" % (nick, i, body), got)
                self.assertNotIn(b"has left (too slow)", got.replace(
                    b"*** %s has left (too slow)\n" % stuck_nick, b""))
            self.server.wait_log(r"dropping 127\.0\.0\.1:%d on listener "
                                 r"chat: output limit" %
                                 stuck.getsockname()[1], timeout=10)
            self.assertEqual(self.server.log().count(": output limit"), 1,
                             self.server.log())
            for r in readers:
                r.sock.close()


class Shutdown(unittest.TestCase):
    """SIGTERM with clients still connected."""

    def test_sigterm_with_clients_connected(self):
        server = harness.Server(listener("echo") + listener("upper", "upper")
                                + listener("unix", proto="unix",
                                           bind="@DIR@/echo.sock"))
        socks = []
        try:
            for name in ("echo", "echo", "upper", "unix"):
                s = server.connect(name)
                socks.append(s)
                s.sendall(b"x")
                harness.recv_exactly(s, 1)
            socks[1].sendall(b"partial line, no newline")
            harness.recv_exactly(socks[1], 24)
            t0 = time.monotonic()
            rc = server.stop(signal.SIGTERM)
            elapsed = time.monotonic() - t0
            report = server.valgrind_report() if server.valgrind else ""
            self.assertEqual(rc, 0, "exit status %d\n%s\n%s" %
                             (rc, server.log(), report))
            self.assertLess(elapsed, 1.5 * SLOW)
            self.assertIn("info: shutting down (SIGTERM)", server.log())
            for s in socks:
                self.assertEqual(harness.recv_until_closed(s, timeout=2),
                                 b"")
        finally:
            for s in socks:
                s.close()
            release(server)

    def test_sigterm_with_stuck_client_within_shutdown_timeout(self):
        # An echo client that never reads, and a chat participant that
        # never reads with megabytes of broadcasts queued for it (more than
        # any kernel buffer holds): the daemon waits shutdown_timeout for
        # them, no less (their output is not simply dropped) and not much
        # longer.
        server = harness.Server("[server]\nshutdown_timeout = 500ms\n"
                                "output_limit = 64m\n"
                                "[chat]\nchat_rate = 0\n" +
                                listener("echo") + listener("chat", "chat"))
        try:
            family, sa = server.addr("chat")
            with server.connect("echo") as stuck, \
                    socket.socket(family, socket.SOCK_STREAM) as stuck_chat, \
                    server.connect("chat") as sender:
                stuck_chat.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                stuck_chat.settimeout(5 * SLOW)
                stuck_chat.connect(sa)
                hog = Hog(stuck, 64 * 1024 * 1024)
                hog.start()
                line = b"q" * 3999 + b"\n"
                count = (2000 if harness.VALGRIND else 4000)
                sender.sendall(line * count + b"/who\n")
                while not harness.recv_line(sender, 30).startswith(
                        b"*** Users"):
                    pass            # everything before /who was handled
                deadline = time.monotonic() + 10 * SLOW
                while (hog.is_alive() and time.monotonic() < deadline and
                       time.monotonic() - hog.last_progress < 0.3):
                    time.sleep(0.05)
                t0 = time.monotonic()
                rc = server.stop(signal.SIGTERM)
                elapsed = time.monotonic() - t0
                hog.stop.set()
                hog.join(5)
            report = server.valgrind_report() if server.valgrind else ""
            self.assertEqual(rc, 0, "exit status %d\n%s\n%s" %
                             (rc, server.log(), report))
            self.assertGreaterEqual(elapsed, 0.45, "left before "
                                    "shutdown_timeout:\n" + server.log())
            self.assertLess(elapsed, 0.5 + 1.5 * SLOW)
            self.assertIn("info: shutting down (SIGTERM)", server.log())
        finally:
            release(server)


class LineTimeout(unittest.TestCase):
    """line_timeout: a partial line older than this is dropped, the client
    told, and the connection goes on (line-based handlers only)."""

    def tearDown(self):
        finish(self.server)

    def chat_pair(self):
        a = self.server.connect("chat")
        b = self.server.connect("chat")
        self.assertTrue(harness.recv_line(a).startswith(b"*** Welcome"))
        self.assertTrue(harness.recv_line(b).startswith(b"*** Welcome"))
        self.assertEqual(harness.recv_line(a), b"*** guest2 has joined\n")
        return a, b

    def test_stale_partial_line_dropped_and_told(self):
        self.server = start("[server]\nline_timeout = 1\n" +
                            listener("chat", handler="chat"))
        a, b = self.chat_pair()
        with a, b:
            t0 = time.monotonic()
            b.sendall(b"half a li")
            self.assertEqual(harness.recv_line(b, timeout=4),
                             b"*** error: line timeout\n")
            elapsed = time.monotonic() - t0
            self.assertGreaterEqual(elapsed, 0.9)
            self.assertLess(elapsed, 2.5 * SLOW)
            b.sendall(b"ne\nwhole line\n")
            # The dropped start never reaches anyone; what follows does.
            self.assertEqual(harness.recv_line(a), b"<guest2> ne\n")
            self.assertEqual(harness.recv_line(a), b"<guest2> whole line\n")
        self.server.wait_log(r"info: dropping a partial line from "
                             r"127\.0\.0\.1:\d+ on listener chat: "
                             r"line timeout$")

    def test_dribbled_line_is_cut_even_while_bytes_arrive(self):
        self.server = start("[server]\nline_timeout = 1\n" +
                            listener("chat", handler="chat"))
        a, b = self.chat_pair()
        with a, b:
            b.settimeout(0.05)
            got = b""
            deadline = time.monotonic() + 4 * SLOW
            while b"line timeout" not in got and time.monotonic() < deadline:
                b.sendall(b"x")         # one byte every 0.2 s, never a LF
                try:
                    got += b.recv(100)
                except socket.timeout:
                    pass
                time.sleep(0.15)
            self.assertIn(b"*** error: line timeout\n", got)

    def test_zero_disables_and_echo_is_unaffected(self):
        self.server = start("[server]\nline_timeout = 0\n" +
                            listener("chat", handler="chat") +
                            listener("echo"))
        a, b = self.chat_pair()
        with a, b, self.server.connect("echo") as e:
            b.sendall(b"slow")
            e.sendall(b"no newline")
            self.assertEqual(harness.recv_exactly(e, 10), b"no newline")
            time.sleep(2.2)
            b.sendall(b" but whole\n")
            self.assertEqual(harness.recv_line(a), b"<guest2> slow but whole\n")
        self.assertNotIn("line timeout", self.server.log())


class UdpRate(unittest.TestCase):
    """udp_rate / udp_burst: replies to one source address are rationed;
    the excess is dropped and counted in the log."""

    def tearDown(self):
        self.server.close()

    def burst_replies(self, sock, count, payload=b"p"):
        for i in range(count):
            sock.send(payload + b"%d" % i)
        got = 0
        sock.settimeout(0.5 * SLOW)
        try:
            while True:
                sock.recv(100)
                got += 1
        except socket.timeout:
            pass
        return got

    def test_burst_then_rate(self):
        self.server = harness.Server(
            "[server]\nudp_rate = 5\nudp_burst = 10\n" +
            listener("echo", proto="udp"))
        with self.server.udp("echo") as u:
            got = self.burst_replies(u, 50)
            self.assertGreaterEqual(got, 10)
            self.assertLessEqual(got, 10 + 5 * SLOW)
            time.sleep(1.2)      # the bucket refills at 5 per second
            again = self.burst_replies(u, 20)
            self.assertGreaterEqual(again, 5)
            self.assertLessEqual(again, 10)
        self.server.wait_log(r"info: udp: dropped \d+ repl(y|ies) over udp_rate")

    def replies_to_ports(self, burst, nsocks, rounds):
        """udp_rate = 1, udp_burst = burst; rounds datagrams from each of
        nsocks ports of one address, all sent before any is read (so the
        run is short even when slowed); the replies all ports got."""
        self.server = harness.Server(
            "[server]\nudp_rate = 1\nudp_burst = %d\n" % burst +
            listener("echo", proto="udp"))
        socks = [self.server.udp("echo") for _ in range(nsocks)]
        try:
            for i in range(rounds):
                for s in socks:
                    s.send(b"p%d" % i)
            return sum(self.burst_replies(s, 0) for s in socks)
        finally:
            for s in socks:
                s.close()

    def test_all_ports_of_an_address_share_one_budget(self):
        total = self.replies_to_ports(burst=6, nsocks=3, rounds=6)
        # One shared bucket: the burst of 6 (plus what udp_rate = 1 refills
        # while the daemon takes 18 datagrams in), not three bursts.
        self.assertGreaterEqual(total, 6)
        self.assertLessEqual(total, 6 + 2)

    def test_budget_holds_within_one_batch(self):
        """A burst read in one go from many ports of one address still gets
        only the address's burst of replies, however it is batched: 96
        datagrams, more than one read takes."""
        total = self.replies_to_ports(burst=8, nsocks=8, rounds=12)
        self.assertGreaterEqual(total, 8)
        self.assertLessEqual(total, 8 + 2)
        self.server.wait_log(r"info: udp: dropped \d+ repl(y|ies) over udp_rate")

    def test_chat_challenges_are_rationed(self):
        self.server = harness.Server(
            "[server]\nudp_rate = 2\nudp_burst = 3\n" +
            listener("chat", handler="chat", proto="udp"))
        with self.server.udp("chat") as u:
            got = self.burst_replies(u, 30, b"hello ")
            self.assertGreaterEqual(got, 3)
            self.assertLessEqual(got, 3 + 2)

    def test_privileged_source_ports_never_answered(self):
        """Ports below 1024 are other servers (echo, chargen, DNS): never
        answer them, or two servers can be made to ping-pong forever."""
        self.server = harness.Server(
            "[server]\nudp_rate = 0\n" + listener("echo", proto="udp"))
        if os.geteuid() != 0:
            self.skipTest("binding a port below 1024 needs root")
        port = self.server.port("echo")
        low = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for candidate in range(1023, 900, -1):
            try:
                low.bind(("127.0.0.1", candidate))
                break
            except OSError:
                continue
        with low, self.server.udp("echo") as normal:
            low.settimeout(0.5 * SLOW)
            for i in range(5):
                low.sendto(b"loop? %d" % i, ("127.0.0.1", port))
            with self.assertRaises(socket.timeout):
                low.recvfrom(100)
            normal.send(b"fine")
            self.assertEqual(normal.recv(100), b"fine")
        self.server.wait_log(r"info: udp: dropped \d+ repl(y|ies) over udp_rate "
                             r"and [1-5] datagrams? from ports below 1024")

    def test_zero_means_no_limit(self):
        self.server = harness.Server(
            "[server]\nudp_rate = 0\n" + listener("echo", proto="udp"))
        with self.server.udp("echo") as u:
            got = 0
            for i in range(300):
                u.send(b"n%d" % i)
                u.recv(100)
                got += 1
            self.assertEqual(got, 300)


if __name__ == "__main__":
    harness.main()
