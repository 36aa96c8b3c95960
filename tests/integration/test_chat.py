#!/usr/bin/env python3
"""test_chat.py -- integration tests of the chat handler (README "Chat").

Every test starts its own echochatd through harness.Server with chat
listeners on loopback port 0 (TCP, UDP and, where needed, a Unix socket in
the server's temporary directory), talks to it with plain sockets and
checks the exact bytes of every line the server sends: welcome, join and
leave notices, messages, /me, /nick, /who, /msg, /quit, /help, every error,
`//text`, empty lines, nick and guest-name rules, line length limits,
removal of control bytes and telnet IAC sequences, CRLF/LF framing, UDP
participants with their join handshake, limits and timeout, the slow
reader that gets cut, a 100-participant load, and SIGTERM.

Clients read with a buffered line reader (or selectors for the load
tests); every socket operation has a timeout and the load tests have an
overall deadline.  Under $ECHOCHAT_VALGRIND (harness.SLOW > 1) the waits
are scaled and the loads shrunk.

Before each server is stopped (tearDown), its participants leave and a
probe sees the room empty, so that each test checks what it is about:
SIGTERM with stream participants still connected is its own test
(TestShutdown): every participant is told "*** server shutting down",
and the daemon exits 0 with no valgrind error.
"""
import re
import selectors
import signal
import socket
import sys
import time
import unittest

import harness

SLOW = harness.SLOW
WAIT = 5                        # seconds for an expected line (x SLOW)
QUIET = 0.3                     # seconds of silence that mean "nothing"

WELCOME_RE = re.compile(
    rb"\A\*\*\* Welcome to echochat, (guest[0-9]+)\. "
    rb"Type /help for help\.\n\Z")
CHALLENGE_RE = re.compile(rb"\A\*\*\* To join, send: /join ([0-9a-f]{16})\n\Z")


def config(server="", chat="", unix=False, udp=True):
    """INI text: TCP (and UDP, Unix) chat listeners on loopback port 0."""
    text = "[server]\nlog_level = info\nshutdown_timeout = 2s\n" + server
    if chat:
        text += "[chat]\n" + chat
    text += ("[listener chat]\nproto = tcp\nbind = 127.0.0.1:0\n"
             "handler = chat\n")
    if udp:
        text += ("[listener chat-udp]\nproto = udp\nbind = 127.0.0.1:0\n"
                 "handler = chat\n")
    if unix:
        text += ("[listener chat-unix]\nproto = unix\n"
                 "bind = @DIR@/chat.sock\nhandler = chat\n")
    return text


def select_ready(sock, timeout=0.05):
    """Is there something to read on sock within timeout?"""
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        return bool(sel.select(timeout))


def assert_clean(testcase, line):
    """No 0xFF and no control byte but TAB in a received line."""
    body = line[:-1] if line.endswith(b"\n") else line
    bad = [b for b in body if b == 0xFF or b == 0x7F or
           (b < 0x20 and b != 0x09)]
    testcase.assertEqual(bad, [], "control/IAC bytes reached a client: %r"
                         % line)


