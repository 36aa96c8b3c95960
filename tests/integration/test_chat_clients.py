#!/usr/bin/env python3
"""test_chat_clients.py -- the chat room with the clients people really use.

The README says people talk to echochatd with `telnet` and `nc`.  These tests run
the real programs against a real daemon (harness.Server, loopback port 0):

- telnet, driven by an `expect` script written to a temporary file and run
  with `expect -f FILE`, chats with a second participant written in Python:
  welcome, a message each way, /nick, /who, /quit and telnet's own
  "Connection closed by foreign host."; after Ctrl-C (telnet's
  IAC IP IAC DO TIMING-MARK) /who and /nick still answer;
- netcat-openbsd (`nc -N`, `nc -q N`) gets several lines piped in; the
  transcript nc printed is checked line by line, and so is what a Python
  participant saw of it; a last line with no newline before nc -N's FIN
  is delivered;
- `nc -u` meets the UDP join challenge and joins with the token.

Each transcript is printed (what a person at that terminal would see).  A
test is skipped, with the reason printed, only if telnet, expect or nc is
not installed.  Every wait is bounded; under $ECHOCHAT_VALGRIND
(harness.SLOW) the waits are scaled.
"""
import os
import re
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

SLOW = harness.SLOW
WAIT = 5                        # seconds for an expected line (x SLOW)
# nc -q / -w: seconds nc lingers after its input ends (each run waits
# that long, so this grows less than SLOW under valgrind).
LINGER = 1 if SLOW == 1 else 3

CONFIG = """[server]
log_level = info
[listener chat]
proto = tcp
bind = 127.0.0.1:0
handler = chat
[listener chat-udp]
proto = udp
bind = 127.0.0.1:0
handler = chat
"""


def missing(*programs):
    """The programs of these that are not installed."""
    return [p for p in programs if shutil.which(p) is None]


def skip_unless_installed(*programs):
    gone = missing(*programs)
    if gone:
        reason = "not installed: " + ", ".join(gone)
        print("\nSKIP: " + reason)
        return unittest.skip(reason)
    return lambda f: f


def show(title, text):
    """Print a transcript the way a person saw it."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "")
    bar = "-" * 8
    print("\n%s %s %s\n%s%s%s" % (bar, title, bar, text,
                                   "" if text.endswith("\n") else "\n",
                                   bar * 3))
    sys.stdout.flush()


class Participant:
    """A Python participant on a TCP socket, reading buffered lines."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.seen = []

    def send(self, data):
        self.sock.settimeout(WAIT * SLOW)
        self.sock.sendall(data)

    def line(self, timeout=WAIT):
        deadline = time.monotonic() + timeout * SLOW
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("python participant: no line; "
                                     "partial %r, seen %r" %
                                     (bytes(self.buf), self.seen))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise AssertionError("python participant: EOF; seen %r" %
                                     self.seen)
            self.buf += chunk
        i = self.buf.index(b"\n") + 1
        line = bytes(self.buf[:i])
        del self.buf[:i]
        self.seen.append(line)
        return line

    def close(self):
        self.sock.close()


class ClientTest(unittest.TestCase):

    def setUp(self):
        self.server = harness.Server(CONFIG)
        self.people = []

    def tearDown(self):
        try:
            self.empty_room()
        finally:
            for p in self.people:
                p.close()
            try:
                self.server.close()
            finally:
                for f in (self.server.proc.stdout, self.server.proc.stderr):
                    if f is not None:
                        f.close()

    def empty_room(self):
        """Python participants leave; wait until the room is empty, so
        that the server is stopped with nobody connected."""
        for p in self.people:
            p.close()
        try:
            probe = Participant(self.server.connect("chat"))
        except OSError:
            return
        try:
            probe.line()
            deadline = time.monotonic() + 3 * SLOW
            while time.monotonic() < deadline:
                probe.send(b"/who\n")
                line = probe.line()
                while not line.startswith(b"*** Users ("):
                    line = probe.line()
                if line.startswith(b"*** Users (1): "):
                    break
                time.sleep(0.05)
            probe.send(b"/quit\n")
            probe.sock.settimeout(WAIT * SLOW)
            while probe.sock.recv(4096):
                pass
        except (AssertionError, OSError):
            pass
        finally:
            probe.close()

    def participant(self):
        p = Participant(self.server.connect("chat"))
        self.people.append(p)
        m = re.match(rb"\A\*\*\* Welcome to echochat, (guest[0-9]+)\. Type "
                     rb"/help for help\.\n\Z", p.line())
        self.assertTrue(m, p.seen)
        p.nick = m.group(1)
        return p

    def expect_lines(self, p, *lines):
        for want in lines:
            self.assertEqual(p.line(), want)


