#!/usr/bin/env python3
"""test_cli.py -- echochatd's command line, configuration and logging.

Covers (echochatd(8), echochatd.ini(5), README "Logging"): -V/--version
(version, build features, libevent version, default config path),
-h/--help, bad command lines (64), -q without -t (64), the default
configuration file (read without -c when it exists, in a mount namespace
of the test's own; else the built-in defaults; named by -t's
"configuration OK" line and the starting line),
-d with -f (64), -t on the built-in defaults being exactly
conf/echochatd.ini, -t printing effective (overridden) settings that load
back the same and binding nothing, configuration errors (78) reported as
"echochatd: FILE:LINE: message" for an unknown key, an unknown section, a
bad value, a duplicate listener and a duplicate address, a missing -c file
(78), a port already in use (71, naming the listener), SIGTERM and SIGINT
(exit 0, "shutting down" logged), logging to a file (appended, one
"YYYY-MM-DDTHH:MM:SSZ echochatd[PID] LEVEL: ..." line per event) and
-L debug logging each connect and disconnect.
"""
import calendar
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

LOG_LINE_RE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) echochatd\[(\d+)\] "
    r"(error|warn|info|debug): (.+)$")

ECHO_LISTENER = """\
[listener echo]
proto = tcp
bind = 127.0.0.1:0
handler = echo
"""


