"""test_plugins.py -- plugin handlers in the real daemon (echochat-plugin(3),
README "Plugins").

The example plugins rot13 (bytes) and quote (lines, settings, a timer)
serve TCP, Unix and UDP; a plugin's listeners obey max_clients,
idle_timeout, line_timeout, max_line, output_limit (the test plugin
"good" answers "flood N" with N KiB and is cut) and UDP rationing exactly
as the built-ins' do; keep-alive timers run on each connection's own
thread with workers = 2; SIGHUP adds a plugin and changes its settings
while connections to another stay up, and a reload whose plugin or
settings are refused keeps the old configuration.  echochatd -t lists the
plugins with their versions and refuses bad plugin settings at their line.
echochatd exports to plugins exactly the functions <echochat/plugin.h>
declares, and that header includes system headers only.

The plugins come from $ECHOCHAT_PLUGINS (the build's plugins/) and the
build's tests/plugins/; each test links those it needs into a plugin
directory of its own.
"""
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import SLOW

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("ECHOCHAT_BUILDDIR") or os.path.join(HERE, "..", "..")
EXAMPLES = os.environ.get("ECHOCHAT_PLUGINS") or os.path.join(BUILD,
                                                              "plugins")
TESTPLUGINS = os.path.join(BUILD, "tests", "plugins")
HEADER = os.path.join(harness.SRCDIR, "include", "echochat", "plugin.h")

QUOTES = ["The only way out is through.", "Less is more.", "Go on."]


def listener(name, handler, proto="tcp", bind="127.0.0.1:0", extra=""):
    return ("\n[listener %s]\nproto = %s\nbind = %s\nhandler = %s\n%s" %
            (name, proto, bind, handler, extra))


class PluginDir:
    """A directory with the named plugins linked into it, and a quotes
    file; removed at close."""

    def __init__(self, *names):
        self.tmp = tempfile.TemporaryDirectory(prefix="echochat-plugins-")
        self.path = self.tmp.name
        for n in names:
            self.add(n)
        self.quotes = os.path.join(self.path, "quotes.txt")
        with open(self.quotes, "w") as f:
            f.write("\n".join(QUOTES) + "\n")

    def add(self, name):
        for d in (EXAMPLES, TESTPLUGINS):
            src = os.path.join(d, name + ".so")
            if os.path.exists(src):
                os.symlink(os.path.abspath(src),
                           os.path.join(self.path, name + ".so"))
                return
        raise AssertionError("no plugin %s.so in %s or %s (make check "
                             "builds them)" % (name, EXAMPLES, TESTPLUGINS))

    def conf(self):
        return "[plugins]\ndir = %s\n" % self.path

    def close(self):
        self.tmp.cleanup()


class PluginCase(unittest.TestCase):
    plugins = ("rot13", "quote", "good")

    def setUp(self):
        self.dir = PluginDir(*self.plugins)
        self.server = None

    def tearDown(self):
        try:
            if self.server is not None:
                harness.finish(self.server)
        finally:
            self.dir.close()

    def start(self, config, quiet=True):
        self.server = harness.Server(self.dir.conf() + config,
                                     args=["-L", "debug"])
        return self.server

    def quote_conf(self, keepalive="0", quotes=None):
        return ("[handler quote]\nfile = %s\nkeepalive = %s\n" %
                (quotes or self.dir.quotes, keepalive))


class Serving(PluginCase):

    def test_rot13_streams_and_datagrams(self):
        s = self.start(listener("r", "rot13") +
                       listener("ru", "rot13", proto="udp") +
                       listener("rx", "rot13", proto="unix",
                                bind="@DIR@/r.sock"))
        for name in ("r", "rx"):
            with s.connect(name) as c:
                harness.roundtrip(self, c, b"")
                c.sendall(b"Hello, World! \xc3\xa9\n")
                self.assertEqual(harness.recv_exactly(c, 17),
                                 b"Uryyb, Jbeyq! \xc3\xa9\n")
        with s.udp("ru") as u:
            u.send(b"abc XYZ")
            self.assertEqual(u.recv(100), b"nop KLM")

    def test_quote_lines_datagrams_and_keepalive(self):
        s = self.start(self.quote_conf(keepalive="300ms") +
                       listener("q", "quote") +
                       listener("qu", "quote", proto="udp"))
        with s.connect("q") as c:
            c.sendall(b"one\ntwo\n")
            self.assertEqual(harness.recv_line(c), QUOTES[0].encode() +
                             b"\n")
            self.assertEqual(harness.recv_line(c), QUOTES[1].encode() +
                             b"\n")
            self.assertEqual(harness.recv_line(c, timeout=3),
                             b"* keep-alive\n")
        with s.udp("qu") as u:
            u.send(b"?")
            self.assertEqual(u.recv(200), QUOTES[0].encode())
        s.wait_log(r"info: quote: 3 quotes from ")