class TestTelnet(ClientTest):
    """A telnet user (driven by expect) and a Python user chat."""

    SCRIPT = r"""
set timeout %(timeout)d
log_user 1
proc want {text what} {
    expect {
        -ex $text {}
        timeout { send_user "\nEXPECT-FAIL: timeout waiting for $what\n"; exit 2 }
        eof     { send_user "\nEXPECT-FAIL: EOF waiting for $what\n"; exit 3 }
    }
}
spawn telnet 127.0.0.1 %(port)d
want "*** Welcome to echochat, guest1. Type /help for help." "the welcome"
want "*** guest2 has joined" "the python participant"
send "hello from telnet\r"
want "<guest2> hi telnet, python here" "the python participant's reply"
send "/nick teller\r"
want "*** You are now teller" "the /nick reply"
send "/who\r"
want "*** Users (2): guest2, teller" "the /who reply"
send "/quit see you\r"
want "*** Bye" "the goodbye"
want "Connection closed by foreign host." "telnet's closing line"
expect {
    eof {}
    timeout { send_user "\nEXPECT-FAIL: telnet did not exit\n"; exit 4 }
}
exit 0
"""

    @skip_unless_installed("telnet", "expect")
    def test_telnet_session(self):
        with tempfile.NamedTemporaryFile("w", suffix=".exp",
                                         delete=False) as f:
            f.write(self.SCRIPT % {"timeout": WAIT * SLOW,
                                   "port": self.server.port("chat")})
            script = f.name
        env = dict(os.environ, TERM="dumb")
        proc = subprocess.Popen(["expect", "-f", script],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        out = bytearray()
        lock = threading.Lock()

        def reader():
            for chunk in iter(lambda: proc.stdout.read1(4096), b""):
                with lock:
                    out.extend(chunk)
        t = threading.Thread(target=reader, daemon=True)
        t.start()

        def telnet_saw(text, timeout=WAIT):
            deadline = time.monotonic() + timeout * SLOW
            while time.monotonic() < deadline:
                with lock:
                    if text in out:
                        return
                if proc.poll() is not None and not t.is_alive():
                    break
                time.sleep(0.02)
            raise AssertionError("telnet side never showed %r; transcript:"
                                 "\n%s" % (text, bytes(out).decode(
                                     "utf-8", "replace")))

        rc = None
        py = None
        try:
            # Join only once telnet is guest1.
            telnet_saw(b"*** Welcome to echochat, guest1.")
            py = self.participant()
            self.assertEqual(py.nick, b"guest2")
            self.expect_lines(py, b"<guest1> hello from telnet\n")
            py.send(b"hi telnet, python here\n")
            self.expect_lines(py, b"*** guest1 is now known as teller\n",
                              b"*** teller has left (see you)\n")
            rc = proc.wait(WAIT * SLOW * 2)
            t.join(WAIT * SLOW)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            os.unlink(script)
            show("telnet session (expect transcript)", bytes(out))
            if py is not None:
                show("python participant's view", b"".join(py.seen))
        self.assertEqual(rc, 0, "expect failed; see the transcript")
        text = bytes(out).replace(b"\r", b"")
        # What telnet showed, in order.
        order = [b"Connected to 127.0.0.1.",
                 b"*** Welcome to echochat, guest1. Type /help for help.\n",
                 b"*** guest2 has joined\n",
                 b"<guest2> hi telnet, python here\n",
                 b"*** You are now teller\n",
                 b"*** Users (2): guest2, teller\n",
                 b"*** Bye\n",
                 b"Connection closed by foreign host."]
        pos = 0
        for want in order:
            i = text.find(want, pos)
            self.assertGreaterEqual(i, 0, "%r not in order in the telnet "
                                    "transcript" % want)
            pos = i + len(want)
        # The telnet user's own message never came back to it.
        self.assertNotIn(b"<guest1>", text)
        self.assertNotIn(b"<teller>", text)


class TestTelnetInterrupt(ClientTest):
    """Ctrl-C in telnet sends IAC IP IAC DO TIMING-MARK and discards all
    output until the server answers the mark (README "Chat"): the user
    must still hear the room afterwards."""

    SCRIPT = r"""
set timeout %(timeout)d
log_user 1
proc want {text what} {
    expect {
        -ex $text {}
        timeout { send_user "\nEXPECT-FAIL: timeout waiting for $what\n"; exit 2 }
        eof     { send_user "\nEXPECT-FAIL: EOF waiting for $what\n"; exit 3 }
    }
}
spawn telnet 127.0.0.1 %(port)d
want "*** Welcome to echochat, guest1. Type /help for help." "the welcome"
send "\003"
send "/who\r"
want "*** Users (1): guest1" "the /who reply after Ctrl-C"
send "\003"
send "/nick after\r"
want "*** You are now after" "the /nick reply after a second Ctrl-C"
send "/quit\r"
want "*** Bye" "the goodbye"
want "Connection closed by foreign host." "telnet's closing line"
expect {
    eof {}
    timeout { send_user "\nEXPECT-FAIL: telnet did not exit\n"; exit 4 }
}
exit 0
"""

    @skip_unless_installed("telnet", "expect")
    def test_ctrl_c_then_who_still_answers(self):
        with tempfile.NamedTemporaryFile("w", suffix=".exp",
                                         delete=False) as f:
            f.write(self.SCRIPT % {"timeout": WAIT * SLOW,
                                   "port": self.server.port("chat")})
            script = f.name
        try:
            p = subprocess.run(["expect", "-f", script],
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               env=dict(os.environ, TERM="dumb"),
                               timeout=WAIT * SLOW * 4)
        finally:
            os.unlink(script)
        show("telnet session with Ctrl-C (expect transcript)", p.stdout)
        self.assertEqual(p.returncode, 0, "expect failed; see the transcript")
        # The telnet commands never reached the room as text.
        self.assertNotIn(b"<guest1>", p.stdout)


class TestNetcat(ClientTest):
    """Lines piped into nc; the transcript nc printed is exact."""

    def run_nc(self, args, stdin, timeout=WAIT):
        p = subprocess.run(["nc"] + args, input=stdin, capture_output=True,
                           timeout=timeout * SLOW)
        return p

    @skip_unless_installed("nc")
    def test_nc_session_with_quit(self):
        py = self.participant()
        py.send(b"/nick py\n")
        self.expect_lines(py, b"*** You are now py\n")
        lines = (b"/who\n"
                 b"/nick netcat\n"
                 b"hello from nc\r\n"
                 b"/me waves\n"
                 b"/msg py psst\n"
                 b"\n"
                 b"/bogus\n"
                 b"/quit done here\n"
                 b"never sent to anyone\n")
        show("piped into: nc -N 127.0.0.1 PORT", lines)
        p = self.run_nc(["-N", "127.0.0.1", str(self.server.port("chat"))],
                        lines)
        show("nc printed", p.stdout)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout,
                         b"*** Welcome to echochat, guest2. "
                         b"Type /help for help.\n"
                         b"*** Users (2): guest2, py\n"
                         b"*** You are now netcat\n"
                         b"-> *py* psst\n"
                         b"*** error: unknown command /bogus (try /help)\n"
                         b"*** Bye\n")
        self.expect_lines(py, b"*** guest2 has joined\n",
                          b"*** guest2 is now known as netcat\n",
                          b"<netcat> hello from nc\n",
                          b"* netcat waves\n",
                          b"*netcat* psst\n",
                          b"*** netcat has left (done here)\n")
        show("python participant's view", b"".join(py.seen))
        py.send(b"/who\n")
        self.expect_lines(py, b"*** Users (1): py\n")

    @skip_unless_installed("nc")
    def test_nc_q_session_ends_at_eof(self):
        py = self.participant()
        q = LINGER
        lines = b"/help\nhi, just passing by\n"
        show("piped into: nc -q %d 127.0.0.1 PORT" % q, lines)
        p = self.run_nc(["-q", str(q), "127.0.0.1",
                         str(self.server.port("chat"))], lines,
                        timeout=WAIT + q)
        show("nc printed", p.stdout)
        out = p.stdout.split(b"\n")
        self.assertEqual(out[0], b"*** Welcome to echochat, guest2. "
                         b"Type /help for help.")
        self.assertEqual(out[-1], b"")
        self.assertGreater(len(out), 3)
        for line in out[1:-1]:          # the /help lines
            self.assertTrue(line.startswith(b"*** "), line)
        self.expect_lines(py, b"*** guest2 has joined\n",
                          b"<guest2> hi, just passing by\n",
                          b"*** guest2 has left\n")
        show("python participant's view", b"".join(py.seen))

    @skip_unless_installed("nc")
    def test_nc_last_line_without_newline_is_delivered(self):
        # README "Chat": printf hi | nc -N delivers "hi", the way an
        # unterminated last line of a datagram is.
        py = self.participant()
        show("printf 'hello\\nhi' | nc -N 127.0.0.1 PORT", b"hello\nhi")
        p = self.run_nc(["-N", "127.0.0.1", str(self.server.port("chat"))],
                        b"hello\nhi")
        show("nc printed", p.stdout)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"*** Welcome to echochat, guest2. "
                         b"Type /help for help.\n")
        self.expect_lines(py, b"*** guest2 has joined\n",
                          b"<guest2> hello\n", b"<guest2> hi\n",
                          b"*** guest2 has left\n")
        show("python participant's view", b"".join(py.seen))

    @skip_unless_installed("nc")
    def test_nc_udp_challenge_and_join(self):
        py = self.participant()
        port = str(self.server.port("chat-udp"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            sport = str(s.getsockname()[1])
        w = str(LINGER)
        first = self.run_nc(["-u", "-w", w, "-p", sport, "127.0.0.1", port],
                            b"hello?\n", timeout=WAIT + 1)
        show("echo 'hello?' | nc -u -w %s -p %s 127.0.0.1 PORT" % (w, sport),
             first.stdout)
        m = re.match(rb"\A\*\*\* To join, send: /join ([0-9a-f]{16})\n\Z",
                     first.stdout)
        self.assertTrue(m, first.stdout)
        join = b"/join " + m.group(1) + b"\n"
        second = self.run_nc(["-u", "-w", w, "-p", sport, "127.0.0.1",
                              port], join, timeout=WAIT + 1)
        show("echo '%s' | nc -u -w %s -p %s 127.0.0.1 PORT" %
             (join.decode().strip(), w, sport), second.stdout)
        self.assertEqual(second.stdout, b"*** Welcome to echochat, guest2. "
                         b"Type /help for help.\n")
        self.expect_lines(py, b"*** guest2 has joined\n")
        third = self.run_nc(["-u", "-w", w, "-p", sport, "127.0.0.1", port],
                            b"/quit\n", timeout=WAIT + 1)
        show("echo /quit | nc -u -w %s -p %s 127.0.0.1 PORT" % (w, sport),
             third.stdout)
        self.assertEqual(third.stdout, b"*** Bye\n")
        self.expect_lines(py, b"*** guest2 has left\n")


if __name__ == "__main__":
    harness.main()