def write_config(directory, text, name="test.ini"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(harness.with_workers(text))
    return path


def check_with_file(text, extra_args=()):
    """Run -t on text written to a file whose path we know:
    returns (path, rc, stdout, stderr)."""
    with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
        path = write_config(d, text)
        rc, out, err = harness.run(["-t", "-c", path] + list(extra_args))
        return path, rc, out, err


def version_info():
    """-V's lines after the first, as {word: rest}."""
    rc, out, err = harness.run(["-V"])
    info = {}
    for line in out.splitlines()[1:]:
        key, _, value = line.partition(": ")
        info[key] = value
    return info


def builtin_source():
    """What -t without -c reads here: the installed file, if any."""
    path = version_info()["config"]
    return path if os.path.exists(path) else None


def ok_line(path=None):
    """What a good -t says last, on stderr (echochatd(8), -t)."""
    return "echochatd: configuration OK (%s)\n" % (
        path or "the built-in defaults")


def open_fds(server):
    """How many descriptors the daemon holds (listeners, loop, clients)."""
    try:
        return len(os.listdir("/proc/%d/fd" % server.proc.pid))
    except OSError:
        return 0


def start(config, **kwargs):
    """A ready daemon, with the descriptor count it has when idle."""
    server = harness.Server(config, **kwargs)
    server.idle_fds = open_fds(server)
    return server


def wait_idle(server, timeout=5):
    """Wait until the daemon has closed every client connection.

    Stopping a daemon while it holds connections is test_limits.py's
    subject; these tests stop an idle one."""
    deadline = time.time() + timeout * harness.SLOW
    while (getattr(server, "idle_fds", None) is not None and
           server.proc.poll() is None and
           open_fds(server) > server.idle_fds and time.time() < deadline):
        time.sleep(0.02)


def close_server(server):
    """server.close() (exit status 0, valgrind clean) once idle, then
    release the pipes the harness leaves open."""
    try:
        wait_idle(server)
        server.close()
    finally:
        for pipe in (server.proc.stdout, server.proc.stderr):
            if pipe is not None:
                pipe.close()


def echo_roundtrip(testcase, server, name="echo", data=b"ping\n"):
    with server.connect(name) as s:
        s.sendall(data)
        testcase.assertEqual(harness.recv_exactly(s, len(data)), data)


class Basics(unittest.TestCase):
    """-V, -h and command line errors."""

    def test_version(self):
        for opt in ("-V", "--version"):
            rc, out, err = harness.run([opt])
            self.assertEqual(rc, 0, opt)
            lines = out.splitlines()
            self.assertEqual(lines[0], "echochatd 0.1.0", opt)
            # What the build has and where it looks, as nginx -V says.
            words = lines[1].split()[1:]
            keys = ["features", "libevent"]
            keys += ["openssl"] if "openssl" in words else []
            keys += ["plugins"] if "plugins" in words else []
            self.assertEqual([l.split(":")[0] for l in lines[1:]],
                             keys + ["config"], out)
            self.assertRegex(lines[1], r"^features: (none|\w+( \w+)*)$")
            self.assertRegex(lines[2], r"^libevent: 2\.\d+\.\d+")
            if "openssl" in words:
                self.assertRegex(out, r"\nopenssl: OpenSSL 3\.")
            if "plugins" in words:
                self.assertRegex(out, r"\nplugins: /\S*/echochat/plugins\n")
            self.assertRegex(lines[-1], r"^config: /\S*/echochat/"
                             r"echochatd\.ini$")
            self.assertEqual(err, "", opt)

    def test_version_names_the_features_as_built(self):
        autoconf = os.path.join(os.path.dirname(os.path.dirname(
            os.path.abspath(harness.ECHOCHATD))), "autoconf.h")
        with open(autoconf) as f:
            text = f.read()
        words = version_info()["features"].split()
        for feature, define in (("systemd", "HAVE_LIBSYSTEMD"),
                                ("openssl", "HAVE_OPENSSL"),
                                ("plugins", "HAVE_PLUGINS")):
            self.assertEqual(feature in words,
                             "#define %s 1" % define in text, words)

    def test_quiet_needs_t(self):
        rc, out, err = harness.run(["-q"])
        self.assertEqual(rc, 64)
        self.assertIn("-q goes with -t", err)

    def test_help(self):
        for opt in ("-h", "--help"):
            rc, out, err = harness.run([opt])
            self.assertEqual(rc, 0, opt)
            self.assertTrue(out.startswith("usage: echochatd "), out)
            for word in ("-c", "-d", "-f", "-p", "-t", "-L", "-V", "-h"):
                self.assertIn(word, out)
            self.assertEqual(err, "", opt)

    def test_unknown_option(self):
        for args in (["-x"], ["--no-such-option"]):
            rc, out, err = harness.run(args)
            self.assertEqual(rc, 64, args)
            self.assertEqual(out, "", args)
            self.assertIn("unknown option", err)
            self.assertIn("usage: echochatd", err)

    def test_missing_option_value(self):
        rc, out, err = harness.run(["-c"])
        self.assertEqual(rc, 64)
        self.assertIn("echochatd: ", err)

    def test_unexpected_argument(self):
        rc, out, err = harness.run(["stray"])
        self.assertEqual(rc, 64)
        self.assertIn("stray", err)

    def test_bad_log_level(self):
        rc, out, err = harness.run(["-L", "loud"])
        self.assertEqual(rc, 64)
        self.assertIn("loud", err)

    def test_daemon_and_foreground_contradict(self):
        rc, out, err = harness.run(["-d", "-f", "-t"])
        self.assertEqual(rc, 64)
        self.assertIn("-d and -f contradict each other", err)


class CheckConfig(unittest.TestCase):
    """-t: the effective settings, as INI on stdout."""

    def test_builtin_defaults_are_the_example_file(self):
        if builtin_source() is not None:
            self.skipTest("%s is installed here and replaces the built-in "
                          "defaults" % builtin_source())
        conf = os.path.join(harness.SRCDIR, "conf", "echochatd.ini")
        self.assertTrue(os.path.exists(conf), conf)
        rc1, builtin, err1 = harness.run(["-t"])
        rc2, fromfile, err2 = harness.run(["-t", "-c", conf])
        self.assertEqual((rc1, err1), (0, ok_line()))
        self.assertEqual((rc2, err2), (0, ok_line(conf)))
        self.assertEqual(builtin, fromfile)
        # And it is what conf/echochatd.ini lists.
        for section in ("[listener echo]", "[listener echo-udp]",
                        "[listener upper]", "[listener chat]",
                        "[listener chat-udp]"):
            self.assertIn(section + "\n", builtin)
        self.assertIn("bind = 127.0.0.1:7007\n", builtin)
        self.assertIn("max_clients = 10000\n", builtin)
        self.assertIn("output_limit = 1m\n", builtin)

    def test_effective_settings_with_overrides(self):
        text = """\
[server]
max_clients = 3
max_clients_per_ip = 2
idle_timeout = 90s
output_limit = 2048
shutdown_timeout = 500ms
log_level = warn

[listener echo]
proto = tcp
bind = 127.0.0.1:0
handler = echo
banner = Welcome to echo
idle_timeout = 2m

[listener up]
proto = udp
bind = 127.0.0.1:0
handler = upper
"""
        path, rc, out, err = check_with_file(text, ["-L", "debug"])
        self.assertEqual((rc, err), (0, ok_line(path)))
        for line in ("max_clients = 3", "max_clients_per_ip = 2",
                     "idle_timeout = 90s", "output_limit = 2k",
                     "shutdown_timeout = 500ms",
                     "log_level = debug",           # -L wins over the file
                     "max_line = 4k",               # untouched default
                     "[listener echo]", "banner = Welcome to echo",
                     "idle_timeout = 2m", "[listener up]", "proto = udp",
                     "handler = upper",
                     "workers = %s" % (harness.WORKERS or "1")):
            self.assertIn(line + "\n", out)
        # The printout is itself a valid configuration that loads back
        # to the same settings.
        path2, rc2, out2, err2 = check_with_file(out)
        self.assertEqual((rc2, err2), (0, ok_line(path2)))
        self.assertEqual(out2, out)

    def test_check_binds_nothing(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            text = ECHO_LISTENER.replace("127.0.0.1:0",
                                         "127.0.0.1:%d" % port)
            path, rc, out, err = check_with_file(text)
            self.assertEqual((rc, err), (0, ok_line(path)))
            self.assertIn("bind = 127.0.0.1:%d\n" % port, out)


class DefaultConfig(unittest.TestCase):
    """Without -c: the installed file (-V's config path) when it exists,
    else the built-in defaults; -t says which, and so does the starting
    line (echochatd(8), -c).  The installed file is faked in a mount
    namespace of our own (unshare), so nothing on the machine changes."""

    def namespace_cmd(self, conf_text, args):
        """A command running echochatd args where the default config path
        holds conf_text: in a mount namespace of our own where one can be
        made, else (root in a chroot, where namespaces are refused) in the
        real path while it does not exist, removed again afterwards."""
        path = version_info()["config"]
        confdir = os.path.dirname(path)
        # tmpfs over the echochat directory if it exists, else over
        # sysconfdir (never /etc itself: the system needs what is there).
        mount = confdir if os.path.isdir(confdir) else os.path.dirname(
            confdir)
        self.tmp = tempfile.TemporaryDirectory(prefix="echochat-test-")
        src = os.path.join(self.tmp.name, "echochatd.ini")
        with open(src, "w") as f:
            f.write(conf_text)
        daemon = [os.path.abspath(harness.ECHOCHATD)] + list(args)
        script = ('mount -t tmpfs tmpfs "$1" && mkdir -p "$2" && '
                  'cp "$3" "$2/echochatd.ini" && shift 3 && exec "$@"')
        why = "no unshare"
        if shutil.which("unshare") is not None and mount != "/etc" and \
                os.path.isdir(mount):
            for flags in (["-rm"], ["-m"]):
                probe = subprocess.run(["unshare"] + flags + ["true"],
                                       capture_output=True)
                if probe.returncode == 0:
                    return path, ["unshare"] + flags + [
                        "sh", "-c", script, "sh", mount, confdir, src] + \
                        daemon
                why = probe.stderr.decode().strip()
        if os.geteuid() == 0 and not os.path.lexists(path):
            self.make_real_file(path, conf_text)
            return path, daemon
        self.skipTest("cannot fake %s here (%s)" % (path, why))

    def make_real_file(self, path, conf_text):
        """Create path (and the directories it needs) for this test only."""
        made = []
        d = os.path.dirname(path)
        while not os.path.isdir(d):
            made.append(d)
            d = os.path.dirname(d)
        for d in reversed(made):
            os.mkdir(d)
        with open(path, "w") as f:
            f.write(conf_text)

        def remove():
            os.unlink(path)
            for d in made:
                os.rmdir(d)
        self.addCleanup(remove)

    def tearDown(self):
        if hasattr(self, "tmp"):
            self.tmp.cleanup()

    def test_without_the_file_the_builtin_defaults(self):
        if builtin_source() is not None:
            self.skipTest("%s is installed here" % builtin_source())
        rc, out, err = harness.run(["-t", "-q"])
        self.assertEqual((rc, out, err), (0, "", ok_line()))

    def test_installed_file_is_read_without_c(self):
        path, cmd = self.namespace_cmd(ECHO_LISTENER, ["-t"])
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, ok_line(path))
        self.assertIn("[listener echo]\n", p.stdout)
        self.assertNotIn("[listener chat]", p.stdout)   # not the defaults

    def test_installed_file_named_in_the_starting_line(self):
        path, cmd = self.namespace_cmd(ECHO_LISTENER, [])
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            deadline = time.monotonic() + 10 * harness.SLOW
            while time.monotonic() < deadline:
                line = proc.stderr.readline()
                if not line:
                    break
                lines.append(line)
                if line.endswith(" info: ready\n"):
                    break
            text = "".join(lines)
            self.assertRegex(text, r"(?m) info: echochatd 0\.1\.0 starting "
                             r"with %s$" % re.escape(path))
            self.assertRegex(text, r"(?m) info: listener echo: listening ")
            self.assertNotIn("listener chat:", text)
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(10 * harness.SLOW), 0)
            proc.stderr.close()

    def test_builtin_defaults_named_in_the_starting_line(self):
        if builtin_source() is not None:
            self.skipTest("%s is installed here" % builtin_source())
        # Hold the defaults' first port, so the start says where its
        # settings came from and then fails, binding nothing.
        with socket.socket() as busy:
            busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                busy.bind(("127.0.0.1", 7007))
                busy.listen(1)
            except OSError:
                pass        # someone else holds it: the same for us
            rc, out, err = harness.run([])
        self.assertEqual(rc, 71, err)
        self.assertRegex(err, r"(?m) info: echochatd 0\.1\.0 starting with "
                         r"the built-in defaults$")


