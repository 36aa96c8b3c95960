#!/usr/bin/env python3
"""test_cluster.py -- one chat across several servers over Redis (README
"Several servers", echochatd.ini(5) [cluster]).

Each test starts a real redis-server of its own on a free loopback port
(one on a Unix socket with requirepass for AUTH) and three echochatd
nodes sharing it, with node_timeout = 2s, then checks the exact lines
participants on different nodes get:

- joins, messages (in order and once each), /me, /nick, /who, /rooms,
  /join and /part, /topic, /msg and /quit across nodes; history replayed
  to a newcomer on another node;
- two nodes racing for one nick: exactly one keeps it, the other is told
  and renamed to a guest name, and every node agrees;
- a node stopped with SIGTERM: its participants leave everywhere with
  "(server shutting down)"; one killed with SIGKILL: "(server gone)"
  within node_timeout;
- Redis stopped mid-conversation: local chat goes on, every participant
  is told once that the others are unreachable and once that they are
  back, and cross-node lines resume without duplicates;
- AUTH over a Unix socket, and a wrong password refused;
- garbage and forged payloads published to the channel: skipped field by
  field (no control byte reaches anyone), a repeated payload dropped, and
  a forged node that never beats is gone within node_timeout;
- history kept in Redis across a restart of every node; a SIGHUP;
- `echochatd -t` refusing bad [cluster] values, and a build without
  hiredis refusing [cluster] with "not supported by this build".

Under valgrind every wait scales with harness.SLOW and node_timeout grows.
"""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
import test_chat

SLOW = harness.SLOW
# Waits for something to settle: grow less than SLOW under valgrind.
SETTLE = harness.QUIET_SLOW
Client = test_chat.Client
WELCOME_RE = test_chat.WELCOME_RE
REDIS = shutil.which("redis-server")
NODE_TIMEOUT = 2 * (3 if harness.VALGRIND else 1)
SEQ = [0]


def built_with_hiredis():
    rc, _, err = harness.run(["-t"], "[cluster]\nredis = 127.0.0.1:1\n"
                             "[listener c]\nproto = tcp\n"
                             "bind = 127.0.0.1:0\nhandler = chat\n")
    return "not supported by this build" not in err


HIREDIS = built_with_hiredis()


class Redis:
    """A redis-server of the test's own, stopped and started by pid."""

    def __init__(self, unix=False, password=None):
        self.dir = tempfile.mkdtemp(prefix="echochat-redis-")
        self.port = 0 if unix else harness.free_port()
        self.path = os.path.join(self.dir, "redis.sock") if unix else None
        self.password = password
        self.proc = None
        self.start()

    def address(self):
        return self.path or "127.0.0.1:%d" % self.port

    def start(self):
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir]
        if self.path:
            args += ["--unixsocket", self.path]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.path:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(self.path)
                else:
                    s = socket.create_connection(("127.0.0.1", self.port))
                s.close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def node_config(redis, name, channel, extra="", chat=""):
    cluster = ("[cluster]\nredis = %s\nchannel = %s\nnode = %s\n"
               "node_timeout = %ds\n" % (redis.address(), channel, name,
                                         NODE_TIMEOUT))
    if redis.password:
        cluster += "password = %s\n" % redis.password
    return ("[server]\nlog_level = debug\nshutdown_timeout = 1s\n"
            "[chat]\nchat_rate = 0\n" + chat + cluster + extra +
            "[listener chat]\nproto = tcp\nbind = 127.0.0.1:0\n"
            "handler = chat\n")


