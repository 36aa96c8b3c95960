#!/usr/bin/env python3
"""test_rooms.py -- integration tests of chat rooms, topics and history
(README "Rooms"; echochatd.ini(5) `room`, `rooms_max`, `history`).

Every test starts its own echochatd with chat listeners on loopback port 0
and checks the exact lines each participant gets: /join #room and /part
with the leaving and joining notices in both rooms, /rooms and /list,
/who #room, /topic, case-insensitive names shown as first written, an
empty room vanishing with its topic, a listener's room staying (TCP, UDP
and Unix listeners alike), rooms_max, history at 0, 1, N and more than N
lines, for stream and UDP participants,
no line crossing rooms, a reload that changes a listener's room, a client
that never reads being cut at output_limit during a long replay while the
others go on, races of /join and /part against messages with workers = 2
(no line in the wrong room or twice, one winner when a room is made, a
replay that ends where the live lines begin), and `echochatd -t` refusing
bad room settings.

Waits scale with harness.SLOW; nothing assumes an order between lines
that come from different loops unless it waited for one.
"""
import re
import socket
import time
import unittest

import harness
import test_chat

SLOW = harness.SLOW
Client = test_chat.Client
UdpClient = test_chat.UdpClient
WELCOME_RE = test_chat.WELCOME_RE
STAMP_RE = re.compile(rb"\A\[([0-9]{2}):([0-9]{2})\] ")


def config(chat="", server="", extra=""):
    """TCP and UDP chat listeners in #lobby, and whatever extra adds."""
    return ("[server]\nlog_level = info\nshutdown_timeout = 2s\n" + server +
            "[chat]\nchat_rate = 0\n" + chat +
            "[listener chat]\nproto = tcp\nbind = 127.0.0.1:0\n"
            "handler = chat\n"
            "[listener chat-udp]\nproto = udp\nbind = 127.0.0.1:0\n"
            "handler = chat\n" + extra)


HELP_LISTENERS = ("[listener help]\nproto = tcp\nbind = 127.0.0.1:0\n"
                  "handler = chat\nroom = #Help\n"
                  "[listener help-udp]\nproto = udp\nbind = 127.0.0.1:0\n"
                  "handler = chat\nroom = #Help\n"
                  "[listener help-unix]\nproto = unix\n"
                  "bind = @DIR@/help.sock\nhandler = chat\nroom = #Help\n")


class RoomTest(test_chat.ChatTest):
    """One fresh daemon per test, configured by the class."""

    chat_conf = ""
    server_conf = ""
    extra_conf = ""

    def setUp(self):
        self.server = harness.Server(config(self.chat_conf, self.server_conf,
                                            self.extra_conf))
        self.streams = []
        self.udps = []
        self.exit_checked = False

    def join(self, client, room, count, others=(), shown=None):
        """client goes to room (shown as first written); others (there
        already) see it come.  Notices client had not read yet are
        skipped."""
        client.send(b"/join " + room.encode() + b"\n")
        self.until(client, b"*** You are now in %s (%d users)\n" % (
            (shown or room).encode(), count))
        for o in others:
            self.expect(o, b"*** %s has joined\n" % client.nick.encode())

    def rooms(self, client):
        """The /rooms reply, after notices not read yet."""
        client.send(b"/rooms\n")
        while True:
            line = client.line()
            if line.startswith(b"*** Rooms ("):
                return line
            self.assertTrue(line.startswith(b"*** "), line)


