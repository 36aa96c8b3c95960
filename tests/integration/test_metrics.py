"""test_metrics.py -- [metrics] (README "Metrics"): /metrics in
Prometheus' text format with every family echochatd documents, exact
counts for known traffic, each disconnect reason, counters across SIGHUP,
promtool on a scrape under load, both loops summed with workers = 2,
/healthz, 404/405/HEAD, a malformed request and a slowloris that neither
block the chat nor leak, the SIGUSR2 line and the configuration errors.
"""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import SLOW, recv_exactly, recv_line, roundtrip

# Every family the README and echochatd(8) promise: name -> (type,
# labels, HELP).
FAMILIES = {
    "echochat_build_info": ("gauge", {"version"}, "always 1"),
    "echochat_connections": ("gauge", {"listener"},
                             "stream connections open now"),
    "echochat_connections_accepted_total": (
        "counter", {"listener"}, "stream connections accepted"),
    "echochat_connections_refused_total": (
        "counter", {"listener", "reason"}, "refused at accept"),
    "echochat_disconnects_total": ("counter", {"listener", "reason"},
                                   "connections closed"),
    "echochat_received_bytes_total": (
        "counter", {"listener"}, "payload bytes read (stream and datagram)"),
    "echochat_sent_bytes_total": ("counter", {"listener"},
                                  "payload bytes written"),
    "echochat_datagrams_received_total": ("counter", {"listener"},
                                          "UDP datagrams read"),
    "echochat_datagrams_dropped_total": (
        "counter", {"listener", "reason"}, "datagrams not answered"),
    "echochat_chat_participants": ("gauge", set(),
                                   "chat participants on this server"),
    "echochat_chat_rooms": ("gauge", set(), "rooms that exist"),
    "echochat_chat_messages_total": (
        "counter", set(), "chat lines accepted from participants"),
    "echochat_chat_deliveries_total": (
        "counter", set(), "lines delivered to participants"),
    "echochat_chat_dropped_total": ("counter", {"reason"},
                                    "chat input dropped"),
    "echochat_reloads_total": ("counter", {"result"}, "SIGHUP reloads"),
    "echochat_output_queued_bytes": (
        "gauge", set(), "bytes waiting in output queues for clients that "
        "read slower than they are sent to"),
    "process_start_time_seconds": ("gauge", set(), None),
    "process_resident_memory_bytes": ("gauge", set(), None),
    "process_open_fds": ("gauge", set(), None),
    "process_cpu_seconds_total": ("counter", set(), None),
}
REASONS = {
    "echochat_connections_refused_total": {"full", "per_ip"},
    "echochat_disconnects_total": {"client", "idle", "too_slow", "quit",
                                   "shutdown", "reload", "error",
                                   "answered"},
    "echochat_datagrams_dropped_total": {"low_port", "own_port", "rate",
                                         "peers_full"},
    "echochat_chat_dropped_total": {"rate", "too_long", "line_timeout"},
}

METRICS = "\n[metrics]\nbind = 127.0.0.1:0\n"
SERVING_RE = r"metrics: serving http on (\S+)"
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def built_with_openssl():
    rc, out, err = harness.run(["-V"])
    return "openssl" in out.splitlines()[1].split()


def self_signed(directory):
    """tls_cert and tls_key lines for a fresh self-signed certificate."""
    crt = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=metrics"],
                   check=True, capture_output=True, timeout=60)
    return "tls_cert = %s\ntls_key = %s\n" % (crt, key)


def listener(name, handler="echo", proto="tcp", extra=""):
    return ("\n[listener %s]\nproto = %s\nbind = 127.0.0.1:0\nhandler = %s\n"
            "%s" % (name, proto, handler, extra))