@unittest.skipUnless(HIREDIS, "built without hiredis")
@unittest.skipUnless(REDIS, "no redis-server (Debian: redis-server)")
class ClusterTest(unittest.TestCase):
    password = None
    unix = False
    chat = ""

    def setUp(self):
        self.redis = Redis(self.unix, self.password)
        SEQ[0] += 1
        self.channel = "t%d-%d" % (os.getpid(), SEQ[0])
        self.nodes = []
        self.clients = []
        for name in ("n1", "n2", "n3"):
            self.start_node(name)
        for n in self.nodes:
            n.wait_log(r"cluster: connected to redis", 10)

    metrics = False

    def start_node(self, name, password=None):
        redis = self.redis
        extra = "[metrics]\nbind = 127.0.0.1:0\n" if self.metrics else ""
        conf = node_config(redis, name, self.channel, chat=self.chat,
                           extra=extra)
        if password is not None:
            conf = conf.replace("password = %s" % redis.password,
                                "password = %s" % password)
        node = harness.Server(conf)
        self.nodes.append(node)
        return node

    def tearDown(self):
        """Every node and the Redis go, whatever fails; then the first
        failure is reported."""
        failure = None
        for c in self.clients:
            c.close()
        for n in self.nodes:
            try:
                if n.proc.poll() is None:
                    harness.finish(n, quiet=False)
                else:
                    harness.release(n)
            except AssertionError as e:
                harness.release(n)
                failure = failure or e
        self.redis.close()
        if failure is not None:
            raise failure

    def connect(self, node, label=None):
        c = Client(node.connect("chat"), label or "client")
        self.clients.append(c)
        m = WELCOME_RE.match(c.line())
        self.assertIsNotNone(m)
        c.nick = m.group(1).decode()
        # Let its arrival reach the other nodes before the next guest is
        # named there (two at once are settled by a rename, tested alone).
        time.sleep(0.1 * SETTLE)
        return c

    def until(self, client, want, timeout=test_chat.WAIT):
        """Lines until one matching want; returns them all."""
        seen = []
        pattern = re.compile(want)
        while True:
            line = client.line(timeout)
            seen.append(line)
            if pattern.search(line):
                return seen

    def joined(self, *pairs):
        """Each (client, nick) pair: client hears nick join."""
        for client, nick in pairs:
            self.until(client, rb"\*\*\* %s has joined\n" % nick.encode())

    def three(self):
        """One participant on each node, each having seen the later ones
        join."""
        a = self.connect(self.nodes[0], "a")
        b = self.connect(self.nodes[1], "b")
        self.joined((a, b.nick))
        c = self.connect(self.nodes[2], "c")
        self.joined((a, c.nick), (b, c.nick))
        return a, b, c

    def who(self, client):
        client.send(b"/who\n")
        return self.until(client, rb"\A\*\*\* Users")[-1]