class TestRooms(RoomTest):
    """Each row of the rooms table, with exact bytes."""

    def test_join_and_part_notices_in_both_rooms(self):
        a, b, c = self.room(3)
        a.send(b"/join #Dev\n")
        self.expect(a, b"*** You are now in #Dev (1 users)\n")
        self.expect(b, b"*** guest1 has left for #Dev\n")
        self.expect(c, b"*** guest1 has left for #Dev\n")
        # Names ignore case and are shown as first written.
        b.send(b"/join #dev\n")
        self.expect(b, b"*** You are now in #Dev (2 users)\n")
        self.expect(a, b"*** guest2 has joined\n")
        self.expect(c, b"*** guest2 has left for #Dev\n")
        a.send(b"hello dev\n")
        self.expect(b, b"<guest1> hello dev\n")
        c.send(b"hello lobby\n")
        self.expect_nothing_before_who(a, 2)
        self.assertEqual(b.who(), b"*** Users (2): guest1, guest2\n")
        self.assertEqual(c.who(), b"*** Users (1): guest3\n")
        a.send(b"/part\n")
        self.expect(a, b"*** You are now in #lobby (2 users)\n")
        self.expect(b, b"*** guest1 has left for #lobby\n")
        self.expect(c, b"*** guest1 has joined\n")
        c.send(b"/me waves\n")
        self.expect(a, b"* guest3 waves\n")
        self.expect_nothing_before_who(b, 1)

    def test_join_errors(self):
        a, = self.room(1)
        for line, want in (
                (b"/join #lobby", b"*** error: you are already in #lobby"),
                (b"/join #LOBBY", b"*** error: you are already in #lobby"),
                (b"/part", b"*** error: you are already in #lobby"),
                (b"/join #", b"*** error: invalid room name (# and 1-32 of "
                 b"A-Z a-z 0-9 _ -)"),
                (b"/join #a.b", b"*** error: invalid room name (# and 1-32 "
                 b"of A-Z a-z 0-9 _ -)"),
                (b"/join #" + b"x" * 33, b"*** error: invalid room name "
                 b"(# and 1-32 of A-Z a-z 0-9 _ -)"),
                (b"/join lobby", b"*** error: usage: /join #ROOM"),
                (b"/join", b"*** error: usage: /join #ROOM"),
                (b"/who lobby", b"*** error: usage: /who [#ROOM]"),
                (b"/who #nowhere", b"*** error: no such room #nowhere")):
            a.send(line + b"\n")
            self.expect(a, want + b"\n")
        # 32 characters is a good name.
        self.join(a, "#" + "y" * 32, 1)

    def test_rooms_and_list(self):
        a, b, c = self.room(3)
        self.assertEqual(self.rooms(a), b"*** Rooms (1): #lobby (3)\n")
        self.join(b, "#b", 1)
        self.join(c, "#A", 1)
        self.until(a, b"*** guest3 has left for #A\n")
        want = b"*** Rooms (3): #A (1), #b (1), #lobby (1)\n"
        self.assertEqual(self.rooms(a), want)
        a.send(b"/list\n")
        self.expect(a, want)
        a.send(b"/LIST\n")
        self.expect(a, want)

    def test_who_other_room(self):
        a, b, c = self.room(3)
        self.join(b, "#dev", 1)
        self.join(c, "#Dev", 2, [b], shown="#dev")
        self.until(a, b"*** guest3 has left for #dev\n")
        a.send(b"/who #DEV\n")
        self.expect(a, b"*** Users (2): guest2, guest3\n")
        a.send(b"/who\n")
        self.expect(a, b"*** Users (1): guest1\n")

    def test_topic(self):
        a, b, c = self.room(3)
        self.join(a, "#t", 1)
        self.join(b, "#t", 2, [a])
        self.until(c, b"*** guest2 has left for #t\n")
        a.send(b"/topic\n")
        self.expect(a, b"*** No topic\n")
        a.send(b"/topic  release on Friday  \n")
        self.expect(a, b"*** guest1 set the topic: release on Friday\n")
        self.expect(b, b"*** guest1 set the topic: release on Friday\n")
        b.send(b"/topic\n")
        self.expect(b, b"*** Topic: release on Friday\n")
        c.send(b"/topic\n")
        self.expect(c, b"*** No topic\n")
        # A newcomer gets the topic after its "You are now in".
        c.send(b"/join #T\n")
        self.expect(c, b"*** You are now in #t (3 users)\n",
                    b"*** Topic: release on Friday\n")
        self.expect_nothing_before_who(c, 3)

    def test_empty_room_vanishes_with_its_topic(self):
        a, b = self.room(2)
        self.join(a, "#tmp", 1)
        a.send(b"/topic short-lived\n")
        self.expect(a, b"*** guest1 set the topic: short-lived\n")
        self.assertEqual(self.rooms(b), b"*** Rooms (2): #lobby (1), "
                         b"#tmp (1)\n")
        a.send(b"/part\n")
        self.expect(a, b"*** You are now in #lobby (2 users)\n")
        self.assertEqual(self.rooms(b), b"*** Rooms (1): #lobby (2)\n")
        b.send(b"/who #tmp\n")
        self.until(b, b"*** error: no such room #tmp\n")
        # Made again, as written now, with no topic.
        self.join(a, "#TMP", 1)
        self.expect_nothing_before_who(a, 1)
        a.send(b"/topic\n")
        self.expect(a, b"*** No topic\n")
        # A disconnect empties a room too.
        a.close()
        self.until(b, b"*** guest1 has left for #TMP\n")
        deadline = time.monotonic() + 5 * SLOW
        while self.rooms(b) != b"*** Rooms (1): #lobby (1)\n":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)

    def test_nicks_and_msg_are_server_wide(self):
        a, b = self.room(2)
        self.join(a, "#x", 1)
        self.until(b, b"*** guest1 has left for #x\n")
        b.send(b"/nick GUEST1\n")
        self.expect(b, b"*** error: nick GUEST1 is already in use\n")
        a.send(b"/nick alice\n")
        self.expect(a, b"*** You are now alice\n")
        b.send(b"/msg ALICE psst\n")
        self.expect(b, b"-> *alice* psst\n")
        self.expect(a, b"*guest2* psst\n")
        # The nick change was told in #x only (nobody there but alice).
        self.expect_nothing_before_who(b, 1)
        a.send(b"/quit off\n")
        self.expect(a, b"*** Bye\n")
        a.expect_eof()
        self.expect_nothing_before_who(b, 1)

    def test_help_lists_room_commands(self):
        a, = self.room(1)
        a.send(b"/help\n")
        lines = []
        while True:
            line = a.line()
            lines.append(line)
            if b"//TEXT" in line:
                break
        text = b"".join(lines)
        for cmd in (b"/join #ROOM", b"/part", b"/rooms", b"/list",
                    b"/who [#ROOM]", b"/topic"):
            self.assertIn(cmd, text)
        for line in lines:
            self.assertTrue(line.startswith(b"*** "), line)

    def test_udp_participants_use_rooms(self):
        a, = self.room(1)
        u = self.join_udp()
        self.expect(a, b"*** %s has joined\n" % u.nick.encode())
        u.send(b"/join #u\n")
        self.assertEqual(u.line(), b"*** You are now in #u (1 users)\n")
        self.expect(a, b"*** %s has left for #u\n" % u.nick.encode())
        a.send(b"lobby only\n")
        self.join(a, "#u", 2)
        self.assertEqual(u.line(), b"*** guest1 has joined\n")
        a.send(b"in u\n")
        self.assertEqual(u.line(), b"<guest1> in u\n")
        # A repeated handshake is still nothing.
        u.send(b"/join 0123456789abcdef\n")
        u.send(b"/rooms\n")
        self.assertEqual(u.line(), b"*** Rooms (2): #lobby (0), #u (2)\n")
        u.send(b"/part\n")
        self.assertEqual(u.line(), b"*** You are now in #lobby (1 users)\n")
        self.expect(a, b"*** %s has left for #lobby\n" % u.nick.encode())
        u.quiet()


