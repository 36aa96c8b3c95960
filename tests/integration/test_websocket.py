#!/usr/bin/env python3
"""test_websocket.py -- WebSocket listeners and the web page (README
"Browsers", echochatd.ini(5) websocket, ws_origins).

Clients: Python's websocket module (Debian python3-websocket) for what a
real client library does, and a raw socket with frames built here for
what no library sends (unmasked frames, reserved bits, bad UTF-8, lying
lengths).

Covers:

- Echo exactness over many message sizes (0 B to 300 KB, across the
  7-bit, 16-bit and 64-bit length forms), text and binary; upper; a
  message sent in fragments with a ping in between; bytes sent right
  after the request head in the same packet.
- Ping answered with a pong of the same payload; a close answered with
  the same status; the server's own close (idle_timeout) is 1001.
- Refused with the RFC's status: an unmasked frame, reserved bits, an
  unknown opcode, a continuation of nothing, a long or fragmented control
  frame (1002); bad UTF-8 in a text message (1007); a message longer
  than the limit (1009).
- Output is always UTF-8: invalid bytes from a plain user become U+FFFD.
- Chat: a WebSocket user and a plain TCP user in one room, both ways,
  /nick and /who; a message longer than max_line is "line too long".
- HTTP: GET / serves the page with a Content-Security-Policy whose
  script and style hashes are those of the page's inline blocks; other
  paths 404, other methods 405, garbage 400, a bad upgrade 400 (with
  Sec-WebSocket-Version for a wrong version); ws_origins: a wrong or
  missing Origin 403, a listed one upgrades.
- Limits: a head larger than 8 KiB, and a slowloris head dribbled slower
  than line_timeout, are refused; max_clients (an HTTP 503 with the
  "server full" line); idle_timeout; a WebSocket
  chat user that never reads is cut at output_limit.
- wss://: websocket = yes with a TLS certificate (made with openssl).
- Configuration: websocket on a udp listener, ws_origins without
  websocket are refused by -t (exit 78).

A build without WebSocket refuses the keys with "not supported by this
build"; there only that case runs (make passes ECHOCHAT_WS).
"""
import base64
import hashlib
import os
import re
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import harness

try:
    import websocket
except ImportError:         # the suite fails, as it must: see setUpModule
    websocket = None

SLOW = harness.SLOW
BUILT = bool(os.environ.get("ECHOCHAT_WS", "1"))

CONFIG = """[server]
log_level = debug
line_timeout = 2s
max_line = 1k
[listener echo]
proto = tcp
bind = 127.0.0.1:0
handler = echo
websocket = yes
[listener upper]
proto = tcp
bind = 127.0.0.1:0
handler = upper
websocket = yes
[listener web]
proto = tcp
bind = 127.0.0.1:0
handler = chat
websocket = yes
[listener chat]
proto = tcp
bind = 127.0.0.1:0
handler = chat
[listener strict]
proto = tcp
bind = 127.0.0.1:0
handler = echo
websocket = yes
ws_origins = https://chat.example.org http://good.example
"""


def setUpModule():
    if BUILT and websocket is None:
        raise RuntimeError("python3-websocket is needed (scripts/deps test)")


def url(server, name, scheme="ws"):
    return "%s://127.0.0.1:%d/" % (scheme, server.port(name))


def connect(server, name, **kw):
    return websocket.create_connection(url(server, name),
                                       timeout=10 * SLOW, **kw)


# -- a raw client --------------------------------------------------------

def handshake(sock, path="/", extra=""):
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n%s\r\n" %
                  (path, key, extra)).encode())
    head = read_head(sock)
    accept = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    return head, accept.decode()


def small_window(test, name):
    """An upgraded raw client whose receive buffer is 4 KiB, so that the
    server soon has output the socket will not take."""
    family, sa = test.server.addr(name)
    s = socket.socket(family, socket.SOCK_STREAM)
    test.addCleanup(s.close)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10 * SLOW)
    s.connect(sa)
    test.assertTrue(handshake(s)[0].startswith("HTTP/1.1 101 "))
    return s


def read_head(sock):
    sock.settimeout(10 * SLOW)
    buf = b""
    while b"\r\n\r\n" not in buf:
        c = sock.recv(1)
        if not c:
            break
        buf += c
    return buf.decode("latin-1")


def frame(op, payload, fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    if n < 126:
        h = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        h = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        h = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return h + payload
    key = os.urandom(4)
    return h + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))