class ChatAcross(ClusterTest):

    def test_guest_names_unique_across_nodes(self):
        a, b, c = self.three()
        self.assertEqual(len({a.nick, b.nick, c.nick}), 3)
        want = ("*** Users (3): %s\n" % ", ".join(
            sorted([a.nick, b.nick, c.nick]))).encode()
        for x in (a, b, c):
            self.assertEqual(self.who(x), want)

    def test_messages_in_order_once(self):
        a, b, c = self.three()
        lines = [b"line %d\n" % i for i in range(50)]
        a.send(b"".join(lines))
        for x in (b, c):
            for line in lines:
                self.assertEqual(x.line(), b"<%s> " % a.nick.encode() + line)
        b.send(b"/me waves\n")
        self.assertEqual(a.line(), b"* %s waves\n" % b.nick.encode())
        self.assertEqual(c.line(), b"* %s waves\n" % b.nick.encode())
        a.quiet()
        b.quiet()
        c.quiet()

    def test_nick_rooms_topic_msg_quit(self):
        a, b, c = self.three()
        b.send(b"/nick Bob\n")
        self.assertEqual(b.line(), b"*** You are now Bob\n")
        for x in (a, c):
            self.assertEqual(x.line(), b"*** %s is now known as Bob\n" %
                             b.nick.encode())
        a.send(b"/nick bob\n")
        self.assertEqual(a.line(),
                         b"*** error: nick bob is already in use\n")
        a.send(b"/msg bob psst\n")
        self.assertEqual(a.line(), b"-> *Bob* psst\n")
        self.assertEqual(b.line(), b"*%s* psst\n" % a.nick.encode())
        c.quiet()
        a.send(b"/join #x\n")
        self.assertEqual(a.line(), b"*** You are now in #x (1 users)\n")
        for x in (b, c):
            self.assertEqual(x.line(), b"*** %s has left for #x\n" %
                             a.nick.encode())
        a.send(b"/topic hello there\n")
        self.assertEqual(a.line(), b"*** %s set the topic: hello there\n" %
                         a.nick.encode())
        time.sleep(0.2 * SETTLE)
        c.send(b"/rooms\n")
        self.assertEqual(c.line(), b"*** Rooms (2): #lobby (2), #x (1)\n")
        c.send(b"/who #x\n")
        self.assertEqual(c.line(), b"*** Users (1): %s\n" % a.nick.encode())
        c.send(b"/join #X\n")
        self.assertEqual(c.line(), b"*** You are now in #x (2 users)\n")
        self.assertEqual(c.line(), b"*** Topic: hello there\n")
        self.assertEqual(a.line(), b"*** %s has joined\n" % c.nick.encode())
        self.assertEqual(b.line(), b"*** %s has left for #x\n" %
                         c.nick.encode())
        c.send(b"/topic\n")
        self.assertEqual(c.line(), b"*** Topic: hello there\n")
        c.send(b"in x\n")
        self.assertEqual(a.line(), b"<%s> in x\n" % c.nick.encode())
        b.quiet()
        a.send(b"/part\n")
        self.assertEqual(a.line(), b"*** You are now in #lobby (2 users)\n")
        self.assertEqual(b.line(), b"*** %s has joined\n" % a.nick.encode())
        self.assertEqual(c.line(), b"*** %s has left for #lobby\n" %
                         a.nick.encode())
        b.send(b"/quit off now\n")
        self.assertEqual(b.line(), b"*** Bye\n")
        self.assertEqual(a.line(), b"*** Bob has left (off now)\n")
        c.quiet()
        a.send(b"/msg Bob hi\n")
        self.assertEqual(a.line(), b"*** error: no such user Bob\n")

    def test_nick_race(self):
        """Both ask at once: whichever way it goes, one keeps the nick,
        the other is refused or renamed, and every node agrees."""
        for _ in range(1 if harness.VALGRIND else 3):
            a, b, c = self.three()
            a.send(b"/nick racer\n")
            b.send(b"/nick RACER\n")
            time.sleep(1.0 * SETTLE)
            said = {}
            for x in (a, b):
                said[x.label] = bytes(x.buf)
                try:
                    while True:
                        said[x.label] += x.line(0.1)
                except AssertionError:
                    pass
                x.buf.clear()
            c.buf.clear()
            whos = [self.who(x) for x in (a, b, c)]
            self.assertEqual(len(set(whos)), 1, whos)
            names = whos[0].decode().split(": ", 1)[1].strip().split(", ")
            self.assertEqual(len(names), 3, whos)
            self.assertEqual(len({n.lower() for n in names}), 3, whos)
            self.assertEqual(sum(n.lower() == "racer" for n in names), 1)
            both = said["a"] + said["b"]
            self.assertTrue(b"already in use" in both, said)
            if b"on another server" in both:
                self.assertRegex(both, rb"\*\*\* You are now guest[0-9]+\n")
            for x in (a, b, c):
                x.close()
                self.clients.remove(x)
            time.sleep(0.2 * SETTLE)


class History(ClusterTest):
    chat = "history = 3\n"

    def test_newcomer_elsewhere_sees_history(self):
        a = self.connect(self.nodes[0], "a")
        time.sleep(0.3 * SETTLE)
        a.send(b"one\ntwo\n/me three\nfour\n")
        time.sleep(0.5 * SETTLE)
        d = self.connect(self.nodes[2], "d")
        self.assertEqual(d.line(), b"*** Recent messages (3):\n")
        for want in (b"<%s> two\n", b"* %s three\n", b"<%s> four\n"):
            line = d.line()
            self.assertRegex(line, rb"\A\[[0-9]{2}:[0-9]{2}\] ")
            self.assertEqual(line[8:], want % a.nick.encode())
        self.assertEqual(d.line(), b"*** End of recent messages\n")


    def test_history_survives_every_node_restarting(self):
        a = self.connect(self.nodes[0], "a")
        a.send(b"/me was here\nremember me\n")
        time.sleep(0.5 * SETTLE)
        a.close()
        self.clients.remove(a)
        for n in self.nodes:
            harness.finish(n, quiet=False)
        self.nodes = []
        for name in ("n1", "n2", "n3"):
            self.start_node(name)
        for n in self.nodes:
            n.wait_log(r"cluster: connected to redis", 10)
        time.sleep(0.3 * SETTLE)
        d = self.connect(self.nodes[1], "d")
        self.assertEqual(d.line(), b"*** Recent messages (2):\n")
        self.assertEqual(d.line()[8:], b"* %s was here\n" % a.nick.encode())
        self.assertEqual(d.line()[8:], b"<%s> remember me\n" %
                         a.nick.encode())
        self.assertEqual(d.line(), b"*** End of recent messages\n")