class TestListenerRoom(RoomTest):
    """[listener NAME] room: where its newcomers start; it stays."""

    extra_conf = HELP_LISTENERS

    def test_listener_room_start_and_part(self):
        h = self.connect("help")
        self.assertEqual(self.rooms(h), b"*** Rooms (2): #Help (1), "
                         b"#lobby (0)\n")
        a = self.connect()
        self.expect_nothing_before_who(h, 1)
        # /part leads each home: h to #Help, a to #lobby.
        self.join(a, "#help", 2, [h], shown="#Help")
        a.send(b"/part\n")
        self.expect(a, b"*** You are now in #lobby (1 users)\n")
        self.expect(h, b"*** guest2 has left for #lobby\n")
        self.join(h, "#lobby", 2, [a])
        h.send(b"/part\n")
        self.expect(h, b"*** You are now in #Help (1 users)\n")
        u = self.join_udp("help-udp")
        self.expect(h, b"*** %s has joined\n" % u.nick.encode())
        x = self.connect("help-unix")
        self.expect(h, b"*** %s has joined\n" % x.nick.encode())
        self.assertEqual(u.line(), b"*** %s has joined\n" % x.nick.encode())
        x.send(b"over unix\n")
        self.expect(h, b"<%s> over unix\n" % x.nick.encode())
        self.assertEqual(u.line(), b"<%s> over unix\n" % x.nick.encode())
        # a, back in #lobby, heard none of it.
        self.expect(a, b"*** guest1 has left for #Help\n")
        self.expect_nothing_before_who(a, 1)

    def test_listener_room_persists_with_topic(self):
        h = self.connect("help")
        h.send(b"/topic ask here\n")
        self.expect(h, b"*** guest1 set the topic: ask here\n")
        self.join(h, "#lobby", 1)
        self.assertEqual(self.rooms(h), b"*** Rooms (2): #Help (0), "
                         b"#lobby (1)\n")
        h.send(b"/part\n")
        self.expect(h, b"*** You are now in #Help (1 users)\n",
                    b"*** Topic: ask here\n")
        h.close()
        # A newcomer's welcome comes with the room's topic.
        g = Client(self.server.connect("help"), "help#2")
        self.streams.append(g)
        self.assertTrue(WELCOME_RE.match(g.line()))
        self.expect(g, b"*** Topic: ask here\n")

    def test_reload_changes_room_for_newcomers_only(self):
        h = self.connect("help")
        h.send(b"/topic kept\n")
        self.expect(h, b"*** guest1 set the topic: kept\n")
        a = self.connect()
        self.join(a, "#other", 1)
        with open(self.server.config_path) as f:
            text = f.read()
        with open(self.server.config_path, "w") as f:
            f.write(text.replace("room = #Help", "room = #new"))
        self.server.reload()
        # Rooms, members and topics survive; #Help, named by no listener
        # now, still has h in it.
        self.assertEqual(self.rooms(a), b"*** Rooms (4): #Help (1), "
                         b"#lobby (0), #new (0), #other (1)\n")
        h.send(b"/topic\n")
        self.expect(h, b"*** Topic: kept\n")
        n = Client(self.server.connect("help"), "help#2")
        self.streams.append(n)
        self.assertTrue(WELCOME_RE.match(n.line()))
        self.expect_nothing_before_who(n, 1)
        # The one who came before goes home to #Help -- which, named by
        # no listener now, went with its topic once it was empty.
        h.send(b"/join #other\n")
        self.expect(h, b"*** You are now in #other (2 users)\n")
        self.expect(a, b"*** guest1 has joined\n")
        self.assertEqual(self.rooms(a), b"*** Rooms (3): #lobby (0), "
                         b"#new (1), #other (2)\n")
        h.send(b"/part\n")
        self.expect(h, b"*** You are now in #Help (1 users)\n")
        self.expect_nothing_before_who(h, 1)