class Limits(PluginCase):

    def test_max_clients(self):
        s = self.start("[server]\nmax_clients = 2\n" +
                       listener("r", "rot13"))
        a, b = s.connect("r"), s.connect("r")
        with a, b:
            harness.roundtrip(self, a, b"")
            a.sendall(b"a\n")
            self.assertEqual(harness.recv_exactly(a, 2), b"n\n")
            b.sendall(b"b\n")
            self.assertEqual(harness.recv_exactly(b, 2), b"o\n")
            with s.connect("r") as c:
                self.assertEqual(harness.recv_until_closed(c),
                                 b"*** error: server full\n")

    def test_idle_timeout(self):
        s = self.start("[server]\nidle_timeout = 500ms\n" +
                       listener("r", "rot13"))
        with s.connect("r") as c:
            t0 = time.monotonic()
            self.assertEqual(harness.recv_until_closed(c, timeout=5), b"")
            self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        s.wait_log(r"idle timeout$")

    def test_line_timeout_and_max_line(self):
        s = self.start("[server]\nline_timeout = 500ms\nmax_line = 64\n" +
                       listener("g", "good"))
        with s.connect("g") as c:
            c.sendall(b"x" * 65 + b"\nshort\n")
            self.assertEqual(harness.recv_line(c),
                             b"*** error: line too long (max 64 bytes)\n")
            self.assertEqual(harness.recv_line(c), b"good: short\n")
            c.sendall(b"half a li")
            self.assertEqual(harness.recv_line(c, timeout=4),
                             b"*** error: line timeout\n")
            c.sendall(b"ne\n")
            self.assertEqual(harness.recv_line(c), b"good: ne\n")

    def test_output_limit_cuts_a_plugin_that_answers_too_much(self):
        s = self.start("[server]\noutput_limit = 64k\n" +
                       listener("g", "good"))
        with s.connect("g") as c, s.connect("g") as other:
            # 16 MiB asked for in 9 bytes, never read.
            c.sendall(b"flood 16384\n")
            s.wait_log(r"dropping 127\.0\.0\.1:\d+ on listener g: output "
                       r"limit \(65536 bytes\) exceeded")
            other.sendall(b"still here\n")
            self.assertEqual(harness.recv_line(other),
                             b"good: still here\n")
            c.settimeout(5 * SLOW)
            got = 0
            try:
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
            except ConnectionResetError:
                pass
            self.assertLess(got, 16 * 1024 * 1024)

    def test_udp_rationing(self):
        s = self.start("[server]\nudp_rate = 5\nudp_burst = 10\n" +
                       listener("ru", "rot13", proto="udp"))
        with s.udp("ru") as u:
            for i in range(50):
                u.send(b"n%d" % i)
            got = 0
            u.settimeout(0.5 * SLOW)
            try:
                while True:
                    u.recv(100)
                    got += 1
            except socket.timeout:
                pass
            self.assertGreaterEqual(got, 10)
            self.assertLessEqual(got, 10 + 5 * SLOW)
        s.wait_log(r"info: udp: dropped \d+ repl(y|ies) over udp_rate")


class Workers(PluginCase):

    def test_timers_and_answers_on_every_loop(self):
        s = self.start("[server]\nworkers = 2\n" +
                       self.quote_conf(keepalive="200ms") +
                       listener("q", "quote") + listener("r", "rot13"))
        socks = [s.connect("q") for _ in range(4)]
        try:
            for c in socks:
                c.sendall(b"hi\n")
            for c in socks:
                self.assertEqual(harness.recv_line(c),
                                 QUOTES[0].encode() + b"\n")
                self.assertEqual(harness.recv_line(c, timeout=3),
                                 b"* keep-alive\n")
            with s.connect("r") as r:
                r.sendall(b"uryyb\n")
                self.assertEqual(harness.recv_exactly(r, 6), b"hello\n")
        finally:
            for c in socks:
                c.close()