class Departures(ClusterTest):

    def test_sigterm_leaves_shutting_down(self):
        a, b, c = self.three()
        self.assertEqual(self.nodes[1].stop(), 0)
        for x in (a, c):
            self.until(x, rb"\*\*\* %s has left \(server shutting down\)\n"
                       % b.nick.encode())
        self.assertEqual(self.who(a), ("*** Users (2): %s\n" % ", ".join(
            sorted([a.nick, c.nick]))).encode())

    def test_sigkill_leaves_server_gone(self):
        a, b, c = self.three()
        start = time.monotonic()
        self.nodes[1].kill()
        for x in (a, c):
            self.until(x, rb"\*\*\* %s has left \(server gone\)\n" %
                       b.nick.encode(), timeout=NODE_TIMEOUT * 3)
        self.assertLess(time.monotonic() - start,
                        NODE_TIMEOUT * 2 + 2 * SLOW)


def metric(node, name):
    """One unlabelled sample of node's /metrics (None: absent)."""
    m = node.wait_log(r"metrics: serving http on ([0-9.]+):([0-9]+)")
    conn = http.client.HTTPConnection(m.group(1), int(m.group(2)),
                                      timeout=10 * SLOW)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    found = re.search(r"^%s ([0-9.e+]+)$" % name, body, re.M)
    return float(found.group(1)) if found else None


class Outage(ClusterTest):
    metrics = True

    def test_redis_restart(self):
        a, b, c = self.three()
        a2 = self.connect(self.nodes[0], "a2")
        self.until(a, rb"has joined")
        self.until(b, rb"has joined")
        self.until(c, rb"has joined")
        self.assertEqual(metric(self.nodes[0], "echochat_cluster_up"), 1)
        self.redis.stop()
        for x in (a, a2, b, c):
            self.assertEqual(x.line(), b"*** other servers are "
                             b"unreachable\n")
        self.assertEqual(metric(self.nodes[0], "echochat_cluster_up"), 0)
        a.send(b"local only\n")
        self.assertEqual(a2.line(), b"<%s> local only\n" % a.nick.encode())
        self.assertEqual(self.who(a2), ("*** Users (2): %s\n" % ", ".join(
            sorted([a.nick, a2.nick]))).encode())
        b.quiet()
        self.redis.start()
        for x in (a, a2, b, c):
            self.assertEqual(x.line(8), b"*** other servers are reachable "
                             b"again\n")
        time.sleep(0.3 * SETTLE)
        a.send(b"back\n")
        for x in (a2, b, c):
            self.assertEqual(x.line(), b"<%s> back\n" % a.nick.encode())
        nicks = sorted([a.nick, a2.nick, b.nick, c.nick])
        self.assertEqual(self.who(b), ("*** Users (4): %s\n" % ", ".join(
            nicks)).encode())
        for x in (a, a2, c):
            x.quiet()
        self.assertEqual(metric(self.nodes[0], "echochat_cluster_up"), 1)
        self.assertGreater(metric(self.nodes[0],
                                  "echochat_cluster_dropped_total"), 0)
        for n in self.nodes:
            n.wait_log(r"cluster: redis \S+ reachable again")
            self.assertEqual(n.log().count("unreachable"), 1, n.log())


def publish(redis, channel, payload):
    """PUBLISH raw bytes, as anyone with access to Redis could."""
    s = socket.create_connection(("127.0.0.1", redis.port))
    parts = [b"PUBLISH", channel.encode(), payload]
    s.sendall(b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(x), x)
                                    for x in parts))
    s.settimeout(5)
    s.recv(100)
    s.close()