class TestRoomsMax(RoomTest):
    chat_conf = "rooms_max = 2\n"

    def test_rooms_max(self):
        a, b = self.room(2)
        self.join(a, "#one", 1)
        b.send(b"/join #two\n")
        self.until(b, b"*** error: too many rooms\n")
        # An existing room can still be joined.
        self.join(b, "#ONE", 2, [a], shown="#one")
        a.send(b"/part\n")
        self.expect(a, b"*** You are now in #lobby (1 users)\n")
        b.send(b"/part\n")
        self.until(b, b"*** You are now in #lobby (2 users)\n")
        # #one is gone: room for another.
        self.join(b, "#two", 1)
        self.assertEqual(self.rooms(a), b"*** Rooms (2): #lobby (1), "
                         b"#two (1)\n")


class HistoryTest(RoomTest):
    def replay(self, client, count):
        """The replay's lines, stamps checked and removed."""
        self.expect(client, b"*** Recent messages (%d):\n" % count)
        got = []
        for _ in range(count):
            line = client.line()
            m = STAMP_RE.match(line)
            self.assertTrue(m, line)
            now = time.gmtime()
            minutes = int(m.group(1)) * 60 + int(m.group(2))
            self.assertIn((now.tm_hour * 60 + now.tm_min - minutes) % 1440,
                          (0, 1), "not a UTC time of now: %r" % line)
            got.append(line[m.end():])
        self.expect(client, b"*** End of recent messages\n")
        return got


class TestHistoryOff(HistoryTest):
    def test_no_history_by_default(self):
        a, b = self.room(2)
        self.join(a, "#h", 1)
        a.send(b"one\n")
        self.expect_nothing_before_who(a, 1)     # "one" is said by now
        self.join(b, "#h", 2, [a])
        self.expect_nothing_before_who(b, 2)