class Client:
    """A stream participant with a buffered line reader."""

    def __init__(self, sock, label):
        self.sock = sock
        self.label = label
        self.buf = bytearray()
        self.eof = False
        self.nick = None

    def send(self, data):
        self.sock.settimeout(WAIT * SLOW)
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
        self.buf += chunk

    def line(self, timeout=WAIT):
        """The next line (with its LF); AssertionError on timeout/EOF."""
        deadline = time.monotonic() + timeout * SLOW
        while b"\n" not in self.buf:
            if self.eof:
                raise AssertionError("%s: EOF; partial %r" %
                                     (self.label, bytes(self.buf)))
            try:
                self._fill(deadline)
            except socket.timeout:
                raise AssertionError("%s: no line within %ss; partial %r" %
                                     (self.label, timeout * SLOW,
                                      bytes(self.buf))) from None
        i = self.buf.index(b"\n") + 1
        line = bytes(self.buf[:i])
        del self.buf[:i]
        return line

    def expect_eof(self, timeout=WAIT):
        """Nothing more, then the server closes."""
        deadline = time.monotonic() + timeout * SLOW
        try:
            while not self.eof:
                self._fill(deadline)
        except socket.timeout:
            raise AssertionError("%s: not closed within %ss" %
                                 (self.label, timeout * SLOW)) from None
        except ConnectionResetError:
            self.eof = True
        return bytes(self.buf)

    def quiet(self, wait=QUIET):
        """Assert nothing arrives for a while (scaled under valgrind)."""
        deadline = time.monotonic() + wait * harness.QUIET_SLOW
        try:
            while not self.buf and not self.eof:
                self._fill(deadline)
        except socket.timeout:
            pass
        if self.buf or self.eof:
            raise AssertionError("%s: unexpected %r%s" % (
                self.label, bytes(self.buf), " and EOF" if self.eof else ""))

    def who(self):
        """Send /who and return its reply: proves what came before it."""
        self.send(b"/who\n")
        return self.line()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class UdpClient:
    """A UDP participant: one datagram is one line."""

    def __init__(self, sock, label):
        self.sock = sock
        self.label = label
        self.nick = None

    def send(self, data):
        self.sock.send(data)

    def line(self, timeout=WAIT):
        self.sock.settimeout(timeout * SLOW)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("%s: no datagram within %ss" %
                                 (self.label, timeout * SLOW)) from None
        if not (data.endswith(b"\n") and data.count(b"\n") == 1):
            raise AssertionError("%s: datagram is not one line: %r" %
                                 (self.label, data))
        return data

    def quiet(self, wait=QUIET):
        self.sock.settimeout(wait * harness.QUIET_SLOW)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        raise AssertionError("%s: unexpected datagram %r" % (self.label, data))

    def drain(self):
        """Discard (and return) the datagrams already waiting."""
        got = []
        while select_ready(self.sock):
            got.append(self.sock.recv(65536))
        return got

    def challenge(self, payload=b"hello\n"):
        """Send something as a stranger; returns the token offered."""
        self.send(payload)
        reply = self.line()
        m = CHALLENGE_RE.match(reply)
        if not m:
            raise AssertionError("%s: expected the join challenge, got %r" %
                                 (self.label, reply))
        return m.group(1)

    def who(self):
        self.send(b"/who\n")
        return self.line()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ChatTest(unittest.TestCase):
    """One fresh daemon per test; helpers to join and to read."""

    server_conf = ""
    chat_conf = ""
    unix = False

    def setUp(self):
        self.server = harness.Server(config(self.server_conf, self.chat_conf,
                                            unix=self.unix))
        self.streams = []
        self.udps = []
        self.exit_checked = False

    def tearDown(self):
        try:
            self.empty_room()
        finally:
            for c in self.streams + self.udps:
                c.close()
            try:
                self.server.close()
            except AssertionError:
                if not self.exit_checked:
                    raise       # else the test has reported the exit
            finally:
                for f in (self.server.proc.stdout, self.server.proc.stderr):
                    if f is not None:
                        f.close()

    def empty_room(self):
        """Everyone leaves; a probe sees the room empty and quits."""
        if self.server.proc.poll() is not None:
            return
        for c in self.streams:
            c.close()
        for u in self.udps:
            try:
                u.send(b"/quit\n")
            except OSError:
                pass
        try:
            probe = Client(self.server.connect("chat"), "probe")
        except OSError:
            return          # close() will report the daemon's state
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
            probe.expect_eof()
        except (AssertionError, OSError):
            pass
        finally:
            probe.close()

    # -- joining

    def connect(self, listener="chat"):
        """A new stream participant; returns it after its welcome."""
        c = Client(self.server.connect(listener),
                   "%s#%d" % (listener, len(self.streams)))
        self.streams.append(c)
        m = WELCOME_RE.match(c.line())
        self.assertTrue(m, "no welcome")
        c.nick = m.group(1).decode()
        return c

    def join_udp(self, listener="chat-udp"):
        """A new UDP participant, through the challenge; after welcome."""
        u = UdpClient(self.server.udp(listener), "udp#%d" % len(self.udps))
        self.udps.append(u)
        token = u.challenge()
        u.send(b"/join " + token + b"\n")
        reply = u.line()
        m = WELCOME_RE.match(reply)
        self.assertTrue(m, "no UDP welcome: %r" % reply)
        u.nick = m.group(1).decode()
        return u

    def room(self, n, listener="chat"):
        """n stream participants, each having read every later join."""
        people = []
        for _ in range(n):
            c = self.connect(listener)
            for p in people:
                self.assertEqual(p.line(), b"*** %s has joined\n" %
                                 c.nick.encode())
            people.append(c)
        return people

    def expect(self, client, *lines):
        for want in lines:
            got = client.line()
            self.assertEqual(got, want, "%s" % client.label)

    def until(self, client, want, allowed=rb"\A\*\*\* "):
        """Read lines until want; the ones skipped must match allowed."""
        skipped = []
        while True:
            line = client.line()
            if line == want:
                return skipped
            self.assertRegex(line, allowed, "%s: waiting for %r" %
                             (client.label, want))
            skipped.append(line)

    def who_reply(self, client):
        """Send /who; skip notices before its reply; return the reply."""
        client.send(b"/who\n")
        while True:
            line = client.line()
            if line.startswith(b"*** Users ("):
                return line
            self.assertTrue(line.startswith(b"*** "), line)

    def expect_nothing_before_who(self, client, count=None):
        """The next line client gets is the /who reply (no echo etc.)."""
        got = client.who()
        self.assertTrue(got.startswith(b"*** Users ("),
                        "%s got %r before its /who reply" %
                        (client.label, got))
        if count is not None:
            self.assertTrue(got.startswith(b"*** Users (%d): " % count), got)
        return got