class Reload(PluginCase):

    def write(self, text):
        with open(self.server.config_path, "w") as f:
            f.write(harness.with_workers(self.dir.conf() + text))

    def test_sighup_adds_a_plugin_and_changes_settings(self):
        s = self.start(listener("r", "rot13"))
        with s.connect("r") as r:
            r.sendall(b"a\n")
            self.assertEqual(harness.recv_exactly(r, 2), b"n\n")
            self.write(self.quote_conf() + listener("r", "rot13") +
                       listener("q", "quote"))
            log = s.reload()
            self.assertIn("reload done", log)
            with s.connect("q") as q:
                q.sendall(b"?\n")
                self.assertEqual(harness.recv_line(q),
                                 QUOTES[0].encode() + b"\n")
                # New settings: another file of quotes.
                other = os.path.join(self.dir.path, "other.txt")
                with open(other, "w") as f:
                    f.write("Fresh words.\n")
                self.write(self.quote_conf(quotes=other) +
                           listener("r", "rot13") + listener("q", "quote"))
                self.assertIn("quote: 1 quotes from", s.reload())
                q.sendall(b"?\n")
                self.assertEqual(harness.recv_line(q), b"Fresh words.\n")
                # Refused settings, then a missing plugin: nothing changes.
                self.write(self.quote_conf(quotes="/nonexistent/q") +
                           listener("r", "rot13") + listener("q", "quote"))
                log = s.reload()
                self.assertRegex(log, r"echochatd\.ini:\d+: \[handler "
                                 r"quote\]: file: /nonexistent/q: No such")
                self.assertIn("reload failed", log)
                self.write(listener("r", "rot13") + listener("x", "absent"))
                log = s.reload()
                self.assertRegex(log, r"absent\.so: No such file")
                self.assertIn("reload failed", log)
                q.sendall(b"?\n")
                self.assertEqual(harness.recv_line(q), b"Fresh words.\n")
            # The rot13 connection was there all along.
            r.sendall(b"b\n")
            self.assertEqual(harness.recv_exactly(r, 2), b"o\n")


class CheckConfig(PluginCase):

    def run_t(self, text):
        return harness.run(["-t"], self.dir.conf() + text)

    def test_t_lists_plugins_with_versions(self):
        rc, out, err = self.run_t(self.quote_conf() + listener("r", "rot13") +
                                  listener("q", "quote"))
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"; plugin rot13 1\.0 loaded from \S+/rot13\.so")
        self.assertRegex(out, r"; plugin quote 1\.0 loaded from \S+/quote\.so")
        self.assertIn("[handler quote]\nfile = %s\nkeepalive = 0\n" %
                      self.dir.quotes, out)

    def test_t_refuses_bad_plugin_settings_at_their_lines(self):
        # Lines: 1-2 [plugins], 3 [handler quote], 4 file, 5 keepalive.
        rc, out, err = self.run_t(
            "[handler quote]\nfile = /nonexistent/q\nkeepalive = 2d\n"
            "colour = red\n" + listener("q", "quote"))
        self.assertEqual(rc, 78)
        self.assertRegex(err, r"test\.ini:5: bad value \"2d\" for "
                         r"keepalive")
        self.assertRegex(err, r"test\.ini:6: unknown key \"colour\" in "
                         r"\[handler quote\]")
        self.assertIn("2 errors in the configuration", err)
        rc, out, err = self.run_t("[handler quote]\nfile = /nonexistent/q\n" +
                                  listener("q", "quote"))
        self.assertEqual(rc, 78)
        self.assertRegex(err, r"test\.ini:4: \[handler quote\]: file: "
                         r"/nonexistent/q: No such file")

    def test_refused_plugins_exit_78_naming_the_handler_line(self):
        for name, why in (("absent", r"absent\.so: No such file"),
                          ("badabi", r"built for plugin ABI 99\.0"),
                          ("nosym", r"not an echochat plugin"),
                          ("undef", r"undefined symbol")):
            self.dir.add(name) if name != "absent" else None
            rc, out, err = self.run_t(listener("x", name))
            self.assertEqual(rc, 78, err)
            # [plugins] is 2 lines, then a blank, the header, proto, bind.
            self.assertRegex(err, r"test\.ini:7: \[listener x\]: unknown "
                             r"handler \"%s\": .*%s" % (name, why))


class Interface(unittest.TestCase):

    def test_exports_are_the_header_functions(self):
        with open(HEADER) as f:
            text = f.read()
        declared = set(re.findall(r"^[a-z].*?\**\b([a-z_]+)\(", text, re.M))
        declared = {d for d in declared if not d.startswith("ECHOCHAT")}
        out = subprocess.run(["nm", "-D", "--defined-only",
                              harness.ECHOCHATD], capture_output=True,
                             text=True, check=True).stdout
        exported = {line.split()[-1] for line in out.splitlines()
                    if " T " in line}
        self.assertGreaterEqual(len(declared), 20)
        self.assertEqual(exported, declared)

    def test_header_includes_system_headers_only(self):
        with open(HEADER) as f:
            includes = re.findall(r"^\s*#\s*include\s*(\S+)", f.read(), re.M)
        self.assertTrue(includes)
        for inc in includes:
            self.assertRegex(inc, r"^<(sys/types|sys/socket|stddef|stdint)"
                             r"\.h>$", "plugin.h includes %s" % inc)


if __name__ == "__main__":
    harness.main()