class TestHistoryOne(HistoryTest):
    chat_conf = "history = 1\n"

    def test_history_of_one(self):
        a, b = self.room(2)
        self.join(a, "#h", 1)
        a.send(b"first\n")
        a.send(b"/me second\n")
        self.expect_nothing_before_who(a, 1)
        self.join(b, "#h", 2, [a])
        self.assertEqual(self.replay(b, 1), [b"* guest1 second\n"])
        self.expect_nothing_before_who(b, 2)


class TestHistoryN(HistoryTest):
    chat_conf = "history = 3\n"

    def test_fewer_exactly_and_more_than_n(self):
        a, b, c = self.room(3)
        self.join(a, "#h", 1)
        a.send(b"m1\n")
        # Notices and private messages are not history.
        a.send(b"/nick alice\n")
        self.expect(a, b"*** You are now alice\n")
        a.send(b"/topic t\n")
        self.expect(a, b"*** alice set the topic: t\n")
        a.send(b"/msg guest2 private\n")
        self.expect(a, b"-> *guest2* private\n")
        self.until(b, b"*alice* private\n")
        a.send(b"/me m2\n")
        self.expect_nothing_before_who(a, 1)
        self.join(b, "#h", 2, [a])
        self.expect(b, b"*** Topic: t\n")
        self.assertEqual(self.replay(b, 2), [b"<guest1> m1\n",
                                             b"* alice m2\n"])
        a.send(b"m3\n")
        self.expect(b, b"<alice> m3\n")
        self.join(c, "#h", 3, [a, b])
        self.expect(c, b"*** Topic: t\n")
        self.assertEqual(self.replay(c, 3), [b"<guest1> m1\n",
                                             b"* alice m2\n",
                                             b"<alice> m3\n"])
        for i in (4, 5):
            b.send(b"m%d\n" % i)
            self.expect(a, b"<guest2> m%d\n" % i)
            self.expect(c, b"<guest2> m%d\n" % i)
        c.send(b"/part\n")
        self.expect(c, b"*** You are now in #lobby (1 users)\n")
        self.join(c, "#h", 3)
        self.expect(c, b"*** Topic: t\n")
        self.assertEqual(self.replay(c, 3), [b"<alice> m3\n",
                                             b"<guest2> m4\n",
                                             b"<guest2> m5\n"])
        self.expect_nothing_before_who(c, 3)

    def test_history_on_welcome_and_for_udp(self):
        a, = self.room(1)
        for i in range(4):
            a.send(b"w%d\n" % i)
        self.expect_nothing_before_who(a, 1)
        b = Client(self.server.connect("chat"), "late")
        self.streams.append(b)
        self.assertTrue(WELCOME_RE.match(b.line()))
        self.assertEqual(self.replay(b, 3), [b"<guest1> w1\n",
                                             b"<guest1> w2\n",
                                             b"<guest1> w3\n"])
        self.expect_nothing_before_who(b, 2)
        u = self.join_udp()
        self.assertEqual(self.replay(u, 3), [b"<guest1> w1\n",
                                             b"<guest1> w2\n",
                                             b"<guest1> w3\n"])
        u.send(b"/join #u\n")
        self.assertEqual(u.line(), b"*** You are now in #u (1 users)\n")
        u.send(b"udp says\n")
        self.assertEqual(u.who(), b"*** Users (1): %s\n" % u.nick.encode())
        self.join(a, "#u", 2)
        self.assertEqual(self.replay(a, 1), [b"<%s> udp says\n" %
                                             u.nick.encode()])

    def test_empty_room_forgets_history(self):
        a, = self.room(1)
        self.join(a, "#gone", 1)
        a.send(b"remember me\n")
        a.send(b"/part\n")
        self.expect(a, b"*** You are now in #lobby (1 users)\n")
        self.join(a, "#gone", 1)
        self.expect_nothing_before_who(a, 1)