class TestBasics(ChatTest):
    """The README "Chat" rows, one by one, with exact bytes."""

    def test_welcome_and_join_notice(self):
        s = self.server.connect("chat")
        self.streams.append(Client(s, "raw"))
        self.assertEqual(harness.recv_line(s),
                         b"*** Welcome to echochat, guest1. "
                         b"Type /help for help.\n")
        b = self.connect()
        self.assertEqual(b.nick, "guest2")
        self.assertEqual(harness.recv_line(s), b"*** guest2 has joined\n")
        self.expect_nothing_before_who(b, 2)

    def test_message_and_no_echo_to_sender(self):
        a, b, c = self.room(3)
        a.send(b"Hello, room!\n")
        self.expect(b, b"<guest1> Hello, room!\n")
        self.expect(c, b"<guest1> Hello, room!\n")
        self.assertEqual(self.expect_nothing_before_who(a),
                         b"*** Users (3): guest1, guest2, guest3\n")

    def test_spaces_and_tabs_inside_text_are_kept(self):
        a, b = self.room(2)
        a.send(b"  indented\twith tab  \n")
        line = b.line()
        self.assertTrue(line.startswith(b"<guest1> "), line)
        self.assertIn(b"indented\twith tab", line)

    def test_me(self):
        a, b = self.room(2)
        a.send(b"/me waves\n")
        self.expect(b, b"* guest1 waves\n")
        self.expect_nothing_before_who(a)

    def test_nick_both_sides(self):
        a, b, c = self.room(3)
        a.send(b"/nick alice\n")
        self.expect(a, b"*** You are now alice\n")
        self.expect(b, b"*** guest1 is now known as alice\n")
        self.expect(c, b"*** guest1 is now known as alice\n")
        a.send(b"hi\n")
        self.expect(b, b"<alice> hi\n")
        self.expect(c, b"<alice> hi\n")
        self.assertEqual(self.expect_nothing_before_who(a),
                         b"*** Users (3): alice, guest2, guest3\n")

    def test_nick_unique_ignoring_case(self):
        a, b, c = self.room(3)
        a.send(b"/nick Alice\n")
        self.expect(a, b"*** You are now Alice\n")
        self.expect(b, b"*** guest1 is now known as Alice\n")
        self.expect(c, b"*** guest1 is now known as Alice\n")
        for attempt in (b"aLiCe", b"ALICE", b"alice", b"GUEST3", b"Guest3"):
            b.send(b"/nick " + attempt + b"\n")
            self.expect(b, b"*** error: nick " + attempt +
                        b" is already in use\n")
        # Nobody heard of the failed attempts.
        self.assertEqual(self.expect_nothing_before_who(c),
                         b"*** Users (3): Alice, guest2, guest3\n")
        self.expect_nothing_before_who(a)
        # One's own nick in another case is not "in use".
        b.send(b"/nick GUEST2\n")
        self.expect(b, b"*** You are now GUEST2\n")
        self.expect(a, b"*** guest2 is now known as GUEST2\n")
        self.expect(c, b"*** guest2 is now known as GUEST2\n")
        a.send(b"/nick alice\n")
        self.expect(a, b"*** You are now alice\n")
        self.expect(b, b"*** Alice is now known as alice\n")

    def test_nick_errors(self):
        a, b = self.room(2)
        cases = [
            (b"/nick\n", b"*** error: usage: /nick NAME\n"),
            (b"/nick   \n", b"*** error: usage: /nick NAME\n"),
            (b"/nick two words\n", b"*** error: usage: /nick NAME\n"),
            (b"/nick bad!name\n",
             b"*** error: invalid nick (1-16 of A-Z a-z 0-9 _ -)\n"),
            (b"/nick caf\xc3\xa9\n",
             b"*** error: invalid nick (1-16 of A-Z a-z 0-9 _ -)\n"),
            (b"/nick " + b"x" * 17 + b"\n",
             b"*** error: invalid nick (1-16 of A-Z a-z 0-9 _ -)\n"),
        ]
        for send, want in cases:
            a.send(send)
            self.expect(a, want)
        self.expect_nothing_before_who(b)       # b heard nothing
        longest = b"Ab_9-" + b"x" * 11
        a.send(b"/nick " + longest + b"\n")
        self.expect(a, b"*** You are now " + longest + b"\n")
        self.expect(b, b"*** guest1 is now known as " + longest + b"\n")

    def test_who_sorted_with_count(self):
        a = self.connect()
        self.assertEqual(a.who(), b"*** Users (1): guest1\n")
        b, c, d = self.room(3)
        # With workers, joins on other loops may reach a in either order.
        self.assertEqual(sorted(a.line() for _ in range(3)),
                         [b"*** guest%d has joined\n" % n for n in (2, 3, 4)])
        renames = ((a, b"carol"), (b, b"alice"), (d, b"bob"))
        seen = {id(x): [] for x in (a, b, c, d)}
        for who, nick in renames:
            who.send(b"/nick " + nick + b"\n")
            seen[id(who)] += self.until(
                who, b"*** You are now " + nick + b"\n",
                rb"\A\*\*\* guest[0-9] is now known as [a-z]+\n")
        # With workers, a rename on another loop reaches each participant
        # in its own time: /who once it has seen every other rename.
        for x in (a, b, c, d):
            want = {b"*** %s is now known as %s\n" % (w.nick.encode(), n)
                    for w, n in renames if w is not x}
            got = want.intersection(seen[id(x)])
            while got != want:
                line = x.line()
                self.assertIn(line, want, x.label)
                got.add(line)
            self.assertEqual(self.who_reply(x),
                             b"*** Users (4): alice, bob, carol, guest3\n")

    def test_msg_both_sides(self):
        a, b, c = self.room(3)
        a.send(b"/nick alice\n")
        self.expect(a, b"*** You are now alice\n")
        b.send(b"/nick bob\n")
        self.expect(b, b"*** guest1 is now known as alice\n",
                    b"*** You are now bob\n")
        self.expect(c, b"*** guest1 is now known as alice\n",
                    b"*** guest2 is now known as bob\n")
        self.expect(a, b"*** guest2 is now known as bob\n")
        a.send(b"/msg bob meet me at noon\n")
        self.expect(b, b"*alice* meet me at noon\n")
        self.expect(a, b"-> *bob* meet me at noon\n")
        self.expect_nothing_before_who(c)       # c saw nothing of it
        self.expect_nothing_before_who(b)
        self.expect_nothing_before_who(a)

    def test_msg_errors(self):
        a, b = self.room(2)
        for send, want in [
                (b"/msg nobody hi\n", b"*** error: no such user nobody\n"),
                (b"/msg\n", b"*** error: usage: /msg NAME TEXT\n"),
                (b"/msg guest2\n", b"*** error: usage: /msg NAME TEXT\n"),
                (b"/msg guest2   \n", b"*** error: usage: /msg NAME TEXT\n")]:
            a.send(send)
            self.expect(a, want)
        self.expect_nothing_before_who(b)

    def test_quit_without_reason(self):
        a, b = self.room(2)
        a.send(b"/quit\n")
        self.expect(a, b"*** Bye\n")
        self.assertEqual(a.expect_eof(), b"")
        self.expect(b, b"*** guest1 has left\n")
        self.assertEqual(b.who(), b"*** Users (1): guest2\n")

    def test_quit_with_reason(self):
        a, b, c = self.room(3)
        a.send(b"/quit gone fishing\n")
        self.expect(a, b"*** Bye\n")
        self.assertEqual(a.expect_eof(), b"")
        self.expect(b, b"*** guest1 has left (gone fishing)\n")
        self.expect(c, b"*** guest1 has left (gone fishing)\n")

    def test_quit_discards_what_follows(self):
        a, b = self.room(2)
        a.send(b"/quit\nafter quit\n")
        self.expect(a, b"*** Bye\n")
        self.assertEqual(a.expect_eof(), b"")
        self.expect(b, b"*** guest1 has left\n")
        self.expect_nothing_before_who(b, 1)

    def test_disconnect_notice(self):
        a, b, c = self.room(3)
        a.sock.close()
        self.expect(b, b"*** guest1 has left\n")
        self.expect(c, b"*** guest1 has left\n")
        # Half-close: the server sees EOF, the participant leaves.
        b.sock.shutdown(socket.SHUT_WR)
        self.expect(c, b"*** guest2 has left\n")
        self.assertEqual(b.expect_eof(), b"")
        self.assertEqual(c.who(), b"*** Users (1): guest3\n")

    def test_help(self):
        a, b = self.room(2)
        a.send(b"/help\n/who\n")
        lines = []
        while True:
            line = a.line()
            if line.startswith(b"*** Users ("):
                break
            lines.append(line)
        print("\n/help transcript:\n" + b"".join(lines).decode())
        self.assertGreaterEqual(len(lines), 2)
        for line in lines:
            self.assertTrue(line.startswith(b"*** "), line)
        text = b"".join(lines)
        for cmd in (b"/me", b"/nick", b"/who", b"/msg", b"/quit", b"/help"):
            self.assertIn(cmd, text)
        self.expect_nothing_before_who(b)

    def test_unknown_command(self):
        a, b = self.room(2)
        a.send(b"/foo bar baz\n")
        self.expect(a, b"*** error: unknown command /foo (try /help)\n")
        a.send(b"/xyzzy\n")
        self.expect(a, b"*** error: unknown command /xyzzy (try /help)\n")
        self.expect_nothing_before_who(b)

    def test_double_slash_sends_slash_text(self):
        a, b = self.room(2)
        a.send(b"//text\n//me is not an action\n//\n")
        self.expect(b, b"<guest1> /text\n", b"<guest1> /me is not an action\n",
                    b"<guest1> /\n")
        self.expect_nothing_before_who(a)

    def test_empty_lines_ignored(self):
        a, b = self.room(2)
        a.send(b"\n\r\n   \n\t\t\r\n \t \n\x1b\x07\n")
        a.send(b"after the blanks\n")
        self.expect(b, b"<guest1> after the blanks\n")
        self.expect_nothing_before_who(a)       # no error for blanks
        self.expect_nothing_before_who(b)

    def test_crlf_and_lf_end_lines(self):
        a, b = self.room(2)
        a.send(b"one\r\ntwo\nthree\r\n")
        self.expect(b, b"<guest1> one\n", b"<guest1> two\n",
                    b"<guest1> three\n")
        # Split across sends, CR and LF in different segments.
        for piece in (b"fo", b"ur\r", b"\n", b"fi", b"ve", b"\n"):
            a.send(piece)
            time.sleep(0.02)
        self.expect(b, b"<guest1> four\n", b"<guest1> five\n")
        # A lone CR is not a terminator (it is a control byte: removed).
        a.send(b"six\rseven\n")
        self.expect(b, b"<guest1> sixseven\n")
        a.send(b"/nick crlf\r\n")
        self.expect(a, b"*** You are now crlf\n")
        self.expect(b, b"*** guest1 is now known as crlf\n")

    def test_guest_names_never_reuse_a_name_in_use(self):
        a, b = self.room(2)                     # guest1, guest2
        a.send(b"/nick guest3\n")               # takes guest3 early
        self.expect(a, b"*** You are now guest3\n")
        self.expect(b, b"*** guest1 is now known as guest3\n")
        b.send(b"/nick GUEST5\n")               # ... and guest5, other case
        self.expect(b, b"*** You are now GUEST5\n")
        self.expect(a, b"*** guest2 is now known as GUEST5\n")
        in_use = {"guest3", "guest5"}
        seen = set()
        for _ in range(4):
            c = self.connect()
            self.assertRegex(c.nick, r"\Aguest[0-9]+\Z")
            self.assertNotIn(c.nick.lower(), in_use,
                             "newcomer named after a participant")
            in_use.add(c.nick.lower())
            seen.add(c.nick)
        self.assertEqual(len(seen), 4)
        who = a.who()
        while not who.startswith(b"*** Users"):
            who = a.line()
        names = who.decode().split(": ", 1)[1].strip().split(", ")
        self.assertEqual(len(names), 6)
        self.assertEqual(len({n.lower() for n in names}), 6, who)


