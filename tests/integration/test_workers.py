#!/usr/bin/env python3
"""test_workers.py -- workers = N: threads, connections spread over them,
one chat room across all of them, process-wide limits, reload and stop.

Every other suite also runs with workers = 2 (make check); this one
checks what only exists with several loops, whatever ECHOCHAT_WORKERS says.
"""
import os
import re
import signal
import socket
import threading
import time
import unittest

import harness
from harness import SLOW, recv_line, recv_exactly, recv_until_closed

WELCOME_RE = re.compile(
    rb"\A\*\*\* Welcome to echochat, (guest[0-9]+)\. "
    rb"Type /help for help\.\n\Z")
CONNECT_RE = re.compile(r" debug: connect \S+ on listener \S+ \(loop (\d+)\)")


def config(workers, extra_server="", listeners=("echo",), chat=True,
           udp_chat=False):
    text = "[server]\nworkers = %s\n%s\n[chat]\nchat_rate = 0\n" % (
        workers, extra_server)
    for name in listeners:
        text += ("\n[listener %s]\nproto = tcp\nbind = 127.0.0.1:0\n"
                 "handler = echo\n" % name)
    if chat:
        text += ("\n[listener chat]\nproto = tcp\nbind = 127.0.0.1:0\n"
                 "handler = chat\n")
    if udp_chat:
        text += ("\n[listener chat-udp]\nproto = udp\nbind = 127.0.0.1:0\n"
                 "handler = chat\n")
    return text


def threads_of(server):
    return len(os.listdir("/proc/%d/task" % server.proc.pid))


def thread_cpu_ticks(server):
    """utime+stime of each thread, by thread id."""
    ticks = {}
    base = "/proc/%d/task" % server.proc.pid
    for tid in os.listdir(base):
        with open(os.path.join(base, tid, "stat")) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks[tid] = int(fields[11]) + int(fields[12])
    return ticks


def roundtrip(testcase, sock, data):
    sock.sendall(data)
    testcase.assertEqual(recv_exactly(sock, len(data)), data)


class Participant:
    """A chat client that reads in the background."""

    def __init__(self, server):
        self.sock = server.connect("chat")
        m = WELCOME_RE.match(recv_line(self.sock))
        if not m:
            raise AssertionError("no welcome")
        self.nick = m.group(1)
        self.lines = []
        self.cond = threading.Condition()
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        buf = b""
        self.sock.settimeout(None)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                *whole, buf = buf.split(b"\n")
                with self.cond:
                    self.lines += whole
                    self.cond.notify_all()
        except OSError:
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def send(self, data):
        self.sock.sendall(data)

    def wait_for(self, pred, what, timeout=10):
        deadline = time.monotonic() + timeout * SLOW
        with self.cond:
            while not pred(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.closed and not pred(self.lines)):
                    raise AssertionError("%s: no %s in %r" % (
                        self.nick, what, self.lines[-20:]))
                self.cond.wait(min(left, 0.2))
            return list(self.lines)

    def wait_line(self, line, timeout=10):
        return self.wait_for(lambda ls: line in ls, line, timeout)

    def close(self):
        # shutdown first: a close while the reader sits in recv would
        # leave the connection open in the kernel.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class Threads(unittest.TestCase):

    def test_workers_make_threads(self):
        for workers, want in (("1", 1), ("4", 4),
                              ("0", os.cpu_count() or 1)):
            server = harness.Server(config(workers))
            try:
                self.assertEqual(threads_of(server), want,
                                 "workers = %s" % workers)
                if want > 1:
                    self.assertIn("info: %d worker threads" % want,
                                  server.log())
                else:
                    self.assertNotIn("worker threads", server.log())
            finally:
                server.close()

    def test_connections_spread_and_served_in_parallel(self):
        server = harness.Server(config(3), args=["-L", "debug"])
        socks = []
        try:
            for _ in range(9):
                socks.append(server.connect("echo"))
            for i, s in enumerate(socks):
                roundtrip(self, s, b"hello %d\n" % i)
            loops = [int(m.group(1)) for m in
                     server.wait_log_matches(CONNECT_RE, 9)]
            self.assertEqual(sorted(loops), [0, 0, 0, 1, 1, 1, 2, 2, 2])
            # Load on every connection at once: more than one thread works.
            before = thread_cpu_ticks(server)
            stop = time.monotonic() + 1.5 * SLOW
            block = b"x" * 4095 + b"\n"
            while time.monotonic() < stop:
                for s in socks:
                    s.sendall(block * 8)
                for s in socks:
                    self.assertEqual(recv_exactly(s, len(block) * 8),
                                     block * 8)
            after = thread_cpu_ticks(server)
            busy = [tid for tid in after
                    if after[tid] - before.get(tid, 0) > 0]
            self.assertGreaterEqual(len(busy), 2,
                                    "only one thread did any work")
        finally:
            for s in socks:
                s.close()
            server.close()