class ConfigErrors(unittest.TestCase):
    """Invalid configurations: 78 with FILE:LINE: message."""

    def assertConfigErrors(self, text, messages, check_only=True):
        """messages: [(line, message)]; the exact stderr is checked."""
        with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
            path = write_config(d, text)
            args = ["-c", path] + (["-t"] if check_only else [])
            rc, out, err = harness.run(args)
        self.assertEqual(rc, 78, err)
        self.assertEqual(out, "")
        expected = ["echochatd: %s:%d: %s" % (path, line, msg)
                    for line, msg in messages]
        expected.append("echochatd: %d error%s in the configuration" % (
            len(messages), "" if len(messages) == 1 else "s"))
        self.assertEqual(err.splitlines(), expected)

    def test_unknown_key(self):
        self.assertConfigErrors("""\
[listener echo]
prot = tcp
proto = tcp
bind = 127.0.0.1:0
handler = echo
""", [(2, 'unknown key "prot" in [listener echo]')])

    def test_unknown_key_in_server(self):
        self.assertConfigErrors("""\
[server]
max_client = 5
""" + ECHO_LISTENER, [(2, 'unknown key "max_client" in [server]')])

    def test_unknown_section(self):
        self.assertConfigErrors(ECHO_LISTENER + """\

[servre]
max_clients = 5
""", [(6, "unknown section [servre]")])

    def test_bad_value(self):
        self.assertConfigErrors("""\
; a comment
# another

[server]
max_clients = lots
""" + ECHO_LISTENER, [(5, 'bad value "lots" for max_clients: expected '
                          'a whole number')])

    def test_bad_duration_and_size(self):
        self.assertConfigErrors("""\
[server]
idle_timeout = 5 minutes
output_limit = 1x
""" + ECHO_LISTENER, [
            (2, 'bad value "5 minutes" for idle_timeout: expected a '
                'duration (e.g. 30, 500ms, 2s, 5m, 1h)'),
            (3, 'bad value "1x" for output_limit: expected a size '
                '(e.g. 4096, 64k, 1m)')])

    def test_bad_proto(self):
        self.assertConfigErrors("""\
[listener echo]
proto = sctp
bind = 127.0.0.1:0
handler = echo
""", [(2, 'bad proto "sctp" (tcp, udp or unix)')])

    def test_duplicate_listener(self):
        self.assertConfigErrors(ECHO_LISTENER + """\

[listener echo]
proto = udp
bind = 127.0.0.1:0
handler = echo
""", [(6, 'duplicate listener "echo" (first defined at line 1)')])

    def test_duplicate_address(self):
        self.assertConfigErrors("""\
[listener one]
proto = tcp
bind = 127.0.0.1:7007
handler = echo

[listener two]
proto = tcp
bind = 127.0.0.1:7007
handler = upper
""", [(8, "[listener two]: tcp 127.0.0.1:7007 is already used by "
          "[listener one] at line 1")])

    def test_same_port_other_proto_is_fine(self):
        path, rc, out, err = check_with_file("""\
[listener one]
proto = tcp
bind = 127.0.0.1:7007
handler = echo

[listener two]
proto = udp
bind = 127.0.0.1:7007
handler = echo
""")
        self.assertEqual((rc, err), (0, ok_line(path)))

    def test_errors_also_stop_a_real_start(self):
        # Without -t: same report, same exit status, nothing started.
        self.assertConfigErrors("""\
[listener echo]
proto = tcp
bind = 127.0.0.1:0
handler = echo
colour = blue
""", [(5, 'unknown key "colour" in [listener echo]')], check_only=False)

    def test_every_error_at_its_own_line(self):
        # A bad proto does not hide the handler's error; bind and handler
        # errors name the key's line, not the [listener] header's.
        for check_only in (True, False):
            with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
                path = write_config(d, """\
[listener echo]
proto = sctp
bind = 127.0.0.1:0
handler = nope

[listener two]
proto = tcp
bind = 127.0.0.1
handler = ehco

[plugins]
dir = %s
""" % d)
                rc, out, err = harness.run(
                    ["-c", path] + (["-t"] if check_only else []))
            self.assertEqual(rc, 78, err)
            self.assertEqual(err.splitlines(), [
                "echochatd: %s:2: bad proto \"sctp\" (tcp, udp or unix)"
                % path,
                "echochatd: %s:4: [listener echo]: unknown handler \"nope\": "
                "not built in (echo, upper, chat), and no plugin: %s/nope.so: "
                "No such file or directory" % (path, d),
                "echochatd: %s:8: [listener two]: bad bind \"127.0.0.1\": "
                "expected HOST:PORT" % path,
                "echochatd: %s:9: [listener two]: unknown handler \"ehco\": "
                "not built in (echo, upper, chat), and no plugin: %s/ehco.so: "
                "No such file or directory" % (path, d),
                "echochatd: 4 errors in the configuration"])

    def test_check_refuses_what_start_up_refuses(self):
        # One socket file written two ways, and an IPv4-mapped IPv6
        # address (which bind() refuses with EINVAL): -t says so, and so
        # does a real start, before binding anything.
        with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
            for check_only in (True, False):
                self.assertConfigErrors("""\
[listener a]
proto = unix
bind = %s/s.sock
handler = echo

[listener b]
proto = unix
bind = %s//s.sock
handler = echo

[listener c]
proto = tcp
bind = [::ffff:127.0.0.1]:0
handler = echo
""" % (d, d), [
                    (13, '[listener c]: bad bind "[::ffff:127.0.0.1]:0": an '
                         'IPv4-mapped address cannot be bound: write it as '
                         'HOST:PORT'),
                    (8, "[listener b]: unix %s//s.sock is already used by "
                        "[listener a] at line 1" % d)],
                    check_only=check_only)
                self.assertEqual(os.listdir(d), [])

    def test_byte_order_mark_and_nul(self):
        path, rc, out, err = check_with_file("\ufeff" + ECHO_LISTENER)
        self.assertEqual((rc, err),
                         (0, "echochatd: configuration OK (%s)\n" % path))
        with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
            path = os.path.join(d, "nul.ini")
            with open(path, "wb") as f:
                f.write(b"[server]\nmax_clients = 5\0junk\n" +
                        ECHO_LISTENER.encode())
            rc, out, err = harness.run(["-t", "-c", path])
        self.assertEqual(rc, 78)
        self.assertEqual(err, "echochatd: %s:2: NUL byte in the line\n"
                         "echochatd: 1 error in the configuration\n" % path)

    def test_directory_as_config(self):
        with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
            for args in (["-c", d], ["-t", "-c", d]):
                rc, out, err = harness.run(args)
                self.assertEqual(rc, 78, args)
                self.assertEqual(out, "")
                self.assertEqual(err, "echochatd: %s: cannot read: Is a "
                                 "directory\nechochatd: 1 error in the "
                                 "configuration\n" % d)

    def test_empty_config_name_is_a_usage_error(self):
        for args in (["-c", ""], ["-t", "-c", ""], ["-p", ""]):
            rc, out, err = harness.run(args)
            self.assertEqual(rc, 64, args)
            self.assertTrue(err.startswith("echochatd: -%s needs a file "
                                           "name\n" % args[-2][1]), err)

    def test_missing_file(self):
        with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
            path = os.path.join(d, "nope.ini")
            for args in (["-c", path], ["-t", "-c", path]):
                rc, out, err = harness.run(args)
                self.assertEqual(rc, 78, args)
                self.assertEqual(out, "")
                self.assertIn("echochatd: %s: cannot open: No such file "
                              "or directory\n" % path, err)