class TestLineLimits(ChatTest):
    """max_line = 64: overlong lines get the error and are discarded."""

    server_conf = "max_line = 64\n"
    ERROR = b"*** error: line too long (max 64 bytes)\n"

    def test_overlong_line(self):
        a, b = self.room(2)
        a.send(b"x" * 64 + b"\n")               # exactly max_line: fine
        self.expect(b, b"<guest1> " + b"x" * 64 + b"\n")
        a.send(b"y" * 63 + b"\r\n")             # CR is not counted
        self.expect(b, b"<guest1> " + b"y" * 63 + b"\n")
        a.send(b"z" * 64 + b"\r\n")
        self.expect(b, b"<guest1> " + b"z" * 64 + b"\n")
        a.send(b"w" * 65 + b"\n")               # one too many
        self.expect(a, self.ERROR)
        a.send(b"next line works\n")
        self.expect(b, b"<guest1> next line works\n")
        a.send(b"v" * 5000 + b"\nand again\n")
        self.expect(a, self.ERROR)
        self.expect(b, b"<guest1> and again\n")
        self.expect_nothing_before_who(a)
        self.expect_nothing_before_who(b)

    def test_overlong_line_split_across_sends(self):
        a, b = self.room(2)
        a.send(b"start:" + b"s" * 34)           # 40 bytes, no LF yet
        time.sleep(0.05)
        a.send(b"m" * 40)                       # 80: over the limit
        time.sleep(0.05)
        a.send(b"this tail belongs to the long line")
        time.sleep(0.05)
        a.send(b" and so does this\nthe next line\n")
        self.expect(a, self.ERROR)
        self.expect(b, b"<guest1> the next line\n")
        # Many small pieces; the terminator in its own send.
        for _ in range(20):
            a.send(b"p" * 10)
            time.sleep(0.01)
        a.send(b"\n")
        a.send(b"fine again\n")
        self.expect(a, self.ERROR)
        self.expect(b, b"<guest1> fine again\n")
        self.expect_nothing_before_who(a)       # the error came once
        self.expect_nothing_before_who(b)

    def test_command_too_long(self):
        a, b = self.room(2)
        a.send(b"/msg guest2 " + b"q" * 60 + b"\n")
        self.expect(a, self.ERROR)
        self.expect_nothing_before_who(b)

    def test_udp_overlong_line(self):
        a = self.connect()
        u = self.join_udp()
        self.expect(a, b"*** guest2 has joined\n")
        u.send(b"u" * 65 + b"\nshort one\n")
        self.assertEqual(u.line(), self.ERROR)
        self.expect(a, b"<guest2> short one\n")
        self.expect_nothing_before_who(a)


