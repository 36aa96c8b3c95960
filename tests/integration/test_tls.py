#!/usr/bin/env python3
"""test_tls.py -- TLS listeners (README "TLS", echochatd.ini(5)).

Certificates are made by the suite itself with `openssl req`, `openssl
x509` and `openssl ca` in a temporary directory: a CA, a server
certificate and a second one, a client certificate from that CA and one
from another CA, and one that expired in 2020 (EC P-256 keys: quick to
make and to handshake with, also under valgrind).

Covers:

- Echo over TLS with Python's ssl module, byte-exactly: all 256 byte
  values, then 1 MiB of random bytes; with `openssl s_client -quiet` and
  with `ncat --ssl`; with reads smaller than a record (input waiting
  inside the SSL, not on the socket); upper over TLS; the certificate logged at start-up.  TLS 1.2 and 1.3 are accepted; TLS 1.1 is refused
  (by s_client and by Python, both offering only TLS 1.1).
- Renegotiation is refused (s_client's "R"); TLS 1.3 sends one session
  ticket.
- Mutual TLS (tls_ca + tls_verify = yes): no client certificate is
  refused, one from another CA is refused, the right one is accepted and
  its CN logged.
- A TLS chat participant and a plain one in one room, both ways.
- SIGHUP re-reads the certificate files: the served certificate's SHA-256
  fingerprint is `openssl x509 -fingerprint`'s of the old file before and
  of the new file after (and the new CN is logged); a connection made before stays up; a broken key
  refuses the reload (logged with the file) and the previous certificate
  is still served.
- tls_handshake_timeout: a silent client and one dribbling its
  ClientHello a byte at a time are both closed at the timeout, counted
  from the accept.
- Garbage instead of a ClientHello, an RST mid-handshake and a client
  that vanishes without close_notify: each closed, nothing left in
  CLOSE_WAIT, every connection let go of (the debug log's connects and
  disconnects match); valgrind runs check the failure paths leak nothing.
- Abuse: a ClientHello that says it is 100,000 bytes long is cut after
  32 KiB; a flood of half-open handshakes counts against max_clients, is
  closed at the handshake timeout and costs less than 2 KiB per silent
  connection (no SSL before the first byte) and 64 KiB per handshake
  stalled halfway through its ClientHello; a TLS
  chat participant that never reads is cut at output_limit; a garbage
  soak of mutated ClientHellos and random bytes leaves the daemon serving.
- Configuration: TLS on udp/unix, a certificate without a key, tls_verify
  without tls_ca, a missing file, a key that does not match, an expired
  certificate, a file that is not PEM and an encrypted key are refused by
  -t with file:line and exit 78; a good one passes and prints its keys.
- workers = 2: concurrent TLS clients on both loops.

A build without OpenSSL refuses tls_* keys with "not supported by this
build"; there only that case runs (make passes ECHOCHAT_TLS from
configure, and the suite fails if the binary disagrees with it).
"""
import hashlib
import os
import random
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings

import harness

SLOW = harness.SLOW
CERTS = None            # the temporary directory of the suite's files


def openssl(*args, cwd=None):
    subprocess.run(["openssl"] + list(args), check=True, cwd=cwd,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
      "-nodes"]

CA_CNF = """[ca]
default_ca = d
[d]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = p
[p]
commonName = supplied
"""


