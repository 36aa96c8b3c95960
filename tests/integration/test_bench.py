#!/usr/bin/env python3
"""test_bench.py -- the load tool, echochat-bench, as an operator meets it.

Covers (echochat-bench(1)): -h is help and -H/--host the host; upper
pointed at an echo listener stops at once asking "wrong port?"; Ctrl-C
(SIGINT) during the measurement ends the run with the results so far
(exit 0, the RESULT line, a note saying it was interrupted); the header
comes before any result; echo --tls against a TLS listener verifies
every echo (no mismatch), and against a plain one stops with the
handshake's failure; echo --ws and chat --ws (with and without --rooms)
against WebSocket listeners verify every echo and every delivery, and
idle --ws holds upgraded connections; udp, which batches its replies and
their replacements, verifies every reply with no loss against a UDP echo
listener (small datagrams, sent segmented, and large ones, sent one by
one) and against bench/epoll-echo -u; bench/naive-chat passes chat
--proto plain, whose --cpu-pgid gives the CPU columns, and empty lines
someone else sends during the run, which naive-chat passes on as
"<userN> ", are not counted as unparsed; chat -p P1,P2,P3
against three daemons sharing a redis-server ([cluster]) spreads the
participants over them, every line reaching the participants of every
node with no loss, refuses servers that are not one cluster, and
scripts/bench's chat-cluster row prints its figures with no loss.  Runs
are short and against daemons of the harness on loopback ports; the TLS
certificate is made by the test with
`openssl req`.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import harness
import test_cluster

SLOW = harness.SLOW
BENCH = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(harness.ECHOCHATD))), "bench", "echochat-bench")

CONFIG = """\
[listener echo]
proto = tcp
bind = 127.0.0.1:0
handler = echo

[listener upper]
proto = tcp
bind = 127.0.0.1:0
handler = upper
"""


# The tool is a one-shot program that leaves its run's memory to exit();
# under ASan (a sanitized build) LeakSanitizer would turn that into exit 1.
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")


def bench(args, timeout=30):
    p = subprocess.run([BENCH] + args, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, env=ENV,
                       timeout=timeout * SLOW)
    return p.returncode, p.stdout, p.stderr


class ServerCase(unittest.TestCase):
    """One daemon of the harness, with the class's config, for its cases."""

    config = CONFIG

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(cls.config)

    @classmethod
    def tearDownClass(cls):
        cls.server.close()