class TestSanitizing(ChatTest):
    """Telnet commands and control bytes never reach another user."""

    IAC, SB, SE, WILL, WONT, DO, DONT, IP = 255, 250, 240, 251, 252, 253, \
        254, 244

    def test_telnet_iac_sequences_removed(self):
        a, b = self.room(2)
        iac = bytes([self.IAC])
        payload = (b"he" + iac + bytes([self.WILL, 1]) +        # IAC WILL ECHO
                   b"ll" + iac + bytes([self.DO, 3]) +          # IAC DO SGA
                   b"o " + iac + bytes([self.SB, 24, 1]) +      # IAC SB TTYPE
                   b"xterm" + iac + bytes([self.SE]) +          # ... IAC SE
                   b"wor" + iac + bytes([self.IP]) +            # IAC IP
                   b"ld" + iac + iac +                          # IAC IAC
                   b"!" + iac + bytes([self.WONT, 31]) +
                   iac + bytes([self.DONT, 34]) + b"\r\n")
        a.send(payload)
        line = b.line()
        assert_clean(self, line)
        self.assertEqual(line, b"<guest1> hello world!\n")

    def test_control_bytes_removed(self):
        a, b = self.room(2)
        a.send(b"\x1b[2J\x1b[31mred\x1b[0m\x07\x00bell\x7f\x08\tTAB\x01\x1f"
               b"\r\n")
        line = b.line()
        assert_clean(self, line)
        self.assertEqual(line, b"<guest1> [2J[31mred[0mbell\tTAB\n")
        a.send(b"/me \x1b]0;pwned\x07dances\xff\xfb\x01\n")
        line = b.line()
        assert_clean(self, line)
        self.assertEqual(line, b"* guest1 ]0;pwneddances\n")
        a.send(b"/msg guest2 \x1b[Hsecret\xff\xff\x00\n")
        line = b.line()
        assert_clean(self, line)
        self.assertEqual(line, b"*guest1* [Hsecret\n")
        # The IAC WILL ECHO in the /me line is refused: IAC DONT ECHO.
        self.expect(a, b"\xff\xfe\x01-> *guest2* [Hsecret\n")
        a.send(b"/quit \x1b[5mbye\xff\xf4\x1b\n")
        self.expect(a, b"*** Bye\n")
        line = b.line()
        assert_clean(self, line)
        self.assertEqual(line, b"*** guest1 has left ([5mbye)\n")

    def test_udp_text_cleaned(self):
        a = self.connect()
        u = self.join_udp()
        self.expect(a, b"*** guest2 has joined\n")
        u.send(b"x\x1b[1my\xff\xfd\x18z\xff\xff\x00\r\n")
        line = a.line()
        assert_clean(self, line)
        self.assertEqual(line, b"<guest2> x[1myz\n")


