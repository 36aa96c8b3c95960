#!/usr/bin/env python3
"""test_echo.py -- the echo and upper handlers, end to end.

Covers (README "Talking to it"): echo and upper over TCP on 127.0.0.1, on [::1]
(skipped, with the reason, only when the host has no IPv6 loopback), on a
"*:0" dual-stack listener reached over both 127.0.0.1 and ::1, and over
Unix sockets; byte-exactness (CRLF, NUL, 0xFF, all 256 byte values, 1 MiB
of random bytes, input split into 1000 tiny writes); a piece without a
newline ("Hello, Server!") answered at once; upper mapping only a-z and
leaving UTF-8 and other bytes alone; 200 concurrent clients each getting
exactly their own bytes back; UDP echo and upper for 0-byte, normal and
60,000-byte datagrams; the banner line sent first; half-close (the whole
echo, then EOF); and the real nc(1) talking to the daemon.
"""
import os
import random
import selectors
import shutil
import socket
import subprocess
import threading
import time
import unittest

import harness

SLOW = harness.SLOW
LOWER = bytes(range(ord("a"), ord("z") + 1))
UPPER_TABLE = bytes.maketrans(LOWER, LOWER.upper())


def to_upper(data):
    """What upper must answer: a-z mapped, every other byte untouched."""
    return data.translate(UPPER_TABLE)


def have_ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_IPV6 = have_ipv6_loopback()
NO_IPV6 = "this host has no IPv6 loopback (::1)"
if not HAVE_IPV6:
    print("note: IPv6 tests will be skipped:", NO_IPV6)

BANNER = "Welcome to echochat -- say something"

CONFIG = """\
[listener echo]
proto = tcp
bind = 127.0.0.1:0
handler = echo

[listener upper]
proto = tcp
bind = 127.0.0.1:0
handler = upper

[listener dual]
proto = tcp
bind = *:0
handler = echo

[listener unix-echo]
proto = unix
bind = @DIR@/echo.sock
handler = echo

[listener unix-upper]
proto = unix
bind = @DIR@/upper.sock
handler = upper

[listener udp-echo]
proto = udp
bind = 127.0.0.1:0
handler = echo

[listener udp-upper]
proto = udp
bind = 127.0.0.1:0
handler = upper

[listener banner-echo]
proto = tcp
bind = 127.0.0.1:0
handler = echo
banner = %(banner)s

[listener banner-upper]
proto = tcp
bind = 127.0.0.1:0
handler = upper
banner = hello from upper

[listener banner-unix]
proto = unix
bind = @DIR@/banner.sock
handler = echo
banner = %(banner)s
""" % {"banner": BANNER}

CONFIG_IPV6 = """
[listener echo6]
proto = tcp
bind = [::1]:0
handler = echo

[listener upper6]
proto = tcp
bind = [::1]:0
handler = upper

[listener udp6-echo]
proto = udp
bind = [::1]:0
handler = echo
"""

server = None


def open_fds(srv):
    """How many descriptors the daemon holds (listeners, loop, clients)."""
    try:
        return len(os.listdir("/proc/%d/fd" % srv.proc.pid))
    except OSError:
        return 0


def setUpModule():
    global server, idle_fds
    server = harness.Server(CONFIG + (CONFIG_IPV6 if HAVE_IPV6 else ""))
    idle_fds = open_fds(server)


def tearDownModule():
    # Stop an idle daemon: stopping one that still holds connections is
    # test_limits.py's subject.
    deadline = time.time() + 5 * SLOW
    while (server.proc.poll() is None and open_fds(server) > idle_fds and
           time.time() < deadline):
        time.sleep(0.02)
    try:
        server.close()      # exit status 0, and valgrind clean
    finally:
        server.proc.stdout.close()
        server.proc.stderr.close()