class ChatAcrossThreads(unittest.TestCase):

    def setUp(self):
        self.server = harness.Server(config(3, udp_chat=True),
                                     args=["-L", "debug"])
        self.people = []

    def tearDown(self):
        for p in self.people:
            p.close()
        self.server.close()

    def room(self, n):
        for _ in range(n):
            self.people.append(Participant(self.server))
        # Everyone has heard of everyone who came later.
        for i, p in enumerate(self.people):
            for q in self.people[i + 1:]:
                p.wait_line(b"*** %s has joined" % q.nick)
        return self.people

    def test_everyone_hears_everyone_once_in_order(self):
        people = self.room(12)
        loops = {int(m.group(1)) for m in
                 self.server.wait_log_matches(CONNECT_RE, 12)}
        self.assertEqual(loops, {0, 1, 2})
        n = 25
        for i in range(n):
            for p in people:
                p.send(b"line %d from %s\n" % (i, p.nick))
        for p in people:
            def all_in(lines, p=p):
                return sum(1 for x in lines if x.startswith(b"<")) >= \
                    n * (len(people) - 1)
            lines = p.wait_for(all_in, "every line")
            said = [x for x in lines if x.startswith(b"<")]
            self.assertEqual(len(said), n * (len(people) - 1))
            for q in people:
                from_q = [x for x in said if x.startswith(b"<%s>" % q.nick)]
                if q is p:
                    self.assertEqual(from_q, [])    # not echoed back
                else:
                    self.assertEqual(from_q, [
                        b"<%s> line %d from %s" % (q.nick, i, q.nick)
                        for i in range(n)])

    def test_who_msg_and_nick_across_loops(self):
        people = self.room(6)
        for p in people:
            p.send(b"/who\n")
        names = b", ".join(sorted(p.nick for p in people))
        for p in people:
            p.wait_line(b"*** Users (6): " + names)
        # /msg from every participant to every other: on other loops too.
        for p in people:
            for q in people:
                if q is not p:
                    p.send(b"/msg %s psst %s\n" % (q.nick, p.nick))
        for p in people:
            for q in people:
                if q is not p:
                    p.wait_line(b"*%s* psst %s" % (q.nick, q.nick))
                    p.wait_line(b"-> *%s* psst %s" % (q.nick, p.nick))

    def test_nick_race_has_one_winner(self):
        people = self.room(6)
        for p in people:
            p.send(b"/nick highlander\n")
        won = 0
        for p in people:
            lines = p.wait_for(
                lambda ls: b"*** You are now highlander" in ls or
                b"*** error: nick highlander is already in use" in ls,
                "an answer to /nick")
            won += b"*** You are now highlander" in lines
        self.assertEqual(won, 1)

    def test_udp_and_tcp_participants_meet(self):
        people = self.room(4)
        u = self.server.udp("chat-udp")
        try:
            u.send(b"hi\n")
            token = re.match(rb"\*\*\* To join, send: /join ([0-9a-f]{16})",
                             u.recv(200)).group(1)
            u.send(b"/join " + token + b"\n")
            m = WELCOME_RE.match(u.recv(200))
            self.assertTrue(m)
            unick = m.group(1)
            for p in people:
                p.wait_line(b"*** %s has joined" % unick)
            u.send(b"over udp\n")
            for p in people:
                p.wait_line(b"<%s> over udp" % unick)
            people[-1].send(b"over tcp\n")
            want = b"<%s> over tcp\n" % people[-1].nick
            got = b""
            deadline = time.monotonic() + 5 * SLOW
            while want not in got and time.monotonic() < deadline:
                got = u.recv(200)
            self.assertEqual(got, want)
        finally:
            u.close()

    def test_leaving_is_heard_everywhere(self):
        people = self.room(6)
        gone = people.pop(2)
        gone.send(b"/quit off to bed\n")
        gone.wait_line(b"*** Bye")
        for p in people:
            p.wait_line(b"*** %s has left (off to bed)" % gone.nick)
        gone.close()
        dropped = people.pop(0)
        dropped.close()
        for p in people:
            p.wait_line(b"*** %s has left" % dropped.nick)

    def test_stop_tells_everyone_on_every_loop(self):
        people = self.room(9)
        rc = self.server.stop()
        self.assertEqual(rc, 0)
        for p in people:
            p.wait_for(lambda ls: p.closed, "close")
            self.assertIn(b"*** server shutting down", p.lines)
        self.assertNotRegex(self.server.log(), "shutdown_timeout reached")