class TestTransports(ChatTest):
    """TCP, Unix-socket and UDP participants share one room."""

    unix = True

    def test_tcp_unix_udp_in_one_room(self):
        t = self.connect("chat")
        x = self.connect("chat-unix")
        self.assertEqual((t.nick, x.nick), ("guest1", "guest2"))
        self.expect(t, b"*** guest2 has joined\n")
        u = self.join_udp()
        self.assertEqual(u.nick, "guest3")
        self.expect(t, b"*** guest3 has joined\n")
        self.expect(x, b"*** guest3 has joined\n")
        t.send(b"from tcp\n")
        self.expect(x, b"<guest1> from tcp\n")
        self.assertEqual(u.line(), b"<guest1> from tcp\n")
        x.send(b"from unix\n")
        self.expect(t, b"<guest2> from unix\n")
        self.assertEqual(u.line(), b"<guest2> from unix\n")
        u.send(b"from udp\n")
        self.expect(t, b"<guest3> from udp\n")
        self.expect(x, b"<guest3> from udp\n")
        # Each line to the UDP participant is one datagram.
        u.send(b"/who\n")
        self.assertEqual(u.line(), b"*** Users (3): guest1, guest2, guest3\n")
        u.send(b"/help\n")
        first = u.line()
        self.assertTrue(first.startswith(b"*** "), first)
        u.send(b"/who\n")
        while True:
            line = u.line()
            if line.startswith(b"*** Users"):
                break
            self.assertTrue(line.startswith(b"*** "), line)
        # /msg across transports, /nick seen everywhere.
        u.send(b"/msg guest2 psst\n")
        self.assertEqual(u.line(), b"-> *guest2* psst\n")
        self.expect(x, b"*guest3* psst\n")
        x.send(b"/nick unixer\n")
        self.expect(x, b"*** You are now unixer\n")
        self.expect(t, b"*** guest2 is now known as unixer\n")
        self.assertEqual(u.line(), b"*** guest2 is now known as unixer\n")
        t.send(b"/me waves\n")
        self.expect(x, b"* guest1 waves\n")
        self.assertEqual(u.line(), b"* guest1 waves\n")
        # The UDP participant quits.
        u.send(b"/quit off to lunch\n")
        self.assertEqual(u.line(), b"*** Bye\n")
        self.expect(t, b"*** guest3 has left (off to lunch)\n")
        self.expect(x, b"*** guest3 has left (off to lunch)\n")
        self.assertEqual(t.who(), b"*** Users (2): guest1, unixer\n")
        # Gone: the next datagram gets the challenge again.
        self.assertRegex(u.challenge(b"still there?\n"), rb"[0-9a-f]{16}")
        u.quiet()
        self.expect_nothing_before_who(t)
        self.expect_nothing_before_who(x)

    def test_udp_multiline_datagram(self):
        a = self.connect()
        u = self.join_udp()
        self.expect(a, b"*** guest2 has joined\n")
        u.send(b"first\nsecond\r\n\n/me nods\nlast")
        self.expect(a, b"<guest2> first\n", b"<guest2> second\n",
                    b"* guest2 nods\n", b"<guest2> last\n")
        u.send(b"/who\n/nick udpguy\n")
        self.assertEqual(u.line(), b"*** Users (2): guest1, guest2\n")
        self.assertEqual(u.line(), b"*** You are now udpguy\n")
        self.expect(a, b"*** guest2 is now known as udpguy\n")
        u.quiet()

    def test_udp_stranger_only_ever_gets_challenges(self):
        a, b = self.room(2)
        s = UdpClient(self.server.udp("chat-udp"), "stranger")
        self.udps.append(s)
        sent = 0
        stranger_says = [b"hello?\n", b"/who\n", b"/nick evil\n",
                         b"/join 0000000000000000\n", b"/join nonsense\n",
                         b"/msg guest1 hi\n", b"/quit\n", b"spam\nspam\n"]
        tokens = set()
        for i, what in enumerate(stranger_says):
            a.send(b"tcp chat %d\n" % i)
            self.expect(b, b"<guest1> tcp chat %d\n" % i)
            b.send(b"reply %d\n" % i)
            self.expect(a, b"<guest2> reply %d\n" % i)
            s.send(what)
            sent += 1
            reply = s.line()
            m = CHALLENGE_RE.match(reply)
            self.assertTrue(m, "stranger got %r" % reply)
            tokens.add(m.group(1))
        a.send(b"after the stranger\n")
        self.expect(b, b"<guest1> after the stranger\n")
        s.quiet()
        # The room never heard of it.
        self.assertEqual(a.who(), b"*** Users (2): guest1, guest2\n")
        self.expect_nothing_before_who(b, 2)
        s.quiet()
        self.assertLessEqual(len(tokens), 2)    # stable (period may roll)

    def test_udp_token_is_bound_to_the_address(self):
        a = self.connect()
        u1 = UdpClient(self.server.udp("chat-udp"), "u1")
        u2 = UdpClient(self.server.udp("chat-udp"), "u2")
        self.udps += [u1, u2]
        t1 = u1.challenge()
        t2 = u2.challenge()
        self.assertNotEqual(t1, t2)
        u2.send(b"/join " + t1 + b"\n")         # someone else's token
        self.assertTrue(CHALLENGE_RE.match(u2.line()))
        u2.send(b"/join " + t2 + b"\n")
        m = WELCOME_RE.match(u2.line())
        self.assertTrue(m)
        self.expect(a, b"*** %s has joined\n" % m.group(1))
        u1.quiet()
        self.assertEqual(a.who(), b"*** Users (2): guest1, guest2\n")


class TestUdpLimits(ChatTest):
    """[chat] udp_peers_max and udp_peer_timeout."""

    chat_conf = "udp_peers_max = 2\nudp_peer_timeout = 1s\n"

    def test_udp_peers_max(self):
        a = self.connect()
        u1 = self.join_udp()
        u2 = self.join_udp()
        self.expect(a, b"*** guest2 has joined\n", b"*** guest3 has joined\n")
        u3 = UdpClient(self.server.udp("chat-udp"), "u3")
        self.udps.append(u3)
        token = u3.challenge()
        u3.send(b"/join " + token + b"\n")
        self.assertEqual(u3.line(), b"*** error: server full\n")
        # TCP is not limited by it.
        b = self.connect()
        self.assertEqual(b.nick, "guest4")
        self.expect(a, b"*** guest4 has joined\n")
        self.assertEqual(a.who(),
                         b"*** Users (4): guest1, guest2, guest3, guest4\n")
        self.assertEqual(u1.line(), b"*** guest3 has joined\n")
        for u in (u1, u2):
            self.assertEqual(u.line(), b"*** guest4 has joined\n")
        # A place frees up: now u3 gets in.
        u1.send(b"/quit\n")
        self.assertEqual(u1.line(), b"*** Bye\n")
        self.expect(a, b"*** guest2 has left\n")
        u3.send(b"/join " + token + b"\n")
        m = WELCOME_RE.match(u3.line())
        self.assertTrue(m, "u3 could not join after a place freed up")
        self.expect(a, b"*** %s has joined\n" % m.group(1))

    def test_udp_peer_timeout(self):
        a = self.connect()
        silent = self.join_udp()
        chatty = self.join_udp()
        self.expect(a, b"*** guest2 has joined\n", b"*** guest3 has joined\n")
        self.assertEqual(silent.line(), b"*** guest3 has joined\n")
        t0 = time.monotonic()
        left = None
        i = 0
        # chatty talks every 0.3 s; silent says nothing.
        while time.monotonic() - t0 < 4 * SLOW:
            chatty.send(b"ping %d\n" % i)
            line = a.line()
            if line == b"*** guest2 has left\n":
                left = time.monotonic() - t0
                self.expect(a, b"<guest3> ping %d\n" % i)
                break
            self.assertEqual(line, b"<guest3> ping %d\n" % i)
            i += 1
            time.sleep(0.3)
        self.assertIsNotNone(left, "silent UDP participant never timed out")
        self.assertGreaterEqual(left, 0.9)
        self.assertLess(left, 3.0 * SLOW)
        print("\nsilent UDP participant left after %.2fs (timeout 1s)" % left)
        self.assertEqual(a.who(), b"*** Users (2): guest1, guest3\n")
        # chatty now stops and times out as well.
        self.expect(a, b"*** guest3 has left\n")
        self.assertEqual(a.who(), b"*** Users (1): guest1\n")
        # A timed-out address is a stranger again.
        silent.drain()          # the pings it was sent while a member
        self.assertRegex(silent.challenge(b"back?\n"), rb"\A[0-9a-f]{16}\Z")