class Startup(unittest.TestCase):
    """Bind failures (71) and signals."""

    def start_failing(self, config):
        """Start a daemon that must fail on its own: (rc, log)."""
        server = harness.Server(config, wait_ready=False)
        try:
            server.proc.wait(10 * harness.SLOW)
        except Exception:
            server.kill()
            raise
        rc = server.stop()
        log = server.log()
        report = server.valgrind_report() if server.valgrind else ""
        server.tmp.cleanup()
        server.proc.stdout.close()
        server.proc.stderr.close()
        return rc, log + report

    def test_tcp_port_in_use(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            config = ECHO_LISTENER.replace("127.0.0.1:0",
                                           "127.0.0.1:%d" % port)
            rc, log = self.start_failing(config)
        self.assertEqual(rc, 71, log)
        self.assertRegex(log, r"error: listener echo: tcp 127\.0\.0\.1:%d: "
                         r"Address already in use" % port)
        self.assertNotIn("info: ready", log)

    def test_udp_port_in_use_after_other_listeners(self):
        # The first listener binds, the second cannot: all is undone.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
            busy.bind(("127.0.0.1", 0))
            port = busy.getsockname()[1]
            config = ECHO_LISTENER + """
[listener dgram]
proto = udp
bind = 127.0.0.1:%d
handler = upper
""" % port
            rc, log = self.start_failing(config)
        self.assertEqual(rc, 71, log)
        self.assertRegex(log, r"error: listener dgram: udp 127\.0\.0\.1:%d: "
                         r"Address already in use" % port)

    def stop_with(self, sig, name):
        server = start(ECHO_LISTENER)
        try:
            echo_roundtrip(self, server)
            wait_idle(server)
            t0 = time.monotonic()
            rc = server.stop(sig)
            elapsed = time.monotonic() - t0
        finally:
            close_server(server)  # checks the exit status and valgrind
        self.assertEqual(rc, 0, server.log())
        self.assertLess(elapsed, 2 * harness.SLOW)
        self.assertRegex(server.log(), r"info: shutting down \(%s\)" % name)
        self.assertRegex(server.log(), r"info: stopped$")

    def test_sigterm(self):
        self.stop_with(signal.SIGTERM, "SIGTERM")

    def test_sigint(self):
        self.stop_with(signal.SIGINT, "SIGINT")


class Logging(unittest.TestCase):

    def wait_file(self, path, pattern, timeout=10):
        deadline = time.time() + timeout * harness.SLOW
        rx = re.compile(pattern)
        text = ""
        while time.time() < deadline:
            if os.path.exists(path):
                with open(path) as f:
                    text = f.read()
                m = rx.search(text)
                if m:
                    return m, text
            time.sleep(0.02)
        self.fail("no %r in log file:\n%s" % (pattern, text))

    def run_once(self, logpath):
        """Start with log = logpath, echo once, stop: (pid, file text)."""
        config = "[server]\nlog = %s\n\n" % logpath + ECHO_LISTENER
        server = harness.Server(config, wait_ready=False)
        try:
            self.wait_file(logpath, r"echochatd\[%d\] info: ready\n"
                           % server.proc.pid)
            server.idle_fds = open_fds(server)
            with open(logpath) as f:
                text = f.read()
            port = None
            for m in harness.LISTEN_RE.finditer(text):
                if m.group(1) == "echo":
                    port = harness.parse_addr(m.group(3))[2]
            self.assertIsNotNone(port, text)
            with socket.create_connection(("127.0.0.1", port),
                                          timeout=5 * harness.SLOW) as s:
                s.sendall(b"logged\n")
                self.assertEqual(harness.recv_exactly(s, 7), b"logged\n")
        finally:
            close_server(server)
        # Nothing went to stderr: the file is the log.
        for line in server.log_lines:
            self.assertIsNone(LOG_LINE_RE.match(line), server.log())
        with open(logpath) as f:
            return server.proc.pid, f.read()

    def test_log_file_appended(self):
        with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
            logpath = os.path.join(d, "echochatd.log")
            pid1, text1 = self.run_once(logpath)
            pid2, text2 = self.run_once(logpath)
        self.assertTrue(text2.startswith(text1), "file was not appended")
        now = time.time()
        pids = set()
        for line in text2.splitlines():
            m = LOG_LINE_RE.match(line)
            self.assertIsNotNone(m, "bad log line %r" % line)
            stamp = calendar.timegm(time.strptime(m.group(1),
                                                  "%Y-%m-%dT%H:%M:%SZ"))
            self.assertLess(abs(now - stamp), 300, line)   # UTC, recent
            pids.add(int(m.group(2)))
        self.assertEqual(pids, {pid1, pid2})
        for pid in (pid1, pid2):
            for event in (r"info: echochatd 0\.1\.0 starting with "
                          r"/\S+\.ini",
                          r"info: listener echo: listening on tcp "
                          r"127\.0\.0\.1:\d+ \(handler echo\)",
                          r"info: ready", r"info: shutting down \(SIGTERM\)"):
                self.assertRegex(text2, r"(?m)^\S+ echochatd\[%d\] %s$"
                                 % (pid, event))

    def test_stderr_log_format(self):
        server = start(ECHO_LISTENER)
        try:
            server.wait_log(r"info: ready$")
        finally:
            close_server(server)
        lines = server.log_lines
        self.assertTrue(lines)
        for line in lines:
            m = LOG_LINE_RE.match(line)
            self.assertIsNotNone(m, "bad log line %r" % line)
            self.assertEqual(int(m.group(2)), server.proc.pid)

    def test_debug_logs_connect_and_disconnect(self):
        server = start(ECHO_LISTENER, args=["-L", "debug"])
        try:
            with server.connect("echo") as s:
                local_port = s.getsockname()[1]
                s.sendall(b"x")
                self.assertEqual(harness.recv_exactly(s, 1), b"x")
                server.wait_log(r"debug: connect 127\.0\.0\.1:%d on "
                                r"listener echo( \(loop \d+\))?$" %
                                local_port)
            server.wait_log(r"debug: disconnect 127\.0\.0\.1:%d on "
                            r"listener echo: client after \d+\.\d{3}s, "
                            r"bytes in 1, out 1$" % local_port)
        finally:
            close_server(server)

    def test_info_does_not_log_connects(self):
        server = start("[server]\nlog_level = debug\n\n" +
                                ECHO_LISTENER, args=["-L", "info"])
        try:
            echo_roundtrip(self, server)
        finally:
            close_server(server)
        self.assertNotRegex(server.log(), r"debug: (dis)?connect ")
        self.assertIn("info: shutting down", server.log())


CHAT_LISTENERS = """\
[listener chat]
proto = tcp
bind = 127.0.0.1:0
handler = chat

[listener chat-udp]
proto = udp
bind = 127.0.0.1:0
handler = chat
"""

DISCONNECT = (r"debug: disconnect 127\.0\.0\.1:%d on listener %s: %s after "
              r"\d+\.\d{3}s, bytes in (\d+), out (\d+)%s$")


class DisconnectLog(unittest.TestCase):
    """The debug disconnect line: the reason (client, idle, too_slow,
    quit, shutdown, reload, error), how long, bytes each way and the chat
    nick; nick changes and UDP joins and leaves at debug; the chat_rate
    line and the UDP drop summary (singular and plural, per interval) name
    the address (README "Logging")."""

    def start(self, config):
        self.server = start(config, args=["-L", "debug"])
        self.addCleanup(close_server, self.server)
        return self.server

    def chat_user(self):
        s = self.server.connect("chat")
        self.addCleanup(s.close)
        welcome = harness.recv_line(s)
        nick = re.match(rb"\*\*\* Welcome to echochat, (guest\d+)\.",
                        welcome).group(1).decode()
        return s, s.getsockname()[1], nick

    def test_quit_with_nick_and_bytes(self):
        self.start(CHAT_LISTENERS)
        s, port, nick = self.chat_user()
        self.server.wait_log(r"debug: chat: stream 127\.0\.0\.1:%d joined "
                             r"as %s$" % (port, nick))
        s.sendall(b"/nick alice\n")
        self.assertEqual(harness.recv_line(s), b"*** You are now alice\n")
        self.server.wait_log(r"debug: chat: %s at 127\.0\.0\.1:%d is now "
                             r"known as alice$" % (nick, port))
        s.sendall(b"/quit\n")
        self.assertEqual(harness.recv_until_closed(s), b"*** Bye\n")
        m = self.server.wait_log(DISCONNECT % (port, "chat", "quit",
                                               ", user alice"))
        self.assertEqual(m.group(1), str(len(b"/nick alice\n/quit\n")))
        self.assertGreater(int(m.group(2)), len(b"*** Bye\n"))

    def test_client_close_and_shutdown(self):
        self.start(ECHO_LISTENER)
        with self.server.connect("echo") as s:
            port = s.getsockname()[1]
            s.sendall(b"abc\n")
            harness.recv_exactly(s, 4)
        self.server.wait_log(DISCONNECT % (port, "echo", "client", ""))
        # Still connected when the server stops: shutdown.
        s = self.server.connect("echo")
        port = s.getsockname()[1]
        harness.roundtrip(self, s)
        self.server.stop()
        self.assertRegex(self.server.log(), "(?m)" + DISCONNECT % (
            port, "echo", "shutdown", ""))
        s.close()

    def test_idle(self):
        self.start("[server]\nidle_timeout = 300ms\n\n" + ECHO_LISTENER)
        with self.server.connect("echo") as s:
            port = s.getsockname()[1]
            self.assertEqual(harness.recv_until_closed(s), b"")
        self.server.wait_log(DISCONNECT % (port, "echo", "idle", ""))

    def test_reload_removing_the_listener(self):
        self.start(ECHO_LISTENER + "\n" + CHAT_LISTENERS)
        s, port, nick = self.chat_user()
        with open(self.server.config_path, "w") as f:
            f.write(harness.with_workers(ECHO_LISTENER))
        self.server.reload()
        self.server.wait_log(DISCONNECT % (
            port, "chat", r"reload \([^)]+\)", ", user " + nick))
        harness.recv_until_closed(s)

    def test_udp_join_nick_and_leave(self):
        self.start(CHAT_LISTENERS)
        with self.server.udp("chat-udp") as u:
            port = u.getsockname()[1]
            u.send(b"hello\n")
            token = u.recv(200).split()[-1]
            u.send(b"/join " + token + b"\n")
            nick = re.match(rb"\*\*\* Welcome to echochat, (guest\d+)\.",
                            u.recv(200)).group(1).decode()
            self.server.wait_log(r"debug: chat: udp 127\.0\.0\.1:%d joined "
                                 r"as %s$" % (port, nick))
            u.send(b"/nick bob\n")
            self.server.wait_log(r"debug: chat: %s at 127\.0\.0\.1:%d is "
                                 r"now known as bob$" % (nick, port))
            u.send(b"/quit\n")
            self.server.wait_log(r"debug: chat: udp 127\.0\.0\.1:%d \(bob\) "
                                 r"left: quit$" % port)

    def test_udp_drop_summary(self):
        self.start("[server]\nudp_rate = 1\nudp_burst = 1\n\n"
                   "[listener echo-udp]\nproto = udp\nbind = 127.0.0.1:0\n"
                   "handler = echo\n")
        with self.server.udp("echo-udp") as u:
            port = u.getsockname()[1]
            u.send(b"one")
            self.assertEqual(u.recv(100), b"one")
            u.send(b"two")          # over the burst: dropped, logged at once
            self.server.wait_log(
                r"info: udp: dropped 1 reply over udp_rate and 0 datagrams "
                r"from ports below 1024 or our own since the start \(1 in "
                r"all\); the last reply over udp_rate was for "
                r"127\.0\.0\.1:%d$" % port)

    def test_chat_rate_line_names_the_address(self):
        self.start("[chat]\nchat_rate = 1\nchat_burst = 1\n\n" +
                   CHAT_LISTENERS)
        s, port, nick = self.chat_user()
        s.sendall(b"one\ntwo\nthree\n")
        self.assertEqual(harness.recv_line(s), b"*** error: slow down\n")
        self.server.wait_log(r"info: chat: %s sends more than chat_rate; "
                             r"dropping its lines \(from 127\.0\.0\.1:%d\)$"
                             % (nick, port))


if __name__ == "__main__":
    harness.main()