def dual_addr(host):
    """The "*" listener reached through one loopback address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, server.port("dual"))


def connect_to(family, sa, timeout=5):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout * SLOW)
    s.connect(sa)
    return s


class Sender(threading.Thread):
    """sendall() in the background (so the test can read meanwhile);
    data is bytes, or a list of pieces written one by one."""

    def __init__(self, sock, data, then_shutdown=False):
        super().__init__(daemon=True)
        self.sock, self.data = sock, data
        self.then_shutdown = then_shutdown
        self.error = None

    def run(self):
        try:
            if isinstance(self.data, list):     # one send per piece
                for piece in self.data:
                    self.sock.sendall(piece)
            else:
                self.sock.sendall(self.data)
            if self.then_shutdown:
                self.sock.shutdown(socket.SHUT_WR)
        except Exception as e:      # reported by the test
            self.error = e

    def finish(self, testcase):
        self.join(30 * SLOW)
        testcase.assertFalse(self.is_alive(), "sender still blocked")
        testcase.assertIsNone(self.error)


class StreamChecks:
    """Byte-exactness checks, run on every stream transport."""

    upper = False

    def open(self):
        raise NotImplementedError

    def expected(self, data):
        return to_upper(data) if self.upper else data

    def roundtrip(self, data):
        with self.open() as s:
            s.sendall(data)
            self.assertEqual(harness.recv_exactly(s, len(data)),
                             self.expected(data))

    def test_hello_without_newline_answered_at_once(self):
        with self.open() as s:
            t0 = time.monotonic()
            s.sendall(b"Hello, Server!")
            got = harness.recv_exactly(s, 14, timeout=2)
            elapsed = time.monotonic() - t0
        self.assertEqual(got, b"HELLO, SERVER!" if self.upper
                         else b"Hello, Server!")
        self.assertLess(elapsed, 2 * SLOW)

    def test_crlf_kept(self):
        self.roundtrip(b"line one\r\nline two\r\n\r\n\rlone cr\r")

    def test_nul_kept(self):
        self.roundtrip(b"\x00a\x00\x00b\n\x00\r\n\x00")

    def test_0xff_kept(self):
        self.roundtrip(b"\xff\xfe\xff\xff\xfd\n\xff\xf4\xff\xfd\x06")

    def test_all_byte_values(self):
        self.roundtrip(bytes(range(256)) * 3 + bytes(range(255, -1, -1)))

    def test_one_mib_random(self):
        data = os.urandom(1024 * 1024)
        with self.open() as s:
            sender = Sender(s, data)
            sender.start()
            got = harness.recv_exactly(s, len(data), timeout=30)
            sender.finish(self)
        self.assertEqual(got, self.expected(data))

    def test_many_small_writes(self):
        rng = random.Random(1234)
        pieces = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 7)))
                  for _ in range(1000)]
        data = b"".join(pieces)
        with self.open() as s:
            if s.family != socket.AF_UNIX:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Write from a thread while reading: over a Unix socket every
            # tiny echo costs a whole buffer slot, so a client that only
            # writes would (rightly) be stopped by flow control.
            sender = Sender(s, pieces)
            sender.start()
            got = harness.recv_exactly(s, len(data))
            sender.finish(self)
        self.assertEqual(got, self.expected(data))

    def test_line_by_line_conversation(self):
        with self.open() as s:
            for i in range(50):
                line = b"message number %d, mixed Case\n" % i
                s.sendall(line)
                self.assertEqual(harness.recv_exactly(s, len(line)),
                                 self.expected(line))

    def test_half_close_gets_everything_then_eof(self):
        data = os.urandom(100 * 1024) + b"\nlast piece, no newline"
        with self.open() as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            got = harness.recv_until_closed(s, timeout=10)
        self.assertEqual(got, self.expected(data))

    def test_half_close_with_slow_reader(self):
        # The server has output queued when the client's EOF arrives.
        data = os.urandom((512 if harness.VALGRIND else 4096) * 1024)
        with self.open() as s:
            sender = Sender(s, data, then_shutdown=True)
            sender.start()
            time.sleep(0.3)
            got = harness.recv_until_closed(s, timeout=30)
            sender.finish(self)
        self.assertEqual(len(got), len(data))
        self.assertEqual(got, self.expected(data))


class TcpEcho(StreamChecks, unittest.TestCase):
    def open(self):
        return server.connect("echo")


class TcpUpper(StreamChecks, unittest.TestCase):
    upper = True

    def open(self):
        return server.connect("upper")

    def test_upper_maps_only_ascii_letters(self):
        text = "Grüße, Straße! ñandú Ærø ÿ – 123 {abc} [xyz] @`\t~\n"
        want = "GRüßE, STRAßE! ñANDú ÆRø ÿ – 123 {ABC} [XYZ] @`\t~\n"
        self.roundtrip(text.encode("utf-8"))
        with self.open() as s:
            s.sendall(text.encode("utf-8"))
            got = harness.recv_exactly(s, len(want.encode("utf-8")))
        self.assertEqual(got.decode("utf-8"), want)

    def test_upper_letter_boundaries(self):
        with self.open() as s:
            s.sendall(b"`az{@AZ[\x60\x7b\xe1\xc1")
            self.assertEqual(harness.recv_exactly(s, 12),
                             b"`AZ{@AZ[\x60\x7b\xe1\xc1")


@unittest.skipUnless(HAVE_IPV6, NO_IPV6)
class Tcp6Echo(StreamChecks, unittest.TestCase):
    def open(self):
        return server.connect("echo6")

    def test_listener_is_ipv6_loopback(self):
        self.assertEqual(server.addr("echo6")[0], socket.AF_INET6)
        self.assertEqual(server.addr("echo6")[1][0], "::1")


@unittest.skipUnless(HAVE_IPV6, NO_IPV6)
class Tcp6Upper(StreamChecks, unittest.TestCase):
    upper = True

    def open(self):
        return server.connect("upper6")


class DualStackOverIPv4(StreamChecks, unittest.TestCase):
    def open(self):
        return connect_to(*dual_addr("127.0.0.1"))


@unittest.skipUnless(HAVE_IPV6, NO_IPV6)
class DualStackOverIPv6(StreamChecks, unittest.TestCase):
    def open(self):
        return connect_to(*dual_addr("::1"))

    def test_both_families_at_once(self):
        with connect_to(*dual_addr("127.0.0.1")) as a, \
                connect_to(*dual_addr("::1")) as b:
            a.sendall(b"over v4\n")
            b.sendall(b"over v6\n")
            self.assertEqual(harness.recv_exactly(b, 8), b"over v6\n")
            self.assertEqual(harness.recv_exactly(a, 8), b"over v4\n")


class UnixEcho(StreamChecks, unittest.TestCase):
    def open(self):
        return server.connect("unix-echo")

    def test_socket_file_in_place(self):
        family, path = server.addr("unix-echo")
        self.assertEqual(family, socket.AF_UNIX)
        self.assertEqual(path, os.path.join(server.dir, "echo.sock"))


class UnixUpper(StreamChecks, unittest.TestCase):
    upper = True

    def open(self):
        return server.connect("unix-upper")


class ManyClients(unittest.TestCase):
    """Many connections at once, each answered with its own bytes."""

    def exchange(self, targets, size):
        """targets: [(family, sockaddr, upper)]; every client sends its
        own random bytes while reading; returns when all are echoed."""
        sel = selectors.DefaultSelector()
        clients = []
        try:
            for family, sa, upper in targets:
                s = connect_to(family, sa)
                s.setblocking(False)
                out = os.urandom(size)
                c = {"sock": s, "out": out, "sent": 0, "got": bytearray(),
                     "want": to_upper(out) if upper else out}
                clients.append(c)
                sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE,
                             c)
            pending = len(clients)
            deadline = time.monotonic() + 30 * SLOW
            while pending:
                self.assertLess(time.monotonic(), deadline,
                                "%d clients still waiting" % pending)
                for key, events in sel.select(timeout=1):
                    c, s = key.data, key.fileobj
                    if events & selectors.EVENT_WRITE:
                        try:
                            c["sent"] += s.send(
                                c["out"][c["sent"]:c["sent"] + 65536])
                        except BlockingIOError:
                            pass
                        if c["sent"] == len(c["out"]):
                            sel.modify(s, selectors.EVENT_READ, c)
                    if events & selectors.EVENT_READ:
                        try:
                            chunk = s.recv(65536)
                        except BlockingIOError:
                            continue
                        self.assertTrue(chunk, "a client was disconnected")
                        c["got"] += chunk
                        self.assertEqual(bytes(c["got"]),
                                         c["want"][:len(c["got"])],
                                         "a client got foreign bytes")
                        if len(c["got"]) == len(c["want"]):
                            sel.unregister(s)
                            pending -= 1
            for c in clients:
                self.assertEqual(bytes(c["got"]), c["want"])
        finally:
            sel.close()
            for c in clients:
                c["sock"].close()

    def test_200_concurrent_clients(self):
        family, sa = server.addr("echo")
        size = 1024 if harness.VALGRIND else 32 * 1024
        self.exchange([(family, sa, False)] * 200, size)

    def test_mixed_listeners_at_once(self):
        targets = []
        names = [("echo", False), ("upper", True), ("unix-echo", False),
                 ("unix-upper", True)]
        if HAVE_IPV6:
            names += [("echo6", False), ("upper6", True)]
        for name, upper in names:
            family, sa = server.addr(name)
            targets += [(family, sa, upper)] * 10
        targets += [dual_addr("127.0.0.1") + (False,)] * 10
        if HAVE_IPV6:
            targets += [dual_addr("::1") + (False,)] * 10
        random.Random(7).shuffle(targets)
        self.exchange(targets, 512 if harness.VALGRIND else 8 * 1024)


class Udp(unittest.TestCase):

    def check(self, name, payloads, upper=False):
        with server.udp(name) as s:
            for p in payloads:
                s.send(p)
                got = s.recv(65536)
                self.assertEqual(len(got), len(p))
                self.assertEqual(got, to_upper(p) if upper else p)

    def payloads(self):
        return [b"", b"Hello, UDP! h\xc3\xa9llo \x00\xff\r\n",
                os.urandom(60000), b"", bytes(range(256))]

    def test_udp_echo(self):
        self.check("udp-echo", self.payloads())

    def test_udp_upper(self):
        self.check("udp-upper", self.payloads(), upper=True)

    @unittest.skipUnless(HAVE_IPV6, NO_IPV6)
    def test_udp6_echo(self):
        self.check("udp6-echo", self.payloads())

    @unittest.skipUnless(HAVE_IPV6, NO_IPV6)
    def test_udp6_equal_replies_in_a_row(self):
        msgs = [b"%063d" % i for i in range(30)] + [b"end"]
        with server.udp("udp6-echo") as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            for m in msgs:
                s.send(m)
            got = [s.recv(65536) for _ in msgs]
        self.assertEqual(got, msgs)

    def test_udp_datagrams_stay_separate(self):
        msgs = [b"datagram %d\n" % i for i in range(20)]
        with server.udp("udp-echo") as s:
            for m in msgs:
                s.send(m)
            got = [s.recv(65536) for _ in msgs]
        self.assertEqual(got, msgs)

    def test_udp_answers_each_source(self):
        with server.udp("udp-echo") as a, server.udp("udp-echo") as b:
            a.send(b"from a")
            b.send(b"from b")
            self.assertEqual(b.recv(100), b"from b")
            self.assertEqual(a.recv(100), b"from a")


class UdpBatch(unittest.TestCase):
    """Datagrams are read and answered a batch at a time: a burst from
    many sources, arriving faster than it is read, is answered whole."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(
            "[server]\nudp_rate = 0\n"
            "[listener udp]\nproto = udp\nbind = 127.0.0.1:0\nhandler = echo\n")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def replies(self, sock, count):
        return [sock.recv(65536) for _ in range(count)]

    def test_burst_from_many_sources_all_answered(self):
        # 120 datagrams: more than one batch, fewer than the daemon's
        # socket buffer holds (the kernel drops what does not fit).
        socks = [self.server.udp("udp") for _ in range(10)]
        try:
            for i in range(12):
                for n, s in enumerate(socks):
                    s.send(b"source %d datagram %d" % (n, i))
            for n, s in enumerate(socks):
                # Each source hears its own replies, in the order sent.
                self.assertEqual(self.replies(s, 12),
                                 [b"source %d datagram %d" % (n, i) for i in range(12)])
        finally:
            for s in socks:
                s.close()

    def test_largest_datagram_among_small_ones_whole(self):
        big = os.urandom(65507)         # the most an IPv4 datagram carries
        msgs = [b"a", big, b"b", b"", big[:40000], b"c"]
        with self.server.udp("udp") as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            for m in msgs:
                s.send(m)
            self.assertEqual(self.replies(s, len(msgs)), msgs)

    def burst(self, s, msgs):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for m in msgs:
            s.send(m)
        got = self.replies(s, len(msgs))
        self.assertEqual([len(g) for g in got], [len(m) for m in msgs])
        self.assertEqual(got, msgs)

    def test_equal_replies_in_a_row_stay_separate(self):
        """Replies of one size in a row to one source, sent together,
        arrive as the datagrams they were: a run longer than one send
        carries, runs ended by a shorter, an empty or a longer reply, and
        replies too large to be sent together."""
        rnd = random.Random(17)
        def blob(n):
            return bytes(rnd.getrandbits(8) for _ in range(n))
        msgs = ([blob(64) for _ in range(70)] + [blob(20), blob(64),
                b"", blob(64), blob(64), blob(900)] +
                [blob(1200) for _ in range(55)] + [blob(1500) for _ in range(5)])
        with self.server.udp("udp") as s:
            self.burst(s, msgs[:64])
            self.burst(s, msgs[64:])

    def test_runs_to_two_sources_interleaved(self):
        a, b = self.server.udp("udp"), self.server.udp("udp")
        with a, b:
            for s in (a, b):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            for i in range(40):
                (a if (i // 5) % 2 else b).send(b"%08d" % i)
            self.assertEqual(self.replies(a, 20),
                             [b"%08d" % i for i in range(40) if (i // 5) % 2])
            self.assertEqual(self.replies(b, 20),
                             [b"%08d" % i for i in range(40) if not (i // 5) % 2])

    def test_sources_answered_apart_in_one_batch(self):
        """Replies gathered from one batch go each to its own source."""
        a, b = self.server.udp("udp"), self.server.udp("udp")
        with a, b:
            for i in range(30):
                (a if i % 3 else b).send(b"%d" % i)
            self.assertEqual(self.replies(a, 20),
                             [b"%d" % i for i in range(30) if i % 3])
            self.assertEqual(self.replies(b, 10),
                             [b"%d" % i for i in range(30) if not i % 3])


class Banner(unittest.TestCase):

    def test_banner_first_then_echo(self):
        with server.connect("banner-echo") as s:
            self.assertEqual(harness.recv_line(s),
                             BANNER.encode() + b"\n")
            s.sendall(b"Hello, Server!")
            self.assertEqual(harness.recv_exactly(s, 14), b"Hello, Server!")

    def test_banner_not_uppercased(self):
        with server.connect("banner-upper") as s:
            self.assertEqual(harness.recv_line(s), b"hello from upper\n")
            s.sendall(b"shout\n")
            self.assertEqual(harness.recv_exactly(s, 6), b"SHOUT\n")

    def test_banner_on_unix(self):
        with server.connect("banner-unix") as s:
            self.assertEqual(harness.recv_line(s),
                             BANNER.encode() + b"\n")
            s.sendall(b"\x00\xff\r\n")
            self.assertEqual(harness.recv_exactly(s, 4), b"\x00\xff\r\n")

    def test_banner_even_when_client_speaks_first(self):
        with server.connect("banner-echo") as s:
            s.sendall(b"early\n")
            want = BANNER.encode() + b"\nearly\n"
            self.assertEqual(harness.recv_exactly(s, len(want)), want)

    def test_no_banner_without_setting(self):
        with server.connect("echo") as s:
            s.settimeout(0.3 * harness.QUIET_SLOW)
            with self.assertRaises(socket.timeout):
                s.recv(1)


@unittest.skipUnless(shutil.which("nc"), "nc (netcat) is not installed")
class Netcat(unittest.TestCase):
    """The real nc(1): netcat-openbsd's -N (or -q1 elsewhere)."""

    def nc(self, args, data):
        for close_flag in (["-N"], ["-q1"]):
            p = subprocess.run(["nc"] + close_flag + args, input=data,
                               capture_output=True, timeout=10 * SLOW)
            if p.returncode == 0 or b"option" not in p.stderr:
                break
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_nc_echo(self):
        self.assertEqual(self.nc(["127.0.0.1", str(server.port("echo"))],
                                 b"hello\n"), b"hello\n")

    def test_nc_upper(self):
        self.assertEqual(self.nc(["127.0.0.1", str(server.port("upper"))],
                                 b"hello\n"), b"HELLO\n")

    def test_nc_unix(self):
        path = server.addr("unix-echo")[1]
        self.assertEqual(self.nc(["-U", path], b"hello\n"), b"hello\n")


if __name__ == "__main__":
    harness.main()