class TestFloodControl(ChatTest):
    """chat_rate / chat_burst: a participant's lines beyond its budget are
    dropped, with one "*** error: slow down" per episode."""

    chat_conf = "chat_rate = 5\nchat_burst = 10\n"

    def test_excess_dropped_with_one_notice(self):
        a, b = self.room(2)
        a.send(b"".join(b"flood %d\n" % i for i in range(50)))
        self.assertEqual(a.line(), b"*** error: slow down\n")
        got = []
        while True:
            try:
                line = b.line(timeout=QUIET)
            except (AssertionError, socket.timeout):
                break
            got.append(line)
        # The burst gets through in order; the rest was dropped.
        self.assertGreaterEqual(len(got), 10)
        self.assertLessEqual(len(got), 12)
        self.assertEqual(got[:10], [b"<guest1> flood %d\n" % i
                                    for i in range(10)])
        a.quiet()           # one notice, not one per dropped line
        time.sleep(1.0)     # five more lines earned
        a.send(b"after a pause\n")
        self.assertEqual(b.line(), b"<guest1> after a pause\n")
        a.quiet()
        self.server.wait_log(r"chat: guest1 sends more than chat_rate")

    def test_each_episode_is_told_once(self):
        a, b = self.room(2)
        for episode in range(2):
            a.send(b"".join(b"e%d %d\n" % (episode, i) for i in range(30)))
            self.assertEqual(a.line(), b"*** error: slow down\n")
            a.quiet()
            time.sleep(2.2)     # refill fully: the episode is over
        got = []
        while True:
            try:
                got.append(b.line(timeout=QUIET))
            except (AssertionError, socket.timeout):
                break
        self.assertGreaterEqual(len(got), 20)   # two bursts of 10

    def test_others_are_not_slowed(self):
        a, b, c = self.room(3)
        a.send(b"".join(b"x%d\n" % i for i in range(40)))
        self.assertEqual(a.line(), b"*** error: slow down\n")
        c.send(b"I am fine\n")
        self.until(b, b"<guest3> I am fine\n", allowed=rb"\A<guest1> x\d+\n")


class TestSlowReader(ChatTest):
    """A participant that never reads is cut; the others never wait."""

    # Flood control would throttle the talkers long before the reader's
    # queue fills; it has tests of its own.
    server_conf = "output_limit = 64k\n"
    chat_conf = "chat_rate = 0\n"

    def test_never_reading_participant_is_cut(self):
        a, b = self.room(2)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        raw.settimeout(WAIT * SLOW)
        raw.connect(self.server.addr("chat")[1])
        slow = Client(raw, "slow")
        self.streams.append(slow)
        self.expect(a, b"*** guest3 has joined\n")
        self.expect(b, b"*** guest3 has joined\n")
        batch = 16
        filler = b"f" * 1000
        sent = 0
        worst = 0.0
        cut = None
        deadline = time.monotonic() + 30 * SLOW
        seq = 0
        while cut is None and time.monotonic() < deadline:
            t0 = time.monotonic()
            for _ in range(batch):
                a.send(b"%06d " % seq + filler + b"\n")
                seq += 1
                sent += 1007
            want = seq - batch
            while want < seq:
                line = b.line(1)
                if line == b"*** guest3 has left (too slow)\n":
                    cut = sent
                    continue
                self.assertEqual(line, b"<guest1> %06d " % want + filler +
                                 b"\n")
                want += 1
            worst = max(worst, time.monotonic() - t0)
            self.assertLess(time.monotonic() - t0, 1.0 * SLOW,
                            "the others waited for the slow reader")
        self.assertIsNotNone(cut, "slow reader never cut")
        print("\nslow reader cut after %d bytes sent; worst batch of %d "
              "lines took %.3fs" % (cut, batch, worst))
        self.expect(a, b"*** guest3 has left (too slow)\n")
        self.server.wait_log(r"output limit \(65536 bytes\) exceeded")
        # Life goes on, promptly.
        for i in range(20):
            t0 = time.monotonic()
            a.send(b"after %d\n" % i)
            self.expect(b, b"<guest1> after %d\n" % i)
            self.assertLess(time.monotonic() - t0, 1.0 * SLOW)
        self.assertEqual(a.who(), b"*** Users (2): guest1, guest2\n")
        # The slow one's connection is closed.
        raw.settimeout(WAIT * SLOW)
        try:
            while raw.recv(65536):
                pass
        except ConnectionResetError:
            pass