class TestHistoryRing(HistoryTest):
    """Past the ring's first size (16) and round it."""

    chat_conf = "history = 20\n"

    def test_last_twenty_of_many(self):
        a, b = self.room(2)
        for count in (17, 45):
            a.send(b"".join(b"r%d\n" % i for i in range(count)))
            for i in range(count):
                self.expect(b, b"<guest1> r%d\n" % i)
            b.send(b"/join #elsewhere\n")
            self.until(b, b"*** You are now in #elsewhere (1 users)\n")
            b.send(b"/part\n")
            self.expect(b, b"*** You are now in #lobby (2 users)\n")
            if count == 17:
                want = [b"<guest1> r%d\n" % i for i in range(17)]
            else:       # 3 left of the first 17, then all 45: the last 20
                want = [b"<guest1> r%d\n" % i for i in range(25, 45)]
            self.assertEqual(self.replay(b, len(want)), want)
            self.until(a, b"*** guest2 has joined\n")


def kernel_send_buffer_max():
    """How much the kernel may take into a socket that is never read: on
    loopback Linux grows its send buffer by itself up to tcp_wmem's
    maximum (about 3 MB of 4 taken on 6.18)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


class TestSlowReplay(HistoryTest):
    """A client that never reads joins a room with a long history."""

    # More history than the kernel's send buffer and output_limit hold
    # together, or the client that never reads is never too slow.
    BODY = 2000
    LINES = min(10000, max(3000, 30 * (
        (kernel_send_buffer_max() + (256 << 10)) // BODY // 30 + 1)))
    chat_conf = "history = %d\n" % LINES
    server_conf = "output_limit = 64k\n"

    def test_never_reading_client_is_cut_others_go_on(self):
        filler, other = self.room(2)
        self.join(filler, "#big", 1)
        self.join(other, "#big", 2, [filler])
        body = b"x" * self.BODY
        for i in range(0, self.LINES, 30):     # well within output_limit
            filler.send(b"".join(b"%05d %s\n" % (j, body)
                                 for j in range(i, i + 30)))
            for j in range(i, i + 30):
                self.assertEqual(other.line(), b"<guest1> %05d %s\n" %
                                 (j, body))
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5 * SLOW)
        s.connect(self.server.addr("chat")[1])
        try:
            s.sendall(b"/join #big\n")
            self.expect(filler, b"*** guest3 has joined\n")
            self.expect(other, b"*** guest3 has joined\n")
            self.expect(filler, b"*** guest3 has left (too slow)\n")
            self.expect(other, b"*** guest3 has left (too slow)\n")
            filler.send(b"still here\n")
            self.expect(other, b"<guest1> still here\n")
            self.server.wait_log(r"output limit \(65536 bytes\) exceeded")
        finally:
            s.close()


class TestWorkerRaces(RoomTest):
    """workers = 2: a room spans loops; moves race with messages."""

    server_conf = "workers = 2\n"
    MOVERS = 6
    ROUNDS = 15
    LINES = 150

    def test_moves_racing_messages(self):
        sender = self.connect()
        listener = self.connect()
        movers = [self.connect() for _ in range(self.MOVERS)]
        self.join(listener, "#b", 1)
        for m in movers:
            m.send(b"".join(b"/join #b\n/part\n" for _ in range(self.ROUNDS)))
        sender.send(b"".join(b"a%d\n" % i for i in range(self.LINES)))
        said = re.compile(rb"\A<%s> a[0-9]+\n\Z" % sender.nick.encode())
        for m in movers:
            where, seen, moves = "#lobby", set(), 0
            while moves < 2 * self.ROUNDS:
                line = m.line()
                if line.startswith(b"*** You are now in "):
                    where = line.split()[5].decode()
                    moves += 1
                elif line.startswith(b"<"):
                    # Said in #lobby: never heard in #b, never twice.
                    self.assertRegex(line, said)
                    self.assertEqual(where, "#lobby", "%s got %r in #b" %
                                     (m.label, line))
                    self.assertNotIn(line, seen)
                    seen.add(line)
                else:
                    self.assertRegex(line, rb"\A\*\*\* guest[0-9]+ has "
                                     rb"(joined|left for #(b|lobby))\n\Z")
            self.assertEqual(where, "#lobby")
        # The listener in #b heard no message at all.
        listener.send(b"/who\n")
        while True:
            line = listener.line()
            if line.startswith(b"*** Users ("):
                break
            self.assertRegex(line, rb"\A\*\*\* guest[0-9]+ has "
                             rb"(joined|left for #lobby)\n\Z")

    def test_room_creation_race_has_one_winner(self):
        people = [self.connect() for _ in range(12)]
        for p in people:
            p.send(b"/join #New\n")
        for p in people:
            while True:
                line = p.line()
                if line.startswith(b"*** You are now in "):
                    break
            self.assertRegex(line, rb"\A\*\*\* You are now in #New "
                             rb"\([0-9]+ users\)\n\Z")
        a = people[0]
        deadline = time.monotonic() + 5 * SLOW
        while True:
            a.send(b"/rooms\n")
            while True:
                line = a.line()
                if line.startswith(b"*** Rooms"):
                    break
            if line == b"*** Rooms (2): #lobby (0), #New (12)\n":
                break
            self.assertLess(time.monotonic(), deadline, line)
            time.sleep(0.05)


class TestHistoryRace(HistoryTest):
    """workers = 2: entering a room while its history is being written."""

    server_conf = "workers = 2\n"
    chat_conf = "history = 50\n"
    LINES = 3000
    MOVERS = 4
    ROUNDS = 20

    def test_replay_then_live_without_gap_or_twice(self):
        sender = self.connect()
        movers = [self.connect() for _ in range(self.MOVERS)]
        self.join(sender, "#h", 1)
        said = re.compile(rb"\A(?:\[[0-9]{2}:[0-9]{2}\] )?<%s> s([0-9]+)\n"
                          rb"\Z" % sender.nick.encode())
        for m in movers:
            self.join(m, "#h", 2 + movers.index(m))
        # Out and straight back in, in one read, while the lines come.
        sender.send(b"".join(b"s%d\n" % n for n in range(self.LINES)))
        for _ in range(self.ROUNDS):
            for m in movers:
                m.send(b"/part\n/join #h\n")
            time.sleep(0.002)
        for m in movers:
            stays = 0
            while stays <= self.ROUNDS:
                if stays > 0:
                    while not m.line().startswith(b"*** You are now in #h "):
                        pass
                stays += 1
                got = []
                while True:
                    line = m.line()
                    hit = said.match(line)
                    if hit:
                        got.append(int(hit.group(1)))
                        if got[-1] == self.LINES - 1:
                            break
                    elif line.startswith(b"*** You are now in #lobby "):
                        break
                    else:
                        self.assertRegex(line, rb"\A\*\*\* (Recent|End|"
                                         rb"guest[0-9]+ has (joined|left))")
                # In each stay, each line once and none missing: the
                # replay ends where the live lines begin.
                if got:
                    self.assertEqual(got, list(range(got[0], got[0] +
                                                     len(got))),
                                     "%s, stay %d" % (m.label, stays))
                if got and got[-1] == self.LINES - 1:
                    break


class TestCheckConfig(unittest.TestCase):
    """echochatd -t refuses what start-up would, with file:line."""

    def check(self, extra, chat="", want=None):
        text = ("[chat]\n" + chat +
                "[listener chat]\nproto = tcp\nbind = 127.0.0.1:0\n"
                "handler = chat\n" + extra)
        rc, out, err = harness.run(["-t"], text)
        if want is None:
            self.assertEqual(rc, 0, err)
            return out
        self.assertEqual(rc, 78, out + err)
        self.assertRegex(err, want)
        return err

    def test_good_settings_are_printed(self):
        out = self.check("room = #Help\n", "history = 50\nrooms_max = 10\n")
        self.assertIn("history = 50\n", out)
        self.assertIn("rooms_max = 10\n", out)
        self.assertIn("room = #Help\n", out)

    def test_bad_room_names(self):
        for bad in ("lobby", "#", "#a b", "#" + "x" * 33, "#caf\u00e9"):
            self.check("room = %s\n" % bad, want=r"test\.ini:6: \[listener "
                       r"chat\]: bad room .*: a room is # and 1-32 of")

    def test_room_only_for_chat(self):
        self.check("[listener echo]\nproto = tcp\nbind = 127.0.0.1:0\n"
                   "handler = echo\nroom = #x\n",
                   want=r"test\.ini:10: \[listener echo\]: room is for "
                   r"listeners of a handler with rooms")

    def test_bounds(self):
        self.check("", "rooms_max = 0\n", r"test\.ini:2: rooms_max = 0 is "
                   r"out of range \(1 to 1000000\)")
        self.check("", "history = 10001\n", r"test\.ini:2: history = 10001 "
                   r"is out of range \(0 to 10000\)")
        self.check("", "history = -1\n", r"test\.ini:2: .*history")


if __name__ == "__main__":
    harness.main()