def read_frame(sock):
    """(fin, opcode, payload) of one server frame; None on EOF."""
    h = harness.recv_exactly(sock, 2)
    n = h[1] & 0x7f
    assert not h[1] & 0x80, "server frames are never masked"
    if n == 126:
        n = struct.unpack("!H", harness.recv_exactly(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", harness.recv_exactly(sock, 8))[0]
    return bool(h[0] & 0x80), h[0] & 0x0f, harness.recv_exactly(sock, n)


def close_status(sock):
    """Read frames until a close; its status code."""
    while True:
        fin, op, p = read_frame(sock)
        if op == 8:
            return struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None


class Base(unittest.TestCase):
    config = CONFIG

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(cls.config)

    @classmethod
    def tearDownClass(cls):
        harness.finish(cls.server)

    def raw(self, name="echo"):
        s = self.server.connect(name, timeout=10)
        self.addCleanup(s.close)
        return s

    def opened(self, name="echo", extra=""):
        s = self.raw(name)
        head, accept = handshake(s, extra=extra)
        self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
        self.assertIn("Sec-WebSocket-Accept: %s\r\n" % accept, head)
        return s

    def ws(self, name="echo", **kw):
        c = connect(self.server, name, **kw)
        self.addCleanup(c.close)
        return c

    def http(self, request, name="echo"):
        s = self.raw(name)
        s.sendall(request)
        return harness.recv_until_closed(s).decode("latin-1")


@unittest.skipUnless(BUILT, "built without WebSocket")
class Messages(Base):
    def test_echo_many_sizes(self):
        c = self.ws()
        for n in (1, 2, 100, 125, 126, 127, 1000, 65535, 65536, 70000,
                  300000):
            text = "".join(chr(0x61 + (i * 7 + n) % 26) for i in range(n))
            c.send(text)
            got = c.recv()
            self.assertEqual(len(got), n)
            self.assertEqual(got, text)

    def test_empty_and_unicode(self):
        c = self.ws()
        c.send("")
        self.assertEqual(c.recv(), "")
        c.send("h\u00e9llo \u4e16\u754c \U0001f600")
        self.assertEqual(c.recv(), "h\u00e9llo \u4e16\u754c \U0001f600")

    def test_binary_is_echoed_as_text(self):
        c = self.ws()
        c.send_binary(b"bin\x00ary")
        op, data = c.recv_data()
        self.assertEqual(op, websocket.ABNF.OPCODE_TEXT)
        self.assertEqual(data, b"bin\x00ary")

    def test_invalid_bytes_become_replacement(self):
        c = self.ws()
        c.send_binary(b"a\xffb\xc3")
        self.assertEqual(c.recv(), "a\ufffdb\ufffd")

    def test_lines_are_messages(self):
        c = self.ws()
        c.send("one\ntwo\n")
        self.assertEqual(c.recv(), "one")
        self.assertEqual(c.recv(), "two")

    def test_upper(self):
        c = self.ws("upper")
        c.send("Hello, Server!")
        self.assertEqual(c.recv(), "HELLO, SERVER!")

    def test_fragments_with_ping_between(self):
        c = self.ws()
        F = websocket.ABNF
        c.send_frame(F.create_frame("frag", F.OPCODE_TEXT, fin=0))
        c.send_frame(F.create_frame("men", F.OPCODE_CONT, fin=0))
        c.ping("mid")
        c.send_frame(F.create_frame("ted", F.OPCODE_CONT, fin=1))
        op, fr = c.recv_data_frame(control_frame=True)
        self.assertEqual(op, F.OPCODE_PONG)
        self.assertEqual(fr.data, b"mid")
        self.assertEqual(c.recv(), "fragmented")

    def test_ping(self):
        c = self.ws()
        c.ping("hello")
        op, fr = c.recv_data_frame(control_frame=True)
        self.assertEqual((op, fr.data), (websocket.ABNF.OPCODE_PONG,
                                         b"hello"))

    def test_close_is_answered(self):
        s = self.opened()
        s.sendall(frame(8, struct.pack("!H", 1000) + b"bye"))
        self.assertEqual(close_status(s), 1000)
        self.assertEqual(harness.recv_until_closed(s), b"")

    def test_early_frame_after_head(self):
        s = self.raw()
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode() +
                  frame(1, b"early"))
        self.assertTrue(read_head(s).startswith("HTTP/1.1 101 "))
        self.assertEqual(read_frame(s), (True, 1, b"early"))

    def test_split_frames(self):
        """A frame dribbled a byte at a time is still one message."""
        s = self.opened()
        for b in frame(1, b"slow bytes"):
            s.sendall(bytes([b]))
        self.assertEqual(read_frame(s), (True, 1, b"slow bytes"))

    def test_slow_reader_gets_everything(self):
        """A client that reads late still gets every byte, unasked: the
        tail of a frame the socket would not take goes out by itself."""
        s = small_window(self, "echo")
        lines = b"".join(b"%05d " % i + b"x" * 94 + b"\n"
                         for i in range(3000))
        sender = threading.Thread(target=s.sendall,
                                  args=(frame(1, lines),))
        sender.start()
        time.sleep(0.3 * SLOW)
        raw = b""
        while True:     # slowly, so the server often finds it full
            try:
                b = s.recv(1024)
            except socket.timeout:
                break
            raw += b
            if raw.endswith(b"2999 " + b"x" * 94) or not b:
                break
            time.sleep(0.001)
        sender.join(10 * SLOW)
        got = b""
        while raw:
            n, hl = raw[1] & 0x7f, 2
            if n == 126:
                n, hl = struct.unpack("!H", raw[2:4])[0], 4
            got += raw[hl:hl + n] + (b"\n" if raw[0] & 0x80 else b"")
            raw = raw[hl + n:]
        self.assertEqual(len(got), len(lines))
        self.assertEqual(got, lines)


@unittest.skipUnless(BUILT, "built without WebSocket")
class Refused(Base):
    def expect(self, data, status):
        s = self.opened()
        s.sendall(data)
        self.assertEqual(close_status(s), status)
        self.assertEqual(harness.recv_until_closed(s), b"")

    def test_unmasked(self):
        self.expect(frame(1, b"hi", mask=False), 1002)

    def test_reserved_bits(self):
        self.expect(frame(1, b"hi", rsv=0x40), 1002)

    def test_unknown_opcode(self):
        self.expect(frame(3, b"hi"), 1002)

    def test_continuation_of_nothing(self):
        self.expect(frame(0, b"hi"), 1002)

    def test_new_message_inside_one(self):
        self.expect(frame(1, b"a", fin=False) + frame(1, b"b"), 1002)

    def test_long_control(self):
        self.expect(frame(9, b"x" * 126), 1002)

    def test_fragmented_control(self):
        self.expect(frame(9, b"x", fin=False), 1002)

    def test_bad_close_code(self):
        self.expect(frame(8, struct.pack("!H", 1005)), 1002)

    def test_bad_utf8(self):
        self.expect(frame(1, b"ab\xc3\x28"), 1007)

    def test_utf8_cut_at_message_end(self):
        self.expect(frame(1, b"ab\xe4\xb8"), 1007)

    def test_oversize_message(self):
        """The length alone is refused: nothing of it need be sent."""
        s = self.opened()
        s.sendall(struct.pack("!BBQ", 0x81, 0xff, 2 * 1024 * 1024) +
                  os.urandom(4) + b"x" * 100)
        self.assertEqual(close_status(s), 1009)

    def test_oversize_in_fragments(self):
        s = self.opened("web")
        read_frame(s)       # the welcome
        part = b"a" * 65536
        try:
            for _ in range(17):
                s.sendall(frame(1 if _ == 0 else 0, part, fin=False))
        except OSError:
            pass
        self.assertEqual(close_status(s), 1009)

    def test_still_serving(self):
        """After refused frames of every kind, new and open clients are
        served as before."""
        c = self.ws()
        for data in (frame(1, b"x", mask=False), frame(9, b"p" * 200),
                     frame(1, b"\xff\xfe"), frame(3, b"?")):
            s = self.opened()
            s.sendall(data)
            self.assertEqual(harness.recv_until_closed(s)[:2], b"\x88\x02")
        c.send("alive")
        self.assertEqual(c.recv(), "alive")
        d = self.ws()
        d.send("new")
        self.assertEqual(d.recv(), "new")


@unittest.skipUnless(BUILT, "built without WebSocket")
class Chat(Base):
    def test_ws_and_plain_users_talk(self):
        w = self.ws("web")
        self.assertRegex(w.recv(), r"^\*\*\* Welcome to echochat, guest\d+")
        w.send("/nick webby")
        self.assertEqual(w.recv(), "*** You are now webby")
        p = self.server.connect("chat")
        self.addCleanup(p.close)
        self.assertIn(b"Welcome", harness.recv_line(p))
        self.assertIn(b"has joined", w.recv().encode())
        w.send("hello from the browser")
        self.assertEqual(harness.recv_line(p),
                         b"<webby> hello from the browser\n")
        p.sendall(b"/nick plain\nhi \xe9<script>x</script>\n")
        lines = [w.recv() for _ in range(2)]
        self.assertRegex(lines[0], r"^\*\*\* guest\d+ is now known as plain$")
        # Chat removes control bytes; other bytes outside UTF-8 become
        # U+FFFD, so a browser never sees invalid text.
        self.assertEqual(lines[1], "<plain> hi \ufffd<script>x</script>")
        w.send("/who")
        self.assertEqual(w.recv(), "*** Users (2): plain, webby")

    def test_line_too_long(self):
        w = self.ws("web")
        w.recv()
        w.send("x" * 2000)
        self.assertEqual(w.recv(), "*** error: line too long (max 1024 "
                         "bytes)")
        w.send("/who")
        self.assertTrue(w.recv().startswith("*** Users"))


@unittest.skipUnless(BUILT, "built without WebSocket")
class Http(Base):
    def test_page_and_policy(self):
        r = self.http(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n", "web")
        head, _, body = r.partition("\r\n\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 200 OK\r\n"), head)
        self.assertIn("Content-Type: text/html; charset=utf-8", head)
        length = int(re.search(r"Content-Length: (\d+)", head).group(1))
        self.assertEqual(length, len(body.encode("latin-1")))
        with open(os.path.join(harness.SRCDIR, "web", "echochat.html"),
                  "rb") as f:
            self.assertEqual(body.encode("latin-1"), f.read())
        csp = re.search(r"Content-Security-Policy: ([^\r]*)", head).group(1)
        self.assertIn("default-src 'none'", csp)
        self.assertIn("connect-src 'self' ws://127.0.0.1:9 wss://127.0.0.1:9",
                      csp)
        for tag in ("script", "style"):
            block = re.search(r"<%s>(.*?)</%s>" % (tag, tag), body,
                              re.S).group(1).encode("latin-1")
            h = base64.b64encode(hashlib.sha256(block).digest()).decode()
            self.assertIn("%s-src 'sha256-%s'" % (tag, h), csp)
        self.assertNotIn("unsafe", csp)
        self.assertNotRegex(body, r"<script[^>]*src=|<link|@import|https?://")

    def test_errors(self):
        self.assertTrue(self.http(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
                        .startswith("HTTP/1.1 404 "))
        r = self.http(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0"
                      b"\r\n\r\n")
        self.assertTrue(r.startswith("HTTP/1.1 405 "), r)
        self.assertIn("Allow: GET\r\n", r)
        self.assertTrue(self.http(b"\x16\x03\x01garbage\r\n\r\n")
                        .startswith("HTTP/1.1 400 "))
        self.assertTrue(self.http(
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade"
            b"\r\nSec-WebSocket-Version: 13\r\n\r\n").startswith(
                "HTTP/1.1 400 "))
        r = self.http(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: "
                      b"Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
                      b"\r\nSec-WebSocket-Version: 8\r\n\r\n")
        self.assertTrue(r.startswith("HTTP/1.1 400 "), r)
        self.assertIn("Sec-WebSocket-Version: 13\r\n", r)

    def test_served_is_not_an_error(self):
        """The page, a 404 and a 405 are served requests: logged as such
        and counted as reason answered, not as failed handshakes."""
        for req, status in ((b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                             "HTTP 200, the web page"),
                            (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
                             "HTTP 404 Not Found"),
                            (b"PUT / HTTP/1.1\r\nHost: x\r\n\r\n",
                             "HTTP 405 Method Not Allowed")):
            s = self.raw("web")
            port = s.getsockname()[1]
            s.sendall(req)
            harness.recv_until_closed(s)
            self.server.wait_log(r"served 127\.0\.0\.1:%d on listener web: "
                                 r"%s$" % (port, re.escape(status)))
            self.server.wait_log(r"disconnect 127\.0\.0\.1:%d on listener "
                                 r"web: answered after" % port)
            self.assertNotIn("handshake with 127.0.0.1:%d " % port,
                             self.server.log())
        # A bad request still is a failed handshake.
        s = self.raw("web")
        port = s.getsockname()[1]
        s.sendall(b"\x16\x03\x01garbage\r\n\r\n")
        harness.recv_until_closed(s)
        self.server.wait_log(r"handshake with 127\.0\.0\.1:%d on listener "
                             r"web failed: HTTP 400" % port)

    def test_rfc_sample_key(self):
        """RFC 6455 1.3's example: its accept value is the RFC's."""
        r = self.http(b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket"
                      b"\r\nConnection: keep-alive, Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n" +
                      frame(8, struct.pack("!H", 1000)))
        self.assertTrue(r.startswith("HTTP/1.1 101 "), r)
        self.assertIn("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
                      r)

    def test_origins(self):
        s = self.raw("strict")
        head, _ = handshake(s, extra="Origin: http://evil.example\r\n")
        self.assertTrue(head.startswith("HTTP/1.1 403 "), head)
        s = self.raw("strict")
        head, _ = handshake(s)
        self.assertTrue(head.startswith("HTTP/1.1 403 "), head)
        c = self.ws("strict", origin="http://good.example")
        c.send("allowed")
        self.assertEqual(c.recv(), "allowed")
        # Any origin where none is listed.
        self.opened("echo", extra="Origin: http://evil.example\r\n")

    def test_head_too_large(self):
        s = self.raw()
        try:
            s.sendall(b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 9000 +
                      b"\r\n\r\n")
        except OSError:
            pass
        r = harness.recv_until_closed(s).decode("latin-1")
        self.assertRegex(r, r"^HTTP/1.1 431 ")

    def test_head_byte_at_a_time(self):
        """A head dribbled a byte at a time (CRLF or bare LF lines, a
        long header) upgrades as one sent at once."""
        for eol in (b"\r\n", b"\n"):
            s = self.raw()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            key = base64.b64encode(os.urandom(16))
            head = eol.join([b"GET / HTTP/1.1", b"Host: x",
                             b"X-Pad: " + b"p" * 4000,
                             b"Upgrade: websocket", b"Connection: Upgrade",
                             b"Sec-WebSocket-Key: " + key,
                             b"Sec-WebSocket-Version: 13", b"", b""])
            for b in head:
                s.sendall(bytes([b]))
            self.assertTrue(read_head(s).startswith("HTTP/1.1 101 ") if
                            eol == b"\r\n" else
                            s.recv(12) == b"HTTP/1.1 101")
            s.sendall(frame(1, b"dribbled"))
            if eol == b"\r\n":
                self.assertEqual(read_frame(s), (True, 1, b"dribbled"))

    def test_slowloris_head(self):
        s = self.raw()
        t0 = time.time()
        s.sendall(b"GET / HTTP/1.1\r\n")
        s.settimeout(0.3)
        closed = False
        while time.time() - t0 < 8 * SLOW:
            try:
                s.sendall(b"X")
                if s.recv(100) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
        self.assertTrue(closed, "a dribbled head is never cut")
        # line_timeout is 2 s (handshake_timeout 10 s).
        self.assertLess(time.time() - t0, 6 * SLOW)


LIMITS = """[server]
log_level = debug
max_clients = 4
output_limit = 1k
max_line = 64k
[chat]
chat_rate = 0
[listener web]
proto = tcp
bind = 127.0.0.1:0
handler = chat
websocket = yes
[listener idle]
proto = tcp
bind = 127.0.0.1:0
handler = chat
websocket = yes
idle_timeout = 1s
[listener chat]
proto = tcp
bind = 127.0.0.1:0
handler = chat
"""


@unittest.skipUnless(BUILT, "built without WebSocket")
class Limits(Base):
    config = LIMITS

    def test_idle_close_is_1001(self):
        s = self.opened("idle")
        t0 = time.time()
        self.assertEqual(close_status(s), 1001)
        self.assertLess(time.time() - t0, 5 * SLOW)

    def test_max_clients(self):
        held = [self.raw("web") for _ in range(4)]
        time.sleep(0.3 * SLOW)
        d = self.raw("web")
        r = harness.recv_until_closed(d)
        self.assertTrue(r.startswith(b"HTTP/1.1 503 "), r)
        head, _, body = r.partition(b"\r\n\r\n")
        self.assertEqual(body, b"*** error: server full\n")
        self.assertIn(b"Content-Length: %d\r\n" % len(body), head)
        for s in held:
            s.close()
        harness.wait_quiet(self.server)

    def test_long_line_to_a_reader(self):
        """A line far longer than output_limit, to a browser whose socket
        takes it at once, is not queued output: the user stays."""
        w = self.ws("web")
        self.assertIn("Welcome", w.recv())
        p = self.server.connect("chat", timeout=10)
        self.addCleanup(p.close)
        harness.recv_line(p)
        self.assertIn("has joined", w.recv())
        p.sendall(b"/nick plain\n" + b"L" * 40000 + b"\n")
        self.assertIn("now known as plain", w.recv())
        self.assertEqual(w.recv(), "<plain> " + "L" * 40000)
        self.assertNotIn("output limit", self.server.log())
        p.close()
        w.close()
        harness.wait_quiet(self.server)

    def test_slow_reader_is_cut(self):
        s = small_window(self, "web")
        p = self.server.connect("chat", timeout=10)
        self.addCleanup(p.close)
        try:
            for _ in range(20):
                p.sendall((b"w" * 1994 + b"\n") * 100)
                if "output limit" in self.server.log():
                    break
        except OSError:
            pass
        self.server.wait_log(r"dropping 127\.0\.0\.1:%d on listener web: "
                             r"output limit" % s.getsockname()[1],
                             timeout=10)
        p.close()
        harness.wait_quiet(self.server)


def make_cert(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                    os.path.join(d, "k.pem"), "-out",
                    os.path.join(d, "c.pem"), "-days", "2", "-subj",
                    "/CN=localhost"], check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=60)


@unittest.skipUnless(BUILT and os.environ.get("ECHOCHAT_TLS", "1"),
                     "built without WebSocket or TLS")
class Secure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="echochat-wss-")
        make_cert(cls.tmp.name)
        cls.server = harness.Server(
            "[server]\nlog_level = debug\n[listener wss]\nproto = tcp\n"
            "bind = 127.0.0.1:0\nhandler = echo\nwebsocket = yes\n"
            "tls_cert = %s/c.pem\ntls_key = %s/k.pem\n" %
            (cls.tmp.name, cls.tmp.name))

    @classmethod
    def tearDownClass(cls):
        harness.finish(cls.server)
        cls.tmp.cleanup()

    def test_wss_echo(self):
        c = websocket.create_connection(
            url(self.server, "wss", "wss"), timeout=10 * SLOW,
            sslopt={"cert_reqs": ssl.CERT_NONE, "check_hostname": False})
        self.addCleanup(c.close)
        for n in (5, 20000, 100000):
            c.send("s" * n)
            self.assertEqual(c.recv(), "s" * n)
        # What TLS agreed on is logged as for a plain TLS listener.
        port = c.sock.getsockname()[1]
        self.server.wait_log(r"127\.0\.0\.1:%d on listener wss: TLSv1\.[23] "
                             % port)

    def test_https_page(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = self.server.connect("wss", timeout=10)
        s = ctx.wrap_socket(raw)
        self.addCleanup(s.close)
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            r += chunk
        self.assertTrue(r.startswith(b"HTTP/1.1 200 OK\r\n"), r[:200])
        self.assertIn(b"wss://localhost", r)
        self.assertIn(b"</html>", r)


class Config(unittest.TestCase):
    def test_refused(self):
        if not BUILT:
            rc, _, err = harness.run(["-t"], "[listener w]\nproto = tcp\n"
                                     "bind = 127.0.0.1:0\nhandler = echo\n"
                                     "websocket = yes\n")
            self.assertEqual(rc, 78)
            self.assertIn("not supported by this build", err)
            return
        for body, msg in (("proto = udp\nwebsocket = yes\n",
                           "websocket is for tcp listeners"),
                          ("proto = tcp\nws_origins = http://a\n",
                           "ws_origins needs websocket = yes")):
            rc, _, err = harness.run(["-t"], "[listener w]\nbind = "
                                     "127.0.0.1:0\nhandler = echo\n" + body)
            self.assertEqual(rc, 78, err)
            self.assertRegex(err, r":\d+: .*" + msg)
        rc, _, err = harness.run(["-t"], "[listener w]\nbind = 127.0.0.1:0\n"
                                 "handler = echo\nproto = tcp\n"
                                 "websocket = maybe\n")
        self.assertEqual(rc, 78, err)
        self.assertRegex(err, r"^echochatd: \S+\.ini:5: bad value \"maybe\" "
                         r"for websocket: expected yes or no\n")

    def test_accepted(self):
        if not BUILT:
            return
        rc, out, err = harness.run(["-t"], "[listener w]\nproto = tcp\n"
                                   "bind = 127.0.0.1:0\nhandler = chat\n"
                                   "websocket = yes\n"
                                   "ws_origins = http://a http://b\n")
        self.assertEqual(rc, 0, err)
        self.assertIn("websocket = yes", out)
        self.assertIn("ws_origins = http://a http://b", out)


if __name__ == "__main__":
    harness.main()