class Bench(ServerCase):

    def naive_chat(self):
        """bench/naive-chat on a free port: (process, port)."""
        naive = os.path.join(os.path.dirname(BENCH), "naive-chat")
        proc = subprocess.Popen([naive, "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        self.addCleanup(proc.wait)
        self.addCleanup(os.killpg, proc.pid, signal.SIGKILL)
        line = proc.stdout.readline()
        self.assertIn("naive-chat: listening on tcp 127.0.0.1:", line)
        return proc, int(line.rsplit(":", 1)[1].strip())

    def test_chat_cpu_against_naive_chat(self):
        # bench/naive-chat, the chat peer of scripts/bench, passes the same
        # verification as any relay, and --cpu-pgid gives chat the
        # server's CPU share and ns per delivery, beside the tool's own.
        proc, port = self.naive_chat()
        rc, out, err = bench(["chat", "--proto", "plain", "-c", "5", "-k",
                              "2", "-P", "4", "-p", str(port), "-d", "1",
                              "-w", "0", "--cpu-pgid", str(proc.pid)])
        self.assertEqual(rc, 0, out + err)
        res, kv = result(out)
        self.assertEqual(kv["losses"], "0", res)
        self.assertEqual(kv["errors"], "0", res)
        self.assertGreater(float(kv["rate"]), 0, res)
        self.assertGreater(float(kv["server_ns_per"]), 0, res)
        self.assertIn("tool_cpu_pct", kv)
        self.assertIn("server cpu:", out)

    def test_plain_chat_ignores_empty_lines_passed_on(self):
        # Someone else in the room sends empty lines all through the run;
        # naive-chat passes each on as "<userN> ".  They are chatter, not
        # mangled deliveries: nothing is counted unparsed and every
        # measured line still arrives.
        proc, port = self.naive_chat()
        stop = threading.Event()
        chatter = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(chatter.close)

        def speak():
            chatter.setblocking(False)
            while not stop.wait(0.02):
                try:
                    chatter.send(b"\n")
                    while chatter.recv(65536):
                        pass
                except BlockingIOError:
                    pass
        t = threading.Thread(target=speak)
        t.start()
        try:
            rc, out, err = bench(["chat", "--proto", "plain", "-c", "5",
                                  "-k", "2", "-P", "4", "-p", str(port),
                                  "-d", "1", "-w", "0"])
        finally:
            stop.set()
            t.join()
        self.assertEqual(rc, 0, out + err)
        res, kv = result(out)
        self.assertEqual(kv["unparsed"], "0", res)
        self.assertEqual(kv["losses"], "0", res)
        self.assertEqual(kv["errors"], "0", res)
        self.assertGreater(float(kv["rate"]), 0, res)

    def udp_run(self, port, size, pgid=None):
        cpu = ["--cpu-pgid", str(pgid)] if pgid is not None else []
        rc, out, err = bench(["udp", "-p", str(port), "-c", "4", "-P", "32",
                              "-s", str(size), "-d", "1", "-w", "0"] + cpu)
        self.assertEqual(rc, 0, out + err)
        res, kv = result(out)
        self.assertEqual(kv["errors"], "0", res)
        self.assertEqual(kv["losses"], "0", res)
        self.assertGreater(float(kv["rate"]), 0, res)
        if pgid is not None:
            self.assertGreater(float(kv["server_ns_per"]), 0, res)

    def test_udp_verifies_every_reply(self):
        srv = harness.Server("[server]\nudp_rate = 0\n[listener u]\n"
                             "proto = udp\nbind = 127.0.0.1:0\n"
                             "handler = echo\n")
        try:
            for size in (64, 2000):
                self.udp_run(srv.port("u"), size)
        finally:
            srv.close()

    def test_udp_against_the_blocking_loop(self):
        loop = os.path.join(os.path.dirname(BENCH), "epoll-echo")
        proc = subprocess.Popen([loop, "-u", "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            line = proc.stdout.readline()
            port = line.rsplit(":", 1)[1].strip()
            self.udp_run(port, 64, proc.pid)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def test_cpu_pgid_not_for_idle(self):
        rc, out, err = bench(["idle", "-c", "1", "-p", "1", "--cpu-pgid", "1"])
        self.assertEqual(rc, 2, out + err)
        self.assertIn("--cpu-pgid is not for idle", err)

    def test_h_is_help(self):
        for opt in ("-h", "--help"):
            rc, out, err = bench([opt])
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.startswith("usage: echochat-bench "), out)
            self.assertIn("-H, --host HOST", out)

    def test_host_option(self):
        port = str(self.server.port("echo"))
        for opt in ("-H", "--host"):
            rc, out, err = bench(["echo", opt, "127.0.0.1", "-p", port,
                                  "-c", "2", "-P", "2", "-d", "1", "-w",
                                  "0"])
            self.assertEqual(rc, 0, out + err)
            self.assertRegex(out, r"(?m)^RESULT mode=echo .* errors=0 ")

    def test_upper_on_the_echo_port_asks_wrong_port(self):
        rc, out, err = bench(["upper", "-p", str(self.server.port("echo")),
                              "-c", "2", "-d", "1", "-w", "0"])
        self.assertEqual(rc, 2, out + err)
        self.assertIn("wrong port?", err)
        self.assertNotIn("RESULT", out)
        # The header came first, at once.
        self.assertTrue(out.startswith("echochat-bench upper -> tcp "), out)

    def test_ctrl_c_prints_the_results_so_far(self):
        proc = subprocess.Popen(
            [BENCH, "echo", "-p", str(self.server.port("echo")), "-c", "2",
             "-P", "2", "-d", "60", "-w", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=ENV)
        try:
            # The header is there before the run ends.
            self.assertTrue(proc.stdout.readline().startswith(
                "echochat-bench echo -> tcp "))
            time.sleep(1.0 * SLOW)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20 * SLOW)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 0, out + err)
        self.assertIn("interrupted (Ctrl-C)", out)
        self.assertRegex(out, r"(?m)^RESULT mode=echo .* errors=0 ")
        self.assertRegex(out, r"time: +0 s warm-up, \d+\.\d s measured")


class BenchTLS(unittest.TestCase):
    """echo --tls, when echochatd (and so the tool, of the same build) has
    OpenSSL."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="echochat-bench-tls-")
        crt, key = (os.path.join(cls.dir, n) for n in ("cert.pem", "key.pem"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                        "-out", crt, "-days", "2", "-subj", "/CN=bench"],
                       check=True, capture_output=True, timeout=30)
        config = CONFIG + ("\n[listener tls]\nproto = tcp\nbind = 127.0.0.1:0\n"
                           "handler = echo\ntls_cert = %s\ntls_key = %s\n" % (crt, key))
        rc, _, err = harness.run(["-t"], config)
        cls.server = None
        if rc != 0 and "not supported by this build" in err:
            return
        assert rc == 0, err
        cls.server = harness.Server(config)

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        if not self.server:
            self.skipTest("echochatd was built without OpenSSL")

    def test_echo_over_tls_verifies_every_echo(self):
        rc, out, err = bench(["echo", "--tls", "-p", str(self.server.port("tls")),
                              "-c", "4", "-P", "4", "-d", "1", "-w", "0"])
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"(?m)^  tls: +TLSv1\.[23], \S+ \(certificate not verified\)")
        self.assertRegex(out, r"(?m)^RESULT mode=echo .* tls=1 .* errors=0 mismatches=0 "
                              r"closed=0 count=[1-9]")

    def test_tls_against_a_plain_port_says_so(self):
        rc, out, err = bench(["echo", "--tls", "-p", str(self.server.port("echo")),
                              "-c", "2", "-d", "1", "-w", "0"])
        self.assertEqual(rc, 2, out + err)
        self.assertIn("TLS handshake", err)
        self.assertNotIn("RESULT", out)


class BenchWS(unittest.TestCase):
    """--ws: echo and chat over WebSocket against listeners with
    websocket = yes, when echochatd has WebSocket."""

    CONFIG = """\
[server]
max_clients_per_ip = 0

[chat]
chat_rate = 0

[listener wsecho]
proto = tcp
bind = 127.0.0.1:0
handler = echo
websocket = yes

[listener wschat]
proto = tcp
bind = 127.0.0.1:0
handler = chat
websocket = yes
"""

    @classmethod
    def setUpClass(cls):
        rc, _, err = harness.run(["-t"], cls.CONFIG)
        cls.server = None
        if rc != 0 and "not supported by this build" in err:
            return
        assert rc == 0, err
        cls.server = harness.Server(cls.CONFIG)

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.close()

    def setUp(self):
        if not self.server:
            self.skipTest("echochatd was built without WebSocket")

    def result(self, out):
        res = [l for l in out.splitlines() if l.startswith("RESULT ")][-1]
        return res, dict(f.split("=", 1) for f in res.split()[1:])

    def test_echo_over_ws_verifies_every_echo(self):
        rc, out, err = bench(["echo", "--ws", "-p", str(self.server.port("wsecho")),
                              "-c", "4", "-P", "4", "-d", "1", "-w", "0"])
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"(?m)^RESULT mode=echo .* ws=1 .* errors=0 mismatches=0 "
                              r"closed=0 count=[1-9]")

    def test_chat_over_ws_checks_every_delivery(self):
        # Every participant upgrades, every line is a frame each way, and
        # the deliveries are checked for loss and order as over TCP.
        rc, out, err = bench(["chat", "--ws", "-p", str(self.server.port("wschat")),
                              "-c", "6", "-k", "2", "-P", "4", "-d", "1", "-w", "0",
                              "--cpu-pgid", str(os.getpgid(self.server.proc.pid))])
        self.assertEqual(rc, 0, out + err)
        self.assertIn("protocol:      echochat over WebSocket", out)
        res, kv = self.result(out)
        self.assertEqual(kv["ws"], "1", res)
        for key in ("losses", "dups", "errors", "unparsed"):
            self.assertEqual(kv[key], "0", res)
        self.assertGreater(float(kv["rate"]), 0, res)
        self.assertGreater(float(kv["server_ns_per"]), 0, res)

    def test_chat_over_ws_in_rooms(self):
        # --rooms sends its /join as a frame too.
        rc, out, err = bench(["chat", "--ws", "--rooms", "2", "-p",
                              str(self.server.port("wschat")), "-c", "6", "-k", "2",
                              "-P", "4", "-d", "1", "-w", "0"])
        self.assertEqual(rc, 0, out + err)
        res, kv = self.result(out)
        self.assertEqual((kv["rooms"], kv["losses"], kv["errors"]), ("2", "0", "0"), res)
        self.assertGreater(float(kv["rate"]), 0, res)

    def test_idle_over_ws_upgrades_every_connection(self):
        rc, out, err = bench(["idle", "--ws", "-p", str(self.server.port("wsecho")),
                              "-c", "5", "-d", "1", "--pid", str(self.server.proc.pid)])
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"(?m)^RESULT mode=idle conns=5 opened=5 failed=0 dropped=0 "
                              r".* server_fds=5 .* ws=1 errors=0$")

    def test_ws_is_not_for_redis(self):
        rc, out, err = bench(["chat", "--ws", "--redis", "-p", "1"])
        self.assertEqual(rc, 2, out + err)
        self.assertIn("--ws is not for --proto redis", err)
def result(out):
    res = [l for l in out.splitlines() if l.startswith("RESULT ")][-1]
    return res, dict(f.split("=", 1) for f in res.split()[1:])


class BenchPaceAll(ServerCase):
    """chat --pace-all: each sender is paced by every one of its
    receivers, and the run's deliveries are checked as with one observer."""

    config = """\
[server]
max_clients_per_ip = 0

[chat]
chat_rate = 0

[listener chat]
proto = tcp
bind = 127.0.0.1:0
handler = chat
"""

    def run_chat(self, extra):
        rc, out, err = bench(["chat", "--pace-all", "-p",
                              str(self.server.port("chat")), "-c", "9", "-k",
                              "3", "-P", "4", "-d", "1", "-w", "0"] + extra)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("3 senders, each paced by all its receivers", out)
        res, kv = result(out)
        for key in ("losses", "dups", "errors", "unparsed", "stalls"):
            self.assertEqual(kv[key], "0", res)
        self.assertGreater(float(kv["rate"]), 0, res)
        return kv

    def test_one_room(self):
        self.run_chat([])

    def test_rooms(self):
        # Each sender waits for its own room only: with a receiver of
        # another room counted, no sender would ever go past its first
        # window, and the stalls would show it.
        kv = self.run_chat(["--rooms", "2"])
        self.assertEqual(kv["rooms"], "2")


@unittest.skipUnless(test_cluster.REDIS, "redis-server is not installed")
@unittest.skipUnless(test_cluster.HIREDIS, "built without hiredis")
class BenchCluster(unittest.TestCase):
    """chat over several servers of one cluster (echochat-bench -p
    P1,P2,P3), and the chat-cluster row of scripts/bench."""

    def start_nodes(self, cluster):
        nodes = []
        self.redis = test_cluster.Redis() if cluster else None
        self.addCleanup(lambda: self.redis and self.redis.close())
        for i in range(3):
            if cluster:
                config = test_cluster.node_config(self.redis, "n%d" % i, "bench")
            else:
                config = ("[chat]\nchat_rate = 0\n[listener chat]\nproto = tcp\n"
                          "bind = 127.0.0.1:0\nhandler = chat\n")
            nodes.append(harness.Server(config))
            self.addCleanup(nodes[-1].close)
        return ",".join(str(n.port("chat")) for n in nodes)

    def test_chat_over_three_nodes_reaches_everybody(self):
        ports = self.start_nodes(cluster=True)
        rc, out, err = bench(["chat", "-p", ports, "-c", "9", "-k", "3", "-P", "4",
                              "-d", "1", "-w", "0"], timeout=60)
        self.assertEqual(rc, 0, out + err)
        res, kv = result(out)
        self.assertEqual(kv["servers"], "3", res)
        self.assertEqual(kv["losses"], "0", res)
        self.assertEqual(kv["dups"], "0", res)
        self.assertEqual(kv["errors"], "0", res)
        self.assertRegex(out, r"(?m)^  server 2: +tcp 127\.0\.0\.1:\d+ "
                              r"\(participants i mod 3 = 2\)")
        # 8 receivers per line, 6 of them on the other nodes: a node that
        # delivered its own participants' lines only would make it 2.
        self.assertGreater(float(kv["rate"]), 6 * float(kv["sent_rate"]), res)

    def test_servers_that_are_not_one_cluster_are_refused(self):
        ports = self.start_nodes(cluster=False)
        rc, out, err = bench(["chat", "-p", ports, "-c", "6", "-k", "2",
                              "-d", "1", "-w", "0"], timeout=60)
        self.assertEqual(rc, 2, out + err)
        self.assertIn("heard every one of the 3 servers", err)
        self.assertNotIn("RESULT", out)

    def test_several_ports_are_for_chat(self):
        rc, out, err = bench(["echo", "-p", "1,2", "-d", "1"])
        self.assertEqual(rc, 2, out + err)
        self.assertIn("-p with several ports is for chat --proto echochat", err)
        rc, out, err = bench(["chat", "-p", "1,2,3", "-c", "5"])
        self.assertEqual(rc, 2, out + err)
        self.assertIn("needs -c 6 or more", err)

    def test_scripts_bench_chat_cluster_row(self):
        build = os.path.dirname(os.path.dirname(os.path.abspath(harness.ECHOCHATD)))
        env = dict(ENV, BENCH_SECONDS="1", BENCH_BUILDDIR=build)
        p = subprocess.run([sys.executable, os.path.join(harness.SRCDIR, "scripts", "bench.py"),
                            "chat-cluster", "--servers", "cluster", "--rounds", "1"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           env=env, timeout=120 * SLOW)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("### chat-cluster: 900 participants over 3 servers", p.stdout)
        row = [l for l in p.stdout.splitlines() if l.startswith("| cluster |")]
        self.assertEqual(len(row), 1, p.stdout)
        cells = [c.strip() for c in row[0].strip("|").split("|")]
        # deliveries/s, p50, p99, p99.9, losses, server CPU %, ns/delivery
        self.assertGreater(float(cells[1].replace(",", "")), 0, row[0])
        self.assertEqual(cells[5], "0", row[0])
        self.assertGreater(float(cells[6].replace(",", "")), 0, row[0])
        self.assertGreater(float(cells[7].replace(",", "")), 0, row[0])


if __name__ == "__main__":
    harness.main()