class Scrape:
    """One /metrics body, parsed: samples by (name, labels), and each
    family's TYPE and HELP."""

    def __init__(self, text):
        self.text = text
        self.types, self.helps, self.samples = {}, {}, {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.types[name] = kind
            elif line.startswith("# HELP "):
                _, _, name, help_ = line.split(" ", 3)
                self.helps[name] = help_
            elif line and not line.startswith("#"):
                m = SAMPLE_RE.match(line)
                if m is None:
                    raise AssertionError("bad sample line %r" % line)
                labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
                self.samples[(m.group(1), labels)] = float(m.group(3))

    def get(self, name, **labels):
        key = (name, frozenset(labels.items()))
        if key not in self.samples:
            raise AssertionError("no sample %s%r in:\n%s" % (
                name, labels, self.text))
        return self.samples[key]

    def labelsets(self, name):
        return [dict(k[1]) for k in self.samples if k[0] == name]


class MetricsCase(unittest.TestCase):

    def setUp(self):
        self.server = None

    def tearDown(self):
        if self.server is not None:
            harness.release(self.server)

    def start(self, config, args=("-L", "debug")):
        self.server = harness.Server(config, args=list(args))
        self.http_addr = self.server.wait_log(SERVING_RE).group(1)
        return self.server

    def finish(self):
        server, self.server = self.server, None
        harness.finish(server)

    def metrics_addr(self):
        """The last address the daemon said it serves metrics on."""
        found = self.server.wait_log_matches(SERVING_RE, 1)
        host, _, port = found[-1].group(1).rpartition(":")
        return host, int(port)

    def request(self, method, path, addr=None):
        host, port = addr or self.metrics_addr()
        conn = http.client.HTTPConnection(host, port, timeout=10 * SLOW)
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def scrape(self):
        status, headers, body = self.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4")
        return Scrape(body.decode())

    def wait_for(self, name, value, timeout=5, **labels):
        """Scrape until name{labels} == value; the last scrape."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            s = self.scrape()
            if s.get(name, **labels) == value or \
                    time.monotonic() > deadline:
                self.assertEqual(s.get(name, **labels), value,
                                 "%s%r" % (name, labels))
                return s
            time.sleep(0.05)


class TestFamilies(MetricsCase):

    def test_every_family_with_type_help_and_labels(self):
        self.start(METRICS + listener("echo") +
                   listener("echo-udp", proto="udp") +
                   listener("chat", "chat"))
        s = self.scrape()
        for name, (kind, labels, help_) in FAMILIES.items():
            self.assertEqual(s.types.get(name), kind, name)
            self.assertIn(name, s.helps, name)
            if help_ is not None:
                self.assertEqual(s.helps[name], help_, name)
            sets = s.labelsets(name)
            self.assertTrue(sets, "no sample of %s" % name)
            for ls in sets:
                self.assertEqual(set(ls), labels, name)
            if name in REASONS:
                key = "result" if name == "echochat_reloads_total" \
                    else "reason"
                self.assertEqual({ls[key] for ls in sets}, REASONS[name],
                                 name)
        self.assertEqual(s.get("echochat_build_info",
                               version=s.labelsets("echochat_build_info")
                               [0]["version"]), 1)
        version = harness.run(["-V"])[1].split()[1]
        self.assertEqual(s.labelsets("echochat_build_info"),
                         [{"version": version}])
        # Without [cluster] there is no cluster to be up.
        self.assertNotIn("echochat_cluster_up", s.types)
        self.assertEqual(s.get("echochat_chat_rooms"), 1)
        self.assertEqual({ls["listener"] for ls in
                          s.labelsets("echochat_connections")},
                         {"echo", "chat"})
        self.assertEqual({ls["listener"] for ls in
                          s.labelsets("echochat_datagrams_received_total")},
                         {"echo-udp"})
        self.assertGreater(s.get("process_open_fds"), 3)
        self.assertGreater(s.get("process_resident_memory_bytes"), 0)
        self.assertLess(abs(s.get("process_start_time_seconds") -
                            time.time()), 60)
        self.finish()

    def test_http_answers(self):
        self.start(METRICS + listener("echo"))
        self.assertEqual(self.request("GET", "/healthz")[::2], (200, b"ok\n"))
        self.assertEqual(self.request("GET", "/nothing")[0], 404)
        self.assertEqual(self.request("GET", "/metrics/")[0], 404)
        status, headers, body = self.request("POST", "/metrics")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        self.assertEqual(self.request("DELETE", "/healthz")[0], 405)
        full = self.request("GET", "/metrics?x=1")
        self.assertEqual(full[0], 200)
        status, headers, body = self.request("HEAD", "/metrics")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4")
        self.assertGreater(int(headers["Content-Length"]), 1000)
        status, headers, body = self.request("HEAD", "/healthz")
        self.assertEqual((status, body, headers["Content-Length"]),
                         (200, b"", "3"))
        self.finish()


class TestCounts(MetricsCase):

    def test_echo_three_clients_ten_lines(self):
        self.start(METRICS + listener("echo") +
                   listener("echo-udp", proto="udp"))
        socks = [self.server.connect("echo") for _ in range(3)]
        sent = 0
        for i, sock in enumerate(socks):
            for j in range(10):
                line = b"client %d line %d\n" % (i, j)
                roundtrip(self, sock, line)
                sent += len(line)
        s = self.scrape()
        self.assertEqual(s.get("echochat_connections", listener="echo"), 3)
        self.assertEqual(s.get("echochat_connections_accepted_total",
                               listener="echo"), 3)
        self.assertEqual(s.get("echochat_received_bytes_total",
                               listener="echo"), sent)
        self.assertEqual(s.get("echochat_sent_bytes_total",
                               listener="echo"), sent)
        for sock in socks:
            sock.close()
        s = self.wait_for("echochat_connections", 0, listener="echo")
        self.assertEqual(s.get("echochat_disconnects_total", listener="echo",
                               reason="client"), 3)
        u = self.server.udp("echo-udp")
        for i in range(5):
            u.send(b"datagram %d\n" % i)
            self.assertEqual(u.recv(100), b"datagram %d\n" % i)
        s = self.scrape()
        self.assertEqual(s.get("echochat_datagrams_received_total",
                               listener="echo-udp"), 5)
        self.assertEqual(s.get("echochat_received_bytes_total",
                               listener="echo-udp"), 5 * 11)
        self.assertEqual(s.get("echochat_sent_bytes_total",
                               listener="echo-udp"), 5 * 11)
        u.close()
        self.finish()

    def test_refusals(self):
        self.start("[server]\nmax_clients = 2\n" + METRICS +
                   listener("echo"))
        a, b = self.server.connect("echo"), self.server.connect("echo")
        roundtrip(self, a)
        roundtrip(self, b)
        c = self.server.connect("echo")
        self.assertIn(b"server full", harness.recv_until_closed(c))
        s = self.scrape()
        self.assertEqual(s.get("echochat_connections_refused_total",
                               listener="echo", reason="full"), 1)
        self.assertEqual(s.get("echochat_connections_accepted_total",
                               listener="echo"), 2)
        for x in (a, b, c):
            x.close()
        self.wait_for("echochat_connections", 0, listener="echo")
        self.finish()
        self.start("[server]\nmax_clients_per_ip = 1\n" + METRICS +
                   listener("echo"))
        a = self.server.connect("echo")
        roundtrip(self, a)
        c = self.server.connect("echo")
        self.assertIn(b"too many", harness.recv_until_closed(c))
        s = self.scrape()
        self.assertEqual(s.get("echochat_connections_refused_total",
                               listener="echo", reason="per_ip"), 1)
        a.close()
        c.close()
        self.wait_for("echochat_connections", 0, listener="echo")
        self.finish()

    def test_datagram_drops(self):
        self.start("[server]\nudp_rate = 1\nudp_burst = 1\n" + METRICS +
                   listener("echo-udp", proto="udp") +
                   listener("other-udp", proto="udp"))
        u = self.server.udp("echo-udp")
        for i in range(5):
            u.send(b"x\n")
        self.assertEqual(u.recv(100), b"x\n")
        # A datagram from the port of one of our own UDP listeners.
        port = self.server.port("other-udp")
        own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        own.bind(("127.0.0.2", port))
        own.sendto(b"loop?\n", self.server.addr("echo-udp")[1])
        s = self.wait_for("echochat_datagrams_received_total", 6,
                          listener="echo-udp")
        self.assertEqual(s.get("echochat_datagrams_dropped_total",
                               listener="echo-udp", reason="rate"), 4)
        self.assertEqual(s.get("echochat_datagrams_dropped_total",
                               listener="echo-udp", reason="own_port"), 1)
        self.assertEqual(s.get("echochat_sent_bytes_total",
                               listener="echo-udp"), 2)
        u.close()
        own.close()
        self.finish()

    def test_chat_peers_full(self):
        self.start("[chat]\nudp_peers_max = 0\n" + METRICS +
                   listener("chat-udp", "chat", proto="udp"))
        c = self.server.udp("chat-udp")
        c.send(b"hello\n")
        token = re.search(rb"/join ([0-9a-f]{16})", c.recv(200)).group(1)
        c.send(b"/join " + token + b"\n")
        self.assertEqual(c.recv(200), b"*** error: server full\n")
        s = self.scrape()
        self.assertEqual(s.get("echochat_datagrams_dropped_total",
                               listener="chat-udp", reason="peers_full"), 1)
        self.assertEqual(s.get("echochat_datagrams_received_total",
                               listener="chat-udp"), 2)
        self.assertEqual(s.get("echochat_chat_participants"), 0)
        c.close()
        self.finish()

    @unittest.skipUnless(os.geteuid() == 0, "binding a port below 1024 "
                         "needs root")
    def test_datagram_from_low_port(self):
        self.start(METRICS + listener("echo-udp", proto="udp"))
        low = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for port in range(900, 1000):
            try:
                low.bind(("127.0.0.1", port))
                break
            except OSError:
                continue
        low.sendto(b"hi\n", self.server.addr("echo-udp")[1])
        s = self.wait_for("echochat_datagrams_dropped_total", 1,
                          listener="echo-udp", reason="low_port")
        low.close()
        self.finish()

    def test_chat_figures(self):
        self.start("[server]\nmax_line = 64\nline_timeout = 1s\n"
                   "[chat]\nchat_rate = 1\nchat_burst = 3\n" + METRICS +
                   listener("chat", "chat"))
        people = []
        for i in range(3):
            p = self.server.connect("chat")
            self.assertIn(b"Welcome", recv_line(p))
            for q in people:
                self.assertIn(b"has joined", recv_line(q))
            people.append(p)
        s0 = self.scrape()
        self.assertEqual(s0.get("echochat_chat_participants"), 3)
        self.assertEqual(s0.get("echochat_chat_rooms"), 1)
        # Each says one line: each line reaches the two others.
        for i, p in enumerate(people):
            p.sendall(b"hello from %d\n" % i)
        for p in people:
            for _ in range(2):
                self.assertIn(b"hello from", recv_line(p))
        s1 = self.scrape()
        self.assertEqual(s1.get("echochat_chat_messages_total") -
                         s0.get("echochat_chat_messages_total"), 3)
        self.assertEqual(s1.get("echochat_chat_deliveries_total") -
                         s0.get("echochat_chat_deliveries_total"), 6)
        # A newcomer over the rate: 3 lines at once pass (the burst), 2
        # more are dropped.
        d = self.server.connect("chat")
        self.assertIn(b"Welcome", recv_line(d))
        people.append(d)
        d.sendall(b"".join(b"burst %d\n" % i for i in range(5)))
        self.assertIn(b"slow down", recv_line(d))
        # Too long, and a partial line that times out.
        d.sendall(b"y" * 100 + b"\n")
        self.assertIn(b"line too long", recv_line(d))
        d.sendall(b"no end")
        self.assertIn(b"line timeout", recv_line(d, timeout=5))
        s2 = self.scrape()
        self.assertEqual(s2.get("echochat_chat_dropped_total",
                                reason="rate"), 2)
        self.assertEqual(s2.get("echochat_chat_dropped_total",
                                reason="too_long"), 1)
        self.assertEqual(s2.get("echochat_chat_dropped_total",
                                reason="line_timeout"), 1)
        self.assertEqual(s2.get("echochat_chat_messages_total") -
                         s1.get("echochat_chat_messages_total"), 3)
        self.assertEqual(s2.get("echochat_chat_participants"), 4)
        for p in people:
            p.close()
        self.wait_for("echochat_chat_participants", 0)
        self.finish()


class TestDisconnects(MetricsCase):

    def reason(self, s, listener, reason):
        return s.get("echochat_disconnects_total", listener=listener,
                     reason=reason)

    def test_each_reason_once(self):
        config = ("[server]\noutput_limit = 1k\n[chat]\nchat_rate = 0\n" +
                  METRICS +
                  listener("echo") +
                  listener("idle", extra="idle_timeout = 300ms\n") +
                  listener("chat", "chat") + listener("gone"))
        self.start(config)
        # client: an orderly close.
        c = self.server.connect("echo")
        roundtrip(self, c)
        c.close()
        self.wait_for("echochat_disconnects_total", 1, listener="echo",
                      reason="client")
        # client again: a reset is the client's doing too.
        e = self.server.connect("echo")
        roundtrip(self, e)
        e.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        e.close()
        self.wait_for("echochat_disconnects_total", 2, listener="echo",
                      reason="client")
        # idle: silent past idle_timeout.
        i = self.server.connect("idle")
        self.assertEqual(harness.recv_until_closed(i), b"")
        i.close()
        self.wait_for("echochat_disconnects_total", 1, listener="idle",
                      reason="idle")
        # quit: /quit on the chat.
        q = self.server.connect("chat")
        recv_line(q)
        q.sendall(b"/quit\n")
        self.assertIn(b"Bye", harness.recv_until_closed(q))
        q.close()
        self.wait_for("echochat_disconnects_total", 1, listener="chat",
                      reason="quit")
        # too_slow: a chat reader that never reads, flooded by another.
        # A small receive buffer set before connecting, so that the window
        # it advertises stays small.
        family, sa = self.server.addr("chat")
        slow = socket.socket(family, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(5 * SLOW)
        slow.connect(sa)
        recv_line(slow)
        talker = self.server.connect("chat")
        recv_line(talker)
        # Big lines: what the slow reader's socket buffers take first is
        # not held against it, so they must fill before it is cut.
        line = b"z" * 999 + b"\n"
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            talker.sendall(line * 200)
            s = self.scrape()
            if self.reason(s, "chat", "too_slow") >= 1:
                break
            time.sleep(0.05)
        self.assertEqual(self.reason(s, "chat", "too_slow"), 1)
        # reload: a listener the new configuration no longer has.
        g = self.server.connect("gone")
        roundtrip(self, g)
        with open(self.server.config_path, "w") as f:
            f.write(harness.with_workers(config.replace(listener("gone"),
                                                        "")))
        self.assertIn("reload done", self.server.reload())
        self.assertEqual(harness.recv_until_closed(g), b"")
        g.close()
        s = self.wait_for("echochat_disconnects_total", 1, listener="gone",
                          reason="reload")
        # Each reason came once, on its own listener.
        self.assertEqual(self.reason(s, "echo", "client"), 2)
        self.assertEqual(self.reason(s, "echo", "error"), 0)
        self.assertEqual(self.reason(s, "idle", "idle"), 1)
        self.assertEqual(self.reason(s, "chat", "quit"), 1)
        self.assertEqual(self.reason(s, "chat", "client"), 0)
        for x in (slow, talker):
            x.close()
        self.finish()

    def test_error(self):
        # A failed TLS handshake (plain text instead of a ClientHello) is
        # an error.  Without OpenSSL no client can cause one: the build is
        # checked to have none instead.
        if not built_with_openssl():
            rc, out, err = harness.run(["-V"])
            self.assertNotIn("openssl", out.splitlines()[1].split())
            return
        certs = tempfile.TemporaryDirectory(prefix="echochat-metrics-")
        self.addCleanup(certs.cleanup)
        self.start(METRICS + listener("tls", extra=self_signed(certs.name)))
        t = self.server.connect("tls")
        t.sendall(b"GET / HTTP/1.0\r\n\r\n")
        harness.recv_until_closed(t)
        t.close()
        s = self.wait_for("echochat_disconnects_total", 1, listener="tls",
                          reason="error")
        self.assertEqual(self.reason(s, "tls", "client"), 0)
        self.finish()

    def test_shutdown_and_healthz_while_stopping(self):
        # Long enough for any machine; the stuck client ends it below.
        self.start("[server]\nshutdown_timeout = 60s\n" + METRICS +
                   listener("echo"))
        addr = self.metrics_addr()
        quick = self.server.connect("echo")
        roundtrip(self, quick)
        # A client that never reads: its echo cannot drain, so the stop
        # waits for it and /healthz can be asked meanwhile.
        # Its receive buffer is made small before the connect, so that the
        # window stays small and the kernel cannot take the echo for it.
        stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", self.server.port("echo")))
        stuck.setblocking(False)
        chunk = b"q" * 65536
        deadline = time.monotonic() + 5 * SLOW
        while time.monotonic() < deadline:
            try:
                stuck.send(chunk)
            except BlockingIOError:
                time.sleep(0.2)
                try:
                    stuck.send(chunk)
                except BlockingIOError:
                    break
        # The echo must wait in the daemon's own queue, not only in the
        # kernel's buffers (which can grow and take it all), or the stop
        # has nothing to wait for: feed it until the gauge says so.
        deadline = time.monotonic() + 5 * SLOW
        while time.monotonic() < deadline:
            s = Scrape(self.request("GET", "/metrics", addr)[2].decode())
            if s.get("echochat_output_queued_bytes") > 0:
                break
            try:
                stuck.send(chunk)
            except BlockingIOError:
                time.sleep(0.1)
        self.server.send_signal(signal.SIGTERM)
        self.assertEqual(harness.recv_until_closed(quick), b"")
        deadline = time.monotonic() + 2 * SLOW
        while True:
            status, _, body = self.request("GET", "/healthz", addr)
            if status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual((status, body), (503, b"stopping\n"))
        s = Scrape(self.request("GET", "/metrics", addr)[2].decode())
        self.assertEqual(s.get("echochat_disconnects_total", listener="echo",
                               reason="shutdown"), 1)
        self.assertEqual(s.get("echochat_connections", listener="echo"), 1)
        # The stuck client's echo waits in its output queue.
        self.assertGreater(s.get("echochat_output_queued_bytes"), 0)
        # The stuck client goes: nothing is left to drain, the stop ends.
        stuck.close()
        quick.close()
        server, self.server = self.server, None
        rc = server.stop()
        harness.release(server)
        self.assertEqual(rc, 0)


class TestReload(MetricsCase):

    def test_counters_survive_sighup(self):
        config = METRICS + listener("echo") + listener("other")
        self.start(config)
        with self.server.connect("echo") as c:
            roundtrip(self, c, b"12345\n")
        self.wait_for("echochat_connections", 0, listener="echo")
        old = self.metrics_addr()
        # Move the metrics port and re-create "echo" on a new socket (its
        # name stays): both go on counting from where they were.
        moved = config.replace("[metrics]\nbind = 127.0.0.1:0",
                               "[metrics]\nbind = 127.0.0.2:0").replace(
            "[listener echo]\nproto = tcp\nbind = 127.0.0.1:0",
            "[listener echo]\nproto = tcp\nbind = 127.0.0.2:0")
        with open(self.server.config_path, "w") as f:
            f.write(harness.with_workers(moved))
        log = self.server.reload()
        self.assertIn("reload done", log)
        new = self.metrics_addr()
        self.assertNotEqual(old, new)
        self.assertEqual(new[0], "127.0.0.2")
        with self.assertRaises(OSError):
            self.request("GET", "/healthz", old)
        with self.server.connect("echo") as c:
            roundtrip(self, c, b"678\n")
        s = self.wait_for("echochat_connections", 0, listener="echo")
        self.assertEqual(s.get("echochat_connections_accepted_total",
                               listener="echo"), 2)
        self.assertEqual(s.get("echochat_received_bytes_total",
                               listener="echo"), 10)
        self.assertEqual(s.get("echochat_disconnects_total", listener="echo",
                               reason="client"), 2)
        self.assertEqual(s.get("echochat_reloads_total", result="ok"), 1)
        # A bad file: the reload fails and is counted.
        with open(self.server.config_path, "w") as f:
            f.write(moved + "\n[metrics]\nbogus = 1\n")
        self.assertIn("reload failed", self.server.reload())
        s = self.scrape()
        self.assertEqual(s.get("echochat_reloads_total", result="failed"), 1)
        self.assertEqual(s.get("echochat_reloads_total", result="ok"), 1)
        # Metrics removed: the port closes, the chat goes on.
        with open(self.server.config_path, "w") as f:
            f.write(harness.with_workers(moved.replace(
                "[metrics]\nbind = 127.0.0.2:0", "")))
        self.assertIn("reload done", self.server.reload())
        with self.assertRaises(OSError):
            self.request("GET", "/healthz", new)
        # ... and added back.
        with open(self.server.config_path, "w") as f:
            f.write(harness.with_workers(moved))
        self.server.reload()
        self.server.wait_log_matches(SERVING_RE, 3)
        s = self.scrape()
        self.assertEqual(s.get("echochat_reloads_total", result="ok"), 3)
        self.assertEqual(s.get("echochat_connections_accepted_total",
                               listener="echo"), 2)
        self.finish()


class Load(threading.Thread):
    """Echo clients round-tripping until stopped."""

    def __init__(self, server, n=4):
        super().__init__(daemon=True)
        self.socks = [server.connect("echo") for _ in range(n)]
        self.stop = threading.Event()
        self.count = 0
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                for s in self.socks:
                    s.sendall(b"load line\n")
                for s in self.socks:
                    recv_exactly(s, 10)
                self.count += 1
        except Exception as e:   # reported by the test
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(10 * SLOW)
        for s in self.socks:
            s.close()
        return self.count


class TestUnderLoad(MetricsCase):

    def test_promtool_under_load(self):
        promtool = shutil.which("promtool") or "/usr/bin/promtool"
        self.assertTrue(os.path.exists(promtool),
                        "promtool is missing (scripts/deps test installs "
                        "prometheus)")
        self.start(METRICS + listener("echo") + listener("chat", "chat") +
                   listener("echo-udp", proto="udp"))
        load = Load(self.server)
        load.start()
        time.sleep(0.3)
        status, _, body = self.request("GET", "/metrics")
        rounds = load.finish()
        self.assertIsNone(load.error)
        self.assertGreater(rounds, 0)
        p = subprocess.run([promtool, "check", "metrics"], input=body,
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, b"")
        s = self.wait_for("echochat_connections", 0, listener="echo")
        self.assertEqual(s.get("echochat_received_bytes_total",
                               listener="echo"),
                         s.get("echochat_sent_bytes_total", listener="echo"))
        self.assertEqual(s.get("echochat_output_queued_bytes"), 0)
        self.finish()

    def test_two_loops_add_up(self):
        self.start("[server]\nworkers = 2\n" + METRICS + listener("echo"))
        socks = [self.server.connect("echo") for _ in range(6)]
        for i, sock in enumerate(socks):
            roundtrip(self, sock, b"%d\n" % i)
        # The connections were spread over both loops.
        self.assertTrue(self.server.wait_log_matches(r"\(loop 1\)", 1))
        self.assertTrue(self.server.wait_log_matches(r"\(loop 0\)", 1))
        for sock in socks:
            sock.close()
        s = self.wait_for("echochat_connections", 0, listener="echo")
        self.assertEqual(s.get("echochat_connections_accepted_total",
                               listener="echo"), 6)
        self.assertEqual(s.get("echochat_received_bytes_total",
                               listener="echo"), 12)
        self.assertEqual(s.get("echochat_sent_bytes_total",
                               listener="echo"), 12)
        self.assertEqual(s.get("echochat_disconnects_total", listener="echo",
                               reason="client"), 6)
        self.finish()

    def test_connections_right_after_http_ones_are_served(self):
        # A closed HTTP connection's descriptor number, taken at once by
        # a new client of another listener: that client must be served.
        self.start(METRICS + listener("echo"))
        host, port = self.metrics_addr()
        for i in range(30):
            h = socket.create_connection((host, port), timeout=5 * SLOW)
            if i % 2:
                h.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
            else:
                h.sendall(b"garbage\r\n\r\n")
            harness.recv_until_closed(h)
            h.close()
            time.sleep(0.01)
            c = self.server.connect("echo")
            roundtrip(self, c, b"after http %d\n" % i)
            c.close()
        self.assertNotIn("libevent:", self.server.log())
        self.finish()

    def test_malformed_and_slowloris_block_nothing(self):
        self.start(METRICS + listener("echo"))
        host, port = self.metrics_addr()
        chat = self.server.connect("echo")
        roundtrip(self, chat)
        fds0 = self.scrape().get("process_open_fds")
        # Garbage, a header over the limit: answered 400/413 or closed.
        for junk in (b"\x00\xff garbage\r\n\r\n",
                     b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 +
                     b"\r\n\r\n"):
            j = socket.create_connection((host, port), timeout=10 * SLOW)
            j.sendall(junk)
            reply = harness.recv_until_closed(j, timeout=10)
            self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 4"),
                            reply[:100])
            j.close()
            roundtrip(self, chat)
        # Slowloris: many connections that never finish their headers.
        lorises = []
        for i in range(100):
            s = socket.create_connection((host, port), timeout=10 * SLOW)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            lorises.append(s)
        for i in range(20):
            roundtrip(self, chat, b"still here %d\n" % i)
            lorises[i % len(lorises)].sendall(b"X-Slow: 1\r\n")
        # The daemon holds at most its cap of them.
        fds = len(os.listdir("/proc/%d/fd" % self.server.proc.pid)) \
            if not self.server.valgrind else 0
        self.assertLess(fds, 100, "every slowloris got a descriptor")
        for s in lorises:
            s.close()
        # Once they are gone, scraping works again.
        deadline = time.monotonic() + 10 * SLOW
        while True:
            try:
                status = self.request("GET", "/healthz")[0]
            except OSError:
                status = None
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(status, 200)
        roundtrip(self, chat)
        # Every HTTP connection's descriptor is given back (the scrape's
        # own is the one more).
        deadline = time.monotonic() + 5 * SLOW
        while True:
            fds = self.scrape().get("process_open_fds")
            if fds <= fds0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(fds, fds0)
        chat.close()
        self.finish()


class TestSummaryAndConfig(MetricsCase):

    def test_sigusr2_line(self):
        # No [metrics]: the line is for those without Prometheus.
        self.server = harness.Server(listener("echo") +
                                     listener("chat", "chat"))
        with self.server.connect("echo") as c:
            roundtrip(self, c, b"abcd\n")
            p = self.server.connect("chat")
            recv_line(p)
            self.server.send_signal(signal.SIGUSR2)
            m = self.server.wait_log(
                r"info: SIGUSR2: stats: (\d+) connections, (\d+) chat "
                r"participants, (\d+) rooms, (\d+) bytes in, (\d+) bytes out")
            self.assertEqual(m.group(1, 2, 3, 4), ("2", "1", "1", "5"))
            self.assertGreaterEqual(int(m.group(5)), 5)
            p.close()
        self.server.wait_log(r"disconnect|stats", 1)
        self.finish()

    def test_bad_bind_is_refused(self):
        base = listener("echo").replace("127.0.0.1:0", "127.0.0.1:7777")
        for bind, why in (("nowhere", "bad bind"),
                          ("127.0.0.1:99999", "bad bind"),
                          ("127.0.0.1:7777", "already used")):
            config = base + "\n[metrics]\nbind = %s\n" % bind
            for args in ([], ["-t"]):
                rc, out, err = harness.run(args, config)
                self.assertEqual(rc, 78, err)
                self.assertRegex(err, r"test\.ini:8: \[metrics\]: .*%s" % why)
        rc, out, err = harness.run(["-t"], base + "\n[metrics]\nbind =\n")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("[metrics]", out)
        rc, out, err = harness.run(["-t"], base +
                                   "\n[metrics]\nbind = 127.0.0.1:9309\n")
        self.assertEqual(rc, 0, err)
        self.assertIn("[metrics]\nbind = 127.0.0.1:9309\n", out)
        rc, out, err = harness.run(["-t"], base + "\n[metrics]\nport = 1\n")
        self.assertEqual(rc, 78)
        self.assertIn('test.ini:8: unknown key "port" in [metrics]', err)

    def test_port_in_use_fails_start(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        rc, out, err = harness.run([], listener("echo") +
                                   "\n[metrics]\nbind = 127.0.0.1:%d\n" % port)
        taken.close()
        self.assertEqual(rc, 71, err)
        self.assertIn("[metrics] bind 127.0.0.1:%d" % port, err)


if __name__ == "__main__":
    harness.main()