def make_certs(d):
    """Every certificate and key the suite uses, into d."""
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *EC, "-keyout", ca + ".key", "-out",
                ca + ".pem", "-days", "2", "-subj", "/CN=echochat " + ca,
                cwd=d)
    for name, cn, ca in (("server", "localhost", "ca"),
                         ("server2", "second", "ca"),
                         ("alice", "alice", "ca"),
                         ("mallory", "mallory", "other-ca")):
        openssl("req", *EC, "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", "/CN=" + cn, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
                "-CAkey", ca + ".key", "-set_serial",
                str(random.randrange(1, 1 << 60)), "-days", "2", "-out",
                name + ".pem", cwd=d)
    # Expired: openssl ca takes explicit dates.
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(CA_CNF)
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("01\n")
    openssl("req", *EC, "-keyout", "expired.key", "-out", "expired.csr",
            "-subj", "/CN=expired", cwd=d)
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem",
            "-keyfile", "ca.key", "-in", "expired.csr", "-out", "expired.pem",
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
            "-notext", cwd=d)
    openssl("pkey", "-in", "alice.key", "-aes128", "-passout", "pass:x",
            "-out", "encrypted.key", cwd=d)
    with open(os.path.join(d, "garbage.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                "-----END CERTIFICATE-----\n")


def cert(name):
    return os.path.join(CERTS, name)


def fingerprint(path):
    """`openssl x509 -fingerprint -sha256` of a PEM file, as hex."""
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint",
                          "-sha256", "-in", path], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def served_fingerprint(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def tls_listener(name="tls", handler="echo", certname="server", extra=""):
    return ("[listener %s]\nproto = tcp\nbind = 127.0.0.1:0\n"
            "handler = %s\ntls_cert = %s\ntls_key = %s\n%s" % (
                name, handler, cert(certname + ".pem"),
                cert(certname + ".key"), extra))


def config(server="", listeners=None, chat=""):
    text = "[server]\nlog_level = debug\n" + server
    if chat:
        text += "[chat]\n" + chat
    return text + (listeners if listeners is not None else tls_listener())


def client_context(certname=None, minimum=None, maximum=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if certname:
        ctx.load_cert_chain(cert(certname + ".pem"), cert(certname + ".key"))
    if ciphers:
        ctx.set_ciphers(ciphers)
    with warnings.catch_warnings():     # TLS 1.1 is, on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        if minimum:
            ctx.minimum_version = minimum
        if maximum:
            ctx.maximum_version = maximum
    return ctx


def tls_connect(server, name="tls", timeout=10, **kw):
    raw = server.connect(name, timeout)
    try:
        return client_context(**kw).wrap_socket(raw)
    except BaseException:
        raw.close()
        raise


def client_hello():
    """The bytes of a real ClientHello (Python's, through memory BIOs)."""
    ctx = client_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def close_wait_count(port):
    """Sockets on the local port in CLOSE_WAIT (state 08), from /proc."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if (int(fields[1].rsplit(":", 1)[1], 16) == port and
                            fields[3] == "08"):
                        n += 1
        except FileNotFoundError:
            pass
    return n


def wait_closed(sock, timeout=5):
    """Read until the daemon closes (EOF, reset or a TLS error): what came."""
    sock.settimeout(timeout * SLOW)
    got = bytearray()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except (ConnectionError, ssl.SSLError):
        pass
    return bytes(got)


def tls_refused(server, name, **kw):
    """Did the daemon refuse this client (handshake or first read fails)?
    In TLS 1.3 the client's side of the handshake ends first, so the
    refusal can come as the first read's alert or EOF."""
    try:
        s = tls_connect(server, name, **kw)
    except (ssl.SSLError, ConnectionError):
        return True
    try:
        s.sendall(b"hello\n")
        return harness.recv_line(s, 5) == b""
    except (ssl.SSLError, ConnectionError, socket.timeout):
        return True
    finally:
        s.close()


def binary_has_tls():
    rc, _, err = harness.run(["-t"], config(listeners=tls_listener()))
    if rc == 0:
        return True
    if "not supported by this build" in err:
        return False
    raise AssertionError("-t of a TLS configuration: %d %s" % (rc, err))


HAVE_TLS = None


def setUpModule():
    global CERTS, HAVE_TLS
    CERTS = tempfile.mkdtemp(prefix="echochat-tls-")
    make_certs(CERTS)
    HAVE_TLS = binary_has_tls()
    expected = os.environ.get("ECHOCHAT_TLS")
    if expected is not None and bool(expected) != HAVE_TLS:
        raise AssertionError("configure says TLS %s, echochatd says %s" %
                             ("yes" if expected else "no",
                              "yes" if HAVE_TLS else "no"))


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


class TlsCase(unittest.TestCase):
    server = None

    def setUp(self):
        if not HAVE_TLS:
            self.skipTest("echochatd was built without OpenSSL")

    def start(self, text):
        self.server = harness.Server(text)
        return self.server

    def tearDown(self):
        if self.server is not None:
            harness.finish(self.server)
            self.server = None


class TestEcho(TlsCase):
    def test_every_byte_value_and_a_mebibyte(self):
        s = self.start(config())
        c = tls_connect(s)
        data = bytes(range(256)) * 4
        harness.roundtrip(self, c, data)
        blob = random.randbytes(1 << 20)
        step = 16384
        for i in range(0, len(blob), step):
            harness.roundtrip(self, c, blob[i:i + step])
        c.close()

    def test_input_held_inside_tls(self):
        # Reads of 1 KiB from 16 KiB records: the rest waits decrypted
        # inside the SSL, with nothing left to read on the socket.
        s = self.start(config(server="output_limit = 1k\n"))
        c = tls_connect(s)
        blob = random.randbytes(16384)
        for _ in range(4):
            harness.roundtrip(self, c, blob)
        harness.roundtrip(self, c, b"end\n")
        c.close()

    def test_s_client(self):
        s = self.start(config())
        p = subprocess.Popen(
            ["openssl", "s_client", "-quiet", "-connect",
             "127.0.0.1:%d" % s.port("tls")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            p.stdin.write(b"hello from s_client\n")
            p.stdin.flush()
            sel = selectors.DefaultSelector()
            sel.register(p.stdout, selectors.EVENT_READ)
            self.assertTrue(sel.select(10 * SLOW), "no answer")
            self.assertEqual(p.stdout.readline(), b"hello from s_client\n")
        finally:
            p.kill()
            p.wait()
            p.stdin.close()
            p.stdout.close()

    def test_ncat_ssl(self):
        s = self.start(config())
        p = subprocess.run(["ncat", "--ssl", "127.0.0.1", str(s.port("tls"))],
                           input=b"hello from ncat\n", capture_output=True,
                           timeout=20 * SLOW)
        self.assertEqual(p.stdout, b"hello from ncat\n", p.stderr)

    def test_versions(self):
        s = self.start(config())
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            c = tls_connect(s, minimum=v, maximum=v)
            self.assertEqual(c.version(), v.name.replace("v1_", "v1."))
            harness.roundtrip(self, c, b"%s\n" % v.name.encode())
            c.close()
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            tls_connect(s, minimum=ssl.TLSVersion.TLSv1_1,
                        maximum=ssl.TLSVersion.TLSv1_1,
                        ciphers="DEFAULT@SECLEVEL=0")
        p = subprocess.run(["openssl", "s_client", "-tls1_1", "-cipher",
                            "DEFAULT@SECLEVEL=0", "-connect",
                            "127.0.0.1:%d" % s.port("tls")],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=20 * SLOW)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"Cipher is (NONE)", p.stdout)
        s.wait_log(r"info: handshake with 127\.0\.0\.1:\d+ on listener tls "
                   r"failed: unsupported protocol")

    def s_client_output(self, args, stdin, until, timeout=10, eof=False):
        """Run s_client with stdin (then EOF, if eof); its output once
        `until` shows up (None: once it exits), or the time runs out."""
        p = subprocess.Popen(["openssl", "s_client"] + args,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        out = b""
        try:
            p.stdin.write(stdin)
            p.stdin.flush()
            if eof:
                time.sleep(0.5 * SLOW)
                p.stdin.close()
            os.set_blocking(p.stdout.fileno(), False)
            sel = selectors.DefaultSelector()
            sel.register(p.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout * SLOW
            while ((until is None or until not in out) and
                   time.monotonic() < deadline):
                if sel.select(0.1):
                    chunk = p.stdout.read()
                    if chunk == b"":
                        break           # it exited
                    out += chunk or b""
            sel.close()
        finally:
            p.kill()
            p.wait()
            p.stdin.close()
            p.stdout.close()
        return out

    def test_no_renegotiation_and_one_ticket(self):
        s = self.start(config())
        where = "127.0.0.1:%d" % s.port("tls")
        # s_client renegotiates when it reads "R" on a line of its own.
        out = self.s_client_output(["-tls1_2", "-connect", where], b"R\n",
                                   b"no renegotiation")
        self.assertIn(b"RENEGOTIATING", out)
        self.assertIn(b"no renegotiation", out)
        # It shows the tickets it read as it ends, after its input.
        out = self.s_client_output(["-tls1_3", "-connect", where], b"",
                                   None, eof=True)
        self.assertEqual(out.count(b"Post-Handshake New Session Ticket"), 1,
                         out)

    def test_upper(self):
        s = self.start(config(listeners=tls_listener(handler="upper")))
        c = tls_connect(s)
        c.sendall(b"Hello, Server!\n")
        self.assertEqual(harness.recv_exactly(c, 15), b"HELLO, SERVER!\n")
        c.close()
        s.wait_log(r"info: listener tls: TLS certificate CN=localhost, "
                   r"valid until ")

    def test_workers_two(self):
        s = self.start(config(server="workers = 2\n"))
        clients = [tls_connect(s) for _ in range(6)]
        for i, c in enumerate(clients):
            harness.roundtrip(self, c, b"client %d\n" % i)
        for c in clients:
            c.close()


class TestMutual(TlsCase):
    def test_client_certificates(self):
        extra = "tls_ca = %s\ntls_verify = yes\n" % cert("ca.pem")
        s = self.start(config(listeners=tls_listener(extra=extra)))
        self.assertTrue(tls_refused(s, "tls"), "no certificate accepted")
        s.wait_log(r"handshake with .* failed: peer did not return a "
                   r"certificate")
        self.assertTrue(tls_refused(s, "tls", certname="mallory"),
                        "certificate from another CA accepted")
        s.wait_log(r"handshake with .* failed: certificate verify failed")
        c = tls_connect(s, certname="alice")
        harness.roundtrip(self, c, b"it is me\n")
        c.close()
        s.wait_log(r"info: 127\.0\.0\.1:\d+ on listener tls: TLSv1\.3 \S+, "
                   r"client certificate CN=alice")


class TestChat(TlsCase):
    def test_tls_and_plain_share_a_room(self):
        plain = ("[listener plain]\nproto = tcp\nbind = 127.0.0.1:0\n"
                 "handler = chat\n")
        s = self.start(config(listeners=tls_listener(handler="chat") +
                              plain))
        t = tls_connect(s)
        welcome = harness.recv_line(t)
        self.assertRegex(welcome, rb"^\*\*\* Welcome to echochat, guest\d+")
        tnick = welcome.split(b", ")[1].split(b".")[0]
        p = s.connect("plain")
        pnick = harness.recv_line(p).split(b", ")[1].split(b".")[0]
        self.assertEqual(harness.recv_line(t), b"*** %s has joined\n" % pnick)
        p.sendall(b"hello, encrypted one\n")
        self.assertEqual(harness.recv_line(t),
                         b"<%s> hello, encrypted one\n" % pnick)
        t.sendall(b"hello, plain one\n")
        self.assertEqual(harness.recv_line(p),
                         b"<%s> hello, plain one\n" % tnick)
        t.sendall(b"/quit\n")
        self.assertEqual(harness.recv_line(p), b"*** %s has left\n" % tnick)
        t.close()
        p.close()


class TestReload(TlsCase):
    def test_sighup_swaps_the_certificate(self):
        d = tempfile.mkdtemp(prefix="echochat-tls-reload-")
        self.addCleanup(shutil.rmtree, d, True)
        crt, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        shutil.copy(cert("server.pem"), crt)
        shutil.copy(cert("server.key"), key)
        s = self.start(config(listeners=(
            "[listener tls]\nproto = tcp\nbind = 127.0.0.1:0\n"
            "handler = echo\ntls_cert = %s\ntls_key = %s\n" % (crt, key))))
        old = tls_connect(s)
        self.assertEqual(served_fingerprint(old),
                         fingerprint(cert("server.pem")))
        shutil.copy(cert("server2.pem"), crt)
        shutil.copy(cert("server2.key"), key)
        log = s.reload()
        self.assertIn("reload done", log)
        self.assertRegex(log, r"info: listener tls: TLS certificate read "
                         r"again: CN=second, valid until ")
        new = tls_connect(s)
        self.assertEqual(served_fingerprint(new),
                         fingerprint(cert("server2.pem")))
        harness.roundtrip(self, old, b"still here\n")
        harness.roundtrip(self, new, b"new here\n")
        with open(key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nbroken\n"
                    "-----END PRIVATE KEY-----\n")
        log = s.reload()
        self.assertRegex(log, r"error: \S+:\d+: \[listener tls\]: %s: not a "
                         r"usable PEM private key" % key)
        self.assertIn("reload failed", log)
        third = tls_connect(s)
        self.assertEqual(served_fingerprint(third),
                         fingerprint(cert("server2.pem")))
        harness.roundtrip(self, old, b"and still\n")
        for c in (old, new, third):
            c.close()


class TestHandshakes(TlsCase):
    def test_handshake_timeout(self):
        s = self.start(config(server="tls_handshake_timeout = 1s\n"))
        silent = s.connect("tls")
        dribbler = s.connect("tls")
        hello = client_hello()
        start = time.monotonic()
        deadline = start + 10 * SLOW
        sel = selectors.DefaultSelector()
        sel.register(silent, selectors.EVENT_READ)
        sel.register(dribbler, selectors.EVENT_READ)
        closed = {}
        i = 0
        while len(closed) < 2 and time.monotonic() < deadline:
            if dribbler not in closed and i < len(hello) - 1:
                try:
                    dribbler.send(hello[i:i + 1])
                    i += 1
                except OSError:
                    pass
            for key, _ in sel.select(0.1):
                try:
                    data = key.fileobj.recv(4096)
                except ConnectionError:
                    data = b""
                if not data:
                    closed[key.fileobj] = time.monotonic() - start
                    sel.unregister(key.fileobj)
        self.assertEqual(len(closed), 2, "a stalled handshake was kept")
        for t in closed.values():
            self.assertGreaterEqual(t, 0.9)
        self.assertGreater(len(hello) * 0.1, 1.5,
                           "the dribble would have ended by itself")
        self.assertEqual(len(s.wait_log_matches(
            r"closing 127\.0\.0\.1:\d+ on listener tls: handshake timeout",
            2)), 2)
        silent.close()
        dribbler.close()

    def test_garbage_rst_and_unclean_ends(self):
        s = self.start(config())
        port = s.port("tls")
        g = s.connect("tls")
        g.sendall(b"GET / HTTP/1.0\r\n\r\n")
        wait_closed(g)
        g.close()
        s.wait_log(r"handshake with .* failed: (wrong version number|"
                   r"http request)")
        # Random bytes after a zero byte, which no TLS record (nor an old
        # SSLv2-style hello) starts with: wholly random bytes now and then
        # form a record header claiming more than was sent, and the daemon
        # rightly waits for the rest until tls_handshake_timeout.
        r = s.connect("tls")
        r.sendall(b"\x00" + random.randbytes(4095))
        wait_closed(r)
        r.close()
        # RST after the ClientHello, while the daemon waits for the rest.
        rst = s.connect("tls")
        rst.sendall(client_hello())
        rst.recv(1)
        rst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                       b"\1\0\0\0\0\0\0\0")
        rst.close()
        # Unclean ends after the handshake: no close_notify, with and
        # without output pending.
        for n in range(3):
            c = tls_connect(s)
            harness.roundtrip(self, c, b"x\n")
            if n == 1:
                c.sendall(b"y" * 200000)
            c.close()
        harness.wait_quiet(s)
        deadline = time.monotonic() + 5 * SLOW
        while close_wait_count(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(close_wait_count(port), 0, "CLOSE_WAIT left")
        c = tls_connect(s)
        harness.roundtrip(self, c, b"still serving\n")
        c.close()


class TestAbuse(TlsCase):
    def test_half_open_handshake_flood(self):
        n = 10 if SLOW > 1 else 60
        # Long enough for every connection to be made before the first
        # times out, also under valgrind.
        s = self.start(config(server="tls_handshake_timeout = %ds\n"
                              "max_clients = %d\n" % (2 if SLOW == 1 else 8,
                                                      2 * n)))
        hello = client_hello()
        socks = []
        # Silent connections first: no SSL is made before a first byte.
        before = s.rss_kib()
        for _ in range(n):
            socks.append(s.connect("tls"))
        if harness.RSS_MEANINGFUL:
            time.sleep(0.2)
        silent = s.rss_kib() - before
        # Then handshakes stalled halfway through their ClientHello.
        before = s.rss_kib()
        for _ in range(n):
            c = s.connect("tls")
            c.sendall(hello[:len(hello) // 2])
            socks.append(c)
        extra = s.connect("tls")
        self.assertEqual(harness.recv_line(extra), b"*** error: server full\n")
        extra.close()
        if harness.RSS_MEANINGFUL:
            half = s.rss_kib() - before
            self.assertLess(silent, n * 2, "%d KiB for %d silent connections"
                            % (silent, n))
            self.assertLess(half, n * 64, "%d KiB for %d handshakes" %
                            (half, n))
        for c in socks:
            wait_closed(c, 10)
            c.close()
        self.assertEqual(len(s.wait_log_matches(
            r"info: closing .* handshake timeout", 2 * n)), 2 * n)
        c = tls_connect(s)
        harness.roundtrip(self, c, b"after the flood\n")
        c.close()

    def test_oversized_client_hello(self):
        # A ClientHello that says it is 100,000 bytes long (OpenSSL would
        # take up to 128 KiB), sent in full records: cut after 32 KiB.
        s = self.start(config())
        c = s.connect("tls")
        body = b"\x01" + (100000).to_bytes(3, "big") + bytes(16380)
        records = b"\x16\x03\x01\x40\x00" + body
        records += (b"\x16\x03\x01\x40\x00" + bytes(16384)) * 5
        try:
            c.sendall(records)
        except OSError:
            pass            # closed before all of it was sent
        wait_closed(c)
        c.close()
        s.wait_log(r"handshake with .* failed: handshake larger than 32768 "
                   r"bytes")

    def test_never_reading_tls_participant_is_cut(self):
        plain = ("[listener plain]\nproto = tcp\nbind = 127.0.0.1:0\n"
                 "handler = chat\n")
        s = self.start(config(server="output_limit = 64k\n",
                              chat="chat_rate = 0\n",
                              listeners=tls_listener(handler="chat") + plain))
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(10 * SLOW)
        raw.connect(s.addr("tls")[1])
        sleeper = client_context().wrap_socket(raw)
        harness.recv_line(sleeper)          # the welcome; then never again
        talker = s.connect("plain")
        harness.recv_line(talker)
        line = b"x" * 200 + b"\n"
        deadline = time.monotonic() + 30 * SLOW
        cut = False
        while not cut and time.monotonic() < deadline:
            talker.sendall(line * 50)
            cut = "output limit" in s.log()
        s.wait_log(r"dropping 127\.0\.0\.1:\d+ on listener tls: output "
                   r"limit \(65536 bytes\) exceeded")
        talker.sendall(b"/quit\n")
        wait_closed(talker)
        talker.close()
        sleeper.close()

    def test_garbage_soak(self):
        n = 20 if SLOW > 1 else 300
        s = self.start(config(server="tls_handshake_timeout = 2s\n"))
        hello = client_hello()
        rng = random.Random(15)
        batch = []

        def mutated():
            b = bytearray(hello)
            kind = rng.randrange(4)
            if kind == 0:
                return rng.randbytes(rng.randrange(1, 2048))
            if kind == 1:
                return bytes(b[:rng.randrange(1, len(b))])
            for _ in range(rng.randrange(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            if kind == 3:
                b[rng.randrange(len(b)):rng.randrange(len(b))] = \
                    rng.randbytes(rng.randrange(64))
            return bytes(b)

        for i in range(n):
            c = s.connect("tls")
            try:
                c.sendall(mutated())
            except OSError:
                pass
            batch.append(c)
            if len(batch) == 20 or i == n - 1:
                # Let the daemon answer (or close) each, then hang up.
                sel = selectors.DefaultSelector()
                for c in batch:
                    sel.register(c, selectors.EVENT_READ)
                end = time.monotonic() + 0.1 * SLOW
                while sel.get_map() and time.monotonic() < end:
                    for key, _ in sel.select(0.05):
                        sel.unregister(key.fileobj)
                sel.close()
                for c in batch:
                    c.close()
                batch = []
        c = tls_connect(s)
        harness.roundtrip(self, c, b"survived\n")
        c.close()
        # Every connection is let go of, by failure or the timeout.
        harness.wait_quiet(s, 10)


class TestConfig(unittest.TestCase):
    def check_refused(self, listeners, pattern, line=None, server=""):
        rc, out, err = harness.run(["-t"], config(server=server,
                                                  listeners=listeners))
        self.assertEqual(rc, 78, err)
        self.assertRegex(err, pattern)
        if line is not None:
            self.assertRegex(err, r"test\.ini:%d: " % line)

    def setUp(self):
        if not HAVE_TLS:
            self.skipTest("echochatd was built without OpenSSL")

    def test_refused(self):
        # Lines: 1 [server], 2 log_level, 3 [listener], 4 proto, 5 bind,
        # 6 handler, 7 tls_cert, 8 tls_key, 9 on: the extras.
        self.check_refused(tls_listener().replace("tcp", "udp"),
                           r"test\.ini:3: \[listener tls\]: TLS is for tcp")
        self.check_refused(
            "[listener u]\nproto = unix\nbind = /tmp/x.sock\nhandler = echo\n"
            "tls_cert = %s\ntls_key = %s\n" % (cert("server.pem"),
                                               cert("server.key")),
            r"TLS is for tcp")
        self.check_refused(
            "[listener t]\nproto = tcp\nbind = 127.0.0.1:0\nhandler = echo\n"
            "tls_cert = %s\n" % cert("server.pem"),
            r"test\.ini:3: \[listener t\]: TLS needs both tls_cert and "
            r"tls_key")
        self.check_refused(tls_listener(extra="tls_verify = yes\n"),
                           r"tls_verify = yes needs tls_ca")
        self.check_refused(tls_listener().replace(cert("server.pem"),
                                                  cert("nothere.pem")),
                           r"nothere\.pem: No such file or directory", 7)
        self.check_refused(tls_listener().replace(cert("server.key"),
                                                  cert("alice.key")),
                           r"alice\.key: the key does not match the "
                           r"certificate in \S+server\.pem", 8)
        self.check_refused(tls_listener(certname="expired"),
                           r"expired\.pem: the certificate has expired", 7)
        self.check_refused(tls_listener().replace(cert("server.pem"),
                                                  cert("garbage.pem")),
                           r"garbage\.pem: not a usable PEM certificate", 7)
        self.check_refused(tls_listener().replace(cert("server.key"),
                                                  cert("encrypted.key")),
                           r"encrypted\.key: not a usable PEM private key", 8)
        self.check_refused(tls_listener(extra="tls_ca = %s\n" %
                                        cert("nothere.pem")),
                           r"nothere\.pem: No such file", 9)
        self.check_refused(tls_listener(), r"tls_handshake_timeout = 0 is "
                           r"out of range", 3,
                           server="tls_handshake_timeout = 0\n")

    def test_accepted_and_printed(self):
        rc, out, err = harness.run(["-t"], config(listeners=tls_listener(
            extra="tls_ca = %s\ntls_verify = yes\n" % cert("ca.pem"))))
        self.assertEqual(rc, 0, err)
        self.assertIn("tls_handshake_timeout = 10s\n", out)
        self.assertIn("tls_cert = %s\ntls_key = %s\ntls_ca = %s\n"
                      "tls_verify = yes\n" % (
                          cert("server.pem"), cert("server.key"),
                          cert("ca.pem")), out)


class TestBuild(unittest.TestCase):
    def test_keys_follow_the_build(self):
        # With OpenSSL a TLS listener passes -t and -V names it; without,
        # its keys are refused as not supported by this build.
        rc, out, err = harness.run(["-V"])
        self.assertEqual(rc, 0, err)
        self.assertEqual("openssl" in out.splitlines()[1].split(), HAVE_TLS,
                         out)
        rc, _, err = harness.run(["-t"], config())
        if HAVE_TLS:
            self.assertEqual(rc, 0, err)
        else:
            self.assertEqual(rc, 78)
            self.assertRegex(err, r"test\.ini:7: key \"tls_cert\" is not "
                             r"supported by this build")


if __name__ == "__main__":
    harness.main()