class Limits(unittest.TestCase):

    def test_max_clients_counts_every_loop(self):
        server = harness.Server(config(3, "max_clients = 5"),
                                args=["-L", "debug"])
        socks = []
        try:
            for i in range(5):
                socks.append(server.connect("echo"))
                roundtrip(self, socks[-1], b"in %d\n" % i)
            extra = server.connect("echo")
            self.assertEqual(recv_until_closed(extra),
                             b"*** error: server full\n")
            extra.close()
            socks.pop().close()
            server.wait_log(r" debug: disconnect ")
            again = server.connect("echo")
            roundtrip(self, again, b"room again\n")
            socks.append(again)
        finally:
            for s in socks:
                s.close()
            server.close()

    def test_max_clients_per_ip_counts_every_loop(self):
        server = harness.Server(config(2, "max_clients_per_ip = 3"))
        socks = []
        try:
            for i in range(3):
                socks.append(server.connect("echo"))
                roundtrip(self, socks[-1], b"in %d\n" % i)
            extra = server.connect("echo")
            self.assertEqual(recv_until_closed(extra),
                             b"*** error: too many connections from your "
                             b"address\n")
            extra.close()
        finally:
            for s in socks:
                s.close()
            server.close()


class Reload(unittest.TestCase):

    def test_reload_under_load_keeps_connections(self):
        server = harness.Server(config(3, listeners=("echo", "gone")),
                                args=["-L", "debug"])
        keep = [server.connect("echo") for _ in range(6)]
        lose = [server.connect("gone") for _ in range(6)]
        stop = threading.Event()
        errors = []

        def pound(sock, k):
            i = 0
            try:
                while not stop.is_set():
                    data = b"%d:%d\n" % (k, i)
                    sock.sendall(data)
                    if recv_exactly(sock, len(data)) != data:
                        errors.append("mismatch on %d" % k)
                        return
                    i += 1
            except Exception as e:      # noqa: BLE001 -- reported below
                errors.append("%d: %r" % (k, e))

        threads = [threading.Thread(target=pound, args=(s, k), daemon=True)
                   for k, s in enumerate(keep)]
        try:
            for s in lose:
                roundtrip(self, s, b"before\n")
            for t in threads:
                t.start()
            with open(server.config_path, "w") as f:
                f.write(config(5, listeners=("echo",)))
            for _ in range(3):
                server.send_signal(signal.SIGHUP)
                time.sleep(0.3 * SLOW)
            server.wait_log(r"reload: workers = 5 takes effect at the next "
                            r"start; 3 running")
            for s in lose:
                self.assertEqual(recv_until_closed(s), b"")
            time.sleep(0.5 * SLOW)
            stop.set()
            for t in threads:
                t.join(10 * SLOW)
            self.assertEqual(errors, [])
            self.assertEqual(server.log().count("reload done"), 3)
            self.assertEqual(threads_of(server), 3)
            for s in keep:
                roundtrip(self, s, b"after\n")
        finally:
            stop.set()
            for s in keep + lose:
                s.close()
            server.close()


if __name__ == "__main__":
    harness.main()