class Abuse(ClusterTest):

    def test_garbage_and_forged_payloads(self):
        a = self.connect(self.nodes[0], "a")
        b = self.connect(self.nodes[1], "b")
        self.joined((a, b.nick))
        for junk in (b"", b"\xff" * 1000, b"E1\n", b"E1 n9 x 1\nm 1 x\n",
                     b"E9 n9 1 1\nA 1 1 v9 #lobby\n", os.urandom(4096)):
            publish(self.redis, self.channel, junk)
        publish(self.redis, self.channel,
                b"E1 n9 1 1\nA 1 1 evil #lobby\nA 2 1 bad\x01nick #lobby\n"
                b"m 1 hi\x1b[2J\nm 1 \xff\xfb\x01\nm 1 ok\nL 77\n")
        for x in (a, b):
            self.assertEqual(x.line(), b"*** evil has joined\n")
            self.assertEqual(x.line(), b"<evil> ok\n")
        a.send(b"still fine\n")
        self.assertEqual(b.line(), b"<%s> still fine\n" % a.nick.encode())
        # A payload heard again (same node, run and count) is dropped.
        publish(self.redis, self.channel, b"E1 n9 1 1\nm 1 again\n")
        publish(self.redis, self.channel, b"E1 n9 1 2\nm 1 next\n")
        self.assertEqual(a.line(), b"<evil> next\n")
        # evil's node never beats: gone within node_timeout.
        self.until(a, rb"\*\*\* evil has left \(server gone\)\n",
                   timeout=NODE_TIMEOUT * 3)


class Reload(ClusterTest):

    def test_sighup_keeps_the_link(self):
        a, b, c = self.three()
        self.nodes[1].reload()
        a.send(b"still here\n")
        self.assertEqual(b.line(), b"<%s> still here\n" % a.nick.encode())
        self.assertEqual(c.line(), b"<%s> still here\n" % a.nick.encode())
        b.send(b"me too\n")
        self.assertEqual(c.line(), b"<%s> me too\n" % b.nick.encode())


class Auth(ClusterTest):
    unix = True
    password = "s3cret"

    def test_auth_over_unix_socket(self):
        a, b, c = self.three()
        a.send(b"hi\n")
        self.assertEqual(b.line(), b"<%s> hi\n" % a.nick.encode())
        self.assertEqual(c.line(), b"<%s> hi\n" % a.nick.encode())
        bad = self.start_node("n4", password="wrong")
        bad.wait_log(r"cluster: redis \S+ unreachable: .*(WRONGPASS|"
                     r"invalid)", 10)
        d = self.connect(bad, "d")
        d.send(b"lonely\n")
        a.quiet()


@unittest.skipUnless(HIREDIS, "built without hiredis")
class ConfigCheck(unittest.TestCase):

    def check(self, cluster, pattern):
        rc, _, err = harness.run(["-t"], "[cluster]\n" + cluster +
                                 "[listener c]\nproto = tcp\n"
                                 "bind = 127.0.0.1:0\nhandler = chat\n")
        self.assertEqual(rc, 78, err)
        self.assertRegex(err, pattern)

    def test_bad_values(self):
        self.check("redis = nowhere\n", r"test\.ini:2: \[cluster\]: bad "
                   r"redis \"nowhere\"")
        self.check("redis = 127.0.0.1:1\nnode = a b\n",
                   r"test\.ini:3: \[cluster\]: bad node")
        self.check("redis = 127.0.0.1:1\nchannel = x/y\n",
                   r"test\.ini:3: \[cluster\]: bad channel")
        self.check("redis = 127.0.0.1:1\nnode_timeout = 10ms\n",
                   r"test\.ini:3: .*node_timeout")
        self.check("redis = 127.0.0.1:1\ncolor = red\n",
                   r"test\.ini:3: unknown key \"color\" in \[cluster\]")

    def test_good(self):
        rc, out, err = harness.run(["-t"], "[cluster]\nredis = /run/r.sock"
                                   "\nnode = x1\npassword = p\n"
                                   "[listener c]\nproto = tcp\n"
                                   "bind = 127.0.0.1:0\nhandler = chat\n")
        self.assertEqual(rc, 0, err)


class Build(unittest.TestCase):

    def test_cluster_as_built(self):
        """With hiredis [cluster] is taken; without, refused by name."""
        rc, _, err = harness.run(["-t"], "[cluster]\nredis = 127.0.0.1:1\n"
                                 "[listener c]\nproto = tcp\n"
                                 "bind = 127.0.0.1:0\nhandler = chat\n")
        if HIREDIS:
            self.assertEqual(rc, 0, err)
        else:
            self.assertEqual(rc, 78)
            self.assertRegex(err, r"test\.ini:2: key \"redis\" in "
                             r"\[cluster\] is not supported by this build")


if __name__ == "__main__":
    harness.main()