class TestLoad(ChatTest):
    """Many participants at once: every line exactly once, in order."""

    def run_room(self, tcp_n, udp_n, lines, deadline_s):
        """tcp_n + udp_n participants each send `lines` lines; check that
        every other participant got each exactly once, in order."""
        deadline = time.monotonic() + deadline_s * SLOW
        people = []
        for i in range(tcp_n):
            c = Client(self.server.connect("chat"), "tcp#%d" % i)
            self.streams.append(c)
            people.append(c)
        for _ in range(udp_n):
            people.append(self.join_udp())
        total = len(people)
        sel = selectors.DefaultSelector()
        states = []
        for p in people:
            udp = isinstance(p, UdpClient)
            st = {"p": p, "udp": udp, "buf": bytearray(), "lines": []}
            if udp:     # join_udp read the welcome already
                st["lines"].append(b"*** Welcome to echochat, %s. "
                                   b"Type /help for help." % p.nick.encode())
            p.sock.setblocking(False)
            sel.register(p.sock, selectors.EVENT_READ, st)
            states.append(st)

        def read_ready(timeout):
            for key, _ in sel.select(timeout):
                st = key.data
                sock = st["p"].sock
                while True:
                    try:
                        chunk = sock.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        break
                    if st["udp"]:
                        self.assertTrue(chunk.endswith(b"\n") and
                                        chunk.count(b"\n") == 1,
                                        "UDP datagram %r" % chunk)
                        st["lines"].append(chunk[:-1])
                        continue
                    if not chunk:
                        raise AssertionError("%s: server closed it" %
                                             st["p"].label)
                    st["buf"] += chunk
                    i = st["buf"].rfind(b"\n") + 1
                    if i:
                        st["lines"] += bytes(st["buf"][:i - 1]).split(
                            b"\n")
                        del st["buf"][:i]

        def pump(done, what):
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    got = sorted(len(st["lines"]) for st in states)
                    raise AssertionError("deadline passed waiting for %s "
                                         "(lines per participant: %s..%s)"
                                         % (what, got[0], got[-1]))
                read_ready(min(left, 0.5))

        def joined_all():
            joins = 0
            for st in states:
                if not st["lines"] or not st["lines"][0].startswith(
                        b"*** Welcome"):
                    return False
                joins += sum(1 for x in st["lines"]
                             if x.endswith(b" has joined"))
            return joins == total * (total - 1) // 2
        pump(joined_all, "welcomes and join notices")
        nicks = []
        for st in states:
            m = re.match(rb"\A\*\*\* Welcome to echochat, (guest[0-9]+)\. "
                         rb"Type /help for help\.\Z", st["lines"][0])
            self.assertTrue(m, st["lines"][0])
            nicks.append(m.group(1))
            for x in st["lines"][1:]:
                self.assertRegex(x, rb"\A\*\*\* guest[0-9]+ has joined\Z")
            st["lines"] = []
        self.assertEqual(len(set(nicks)), total)

        # Everyone sends its lines, interleaved, reading as it goes.
        t0 = time.monotonic()
        for k in range(lines):
            for p, nick in zip(people, nicks):
                msg = b"msg %s %d\n" % (nick, k)
                if isinstance(p, UdpClient):
                    p.sock.send(msg)
                else:
                    p.sock.settimeout(WAIT * SLOW)
                    p.sock.sendall(msg)
                    p.sock.setblocking(False)
            read_ready(0)
        expected = (total - 1) * lines
        pump(lambda: all(len(st["lines"]) >= expected for st in states),
             "%d lines at every participant" % expected)
        read_ready(0.05)
        elapsed = time.monotonic() - t0
        sel.close()
        for st, me in zip(states, nicks):
            self.assertEqual(st["buf"], b"", "partial line left over")
            per_sender = {}
            for x in st["lines"]:
                m = re.match(rb"\A<(guest[0-9]+)> msg (guest[0-9]+) "
                             rb"([0-9]+)\Z", x)
                self.assertTrue(m, "%s got %r" % (me, x))
                self.assertEqual(m.group(1), m.group(2))
                per_sender.setdefault(m.group(1), []).append(
                    int(m.group(3)))
            self.assertNotIn(me, per_sender, "%s got its own line" % me)
            self.assertEqual(len(per_sender), total - 1)
            for sender, seq in per_sender.items():
                self.assertEqual(seq, list(range(lines)),
                                 "%s saw %s's lines as %s" % (me, sender, seq))
        for p in people:
            p.sock.setblocking(True)
            p.sock.settimeout(WAIT * SLOW)
        return elapsed

    def test_100_participants_10_lines_each(self):
        n, m = (30, 5) if SLOW > 1 else (100, 10)
        elapsed = self.run_room(n, 0, m, 40)
        print("\n%d TCP participants x %d lines: %d deliveries in %.2fs" %
              (n, m, n * (n - 1) * m, elapsed))

    def test_5_udp_mixed_with_tcp(self):
        elapsed = self.run_room(5, 5, 5, 30)
        print("\n5 TCP + 5 UDP participants x 5 lines in %.2fs" % elapsed)


class TestShutdown(ChatTest):
    """SIGTERM: everyone is told, the daemon exits 0."""

    unix = True

    def wait_exit(self):
        """After SIGTERM: the daemon's own exit status."""
        try:
            rc = self.server.proc.wait(15 * SLOW)
        except Exception:
            self.server.kill()
            raise AssertionError("echochatd did not exit after SIGTERM")
        self.exit_checked = True
        return rc

    def exit_details(self):
        report = self.server.valgrind_report() if self.server.valgrind \
            else ""
        return "daemon log:\n%s\n%s" % (self.server.log()[-3000:], report)

    def test_sigterm_tells_everyone(self):
        t = self.connect("chat")
        x = self.connect("chat-unix")
        self.expect(t, b"*** guest2 has joined\n")
        u = self.join_udp()
        self.expect(t, b"*** guest3 has joined\n")
        self.expect(x, b"*** guest3 has joined\n")
        self.server.send_signal(signal.SIGTERM)
        got = {}
        for name, c in (("tcp", t), ("unix", x)):
            try:
                got[name] = c.expect_eof()      # everything until EOF
            except (AssertionError, OSError) as e:
                got[name] = "error: %s" % e
        try:
            got["udp"] = u.line()
        except AssertionError as e:
            got["udp"] = "error: %s" % e
        got["exit status"] = self.wait_exit()
        bye = b"*** server shutting down\n"
        self.assertEqual(got, {"tcp": bye, "unix": bye, "udp": bye,
                               "exit status": 0},
                         "after SIGTERM: what each participant received "
                         "until EOF, and the exit status; " +
                         self.exit_details())
        u.quiet()

    def test_sigterm_with_only_udp_participants(self):
        a = self.connect()
        u = self.join_udp()
        self.expect(a, b"*** guest2 has joined\n")
        a.send(b"/quit\n")
        self.expect(a, b"*** Bye\n")
        a.expect_eof()
        self.assertEqual(u.line(), b"*** guest1 has left\n")
        self.server.send_signal(signal.SIGTERM)
        self.assertEqual(u.line(), b"*** server shutting down\n")
        self.assertEqual(self.wait_exit(), 0, self.exit_details())


if __name__ == "__main__":
    harness.main()
