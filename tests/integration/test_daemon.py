#!/usr/bin/env python3
"""test_daemon.py -- echochatd as a service: daemon mode, pid file, user
switch, SIGHUP reload, log reopening, systemd notify, socket activation and
the systemd units.

Covers (echochatd(8): DAEMON MODE, SIGNALS, SYSTEMD, LOGGING):
- -d / daemonize = yes: the foreground process exits 0 only once every
  listener (TCP, UDP, Unix) is bound, so a connect right after it succeeds;
  the daemon is in a new session it does not lead, has no terminal, stdio on
  /dev/null and cwd /; -f overrides daemonize = yes; -d with -f is 64;
  start-up failures (port in use, unknown user, unusable pid file) exit 71
  with the reason on stderr and leave no process behind; relative -c, -p
  and log paths still mean the caller's directory after the chdir /.
- the pid file: holds pid + LF, is flock()ed while running, removed on a
  clean exit (also after a reload), works without -d, -p overrides
  pidfile =; a second instance
  exits 75 naming the holder; a stale file (dead pid, unlocked) is taken
  over.
- user = NAME (as root only): the process runs with that user's uid/gid
  after binding (even a port below 1024); a daemon that dropped privileges
  leaves at most an empty, unlocked pid file behind.
- SIGHUP: listeners added, removed, kept (their socket and connections,
  a chat conversation across the reload), a changed handler closes its
  connections; limits and log_level apply afterwards; an invalid or
  missing file and an unbindable new listener are logged and change
  nothing; the log file is reopened (also on SIGUSR1); the daemon still
  exits 0 after a reload.
- systemd: READY=1, RELOADING=1 + READY=1 around SIGHUP, STOPPING=1 on
  NOTIFY_SOCKET; sockets from systemd-socket-activate (TCP, UDP, Unix) are
  adopted by the listener whose bind matches them, unmatched ones logged
  and closed; systemd-analyze verify accepts the generated units.
- unix listeners' mode, owner and group: applied, reapplied on a reload,
  printed by -t, refused where they do not belong.
- make install keeps an edited echochatd.ini (the example goes beside it
  as echochatd.ini.default) and make uninstall leaves it; the logrotate
  snippet is installed, and logrotate run on it rotates a log file and
  makes the daemon reopen it (SIGUSR1 through the pid file), the new file
  starting with "log reopened".

Daemons that detach are not children of the test: they are found through
their pid file, waited for by polling /proc/PID (a zombie counts as gone),
and killed by pid in tearDown if still alive.  They run without valgrind;
ECHOCHAT_VALGRIND applies to the foreground daemons started by
harness.Server.
"""
import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import harness

SLOW = harness.SLOW
ECHOCHATD = os.path.abspath(harness.ECHOCHATD)
BUILDDIR = os.path.dirname(os.path.dirname(ECHOCHATD))
SRCDIR = os.path.abspath(harness.SRCDIR)
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")
FULL = b"*** error: server full\n"
UNKNOWN_USER = "nosuchuser-echochat"
DONE_RE = r"info: reload done: \d+ listeners?$|error: reload failed: "


def built_with_libsystemd():
    """False only when the build's config.h says libsystemd is absent."""
    try:
        with open(os.path.join(BUILDDIR, "config.h")) as f:
            return "#define HAVE_LIBSYSTEMD 1" in f.read()
    except OSError:
        return True


def listener(name, handler="echo", proto="tcp", bind="127.0.0.1:0",
             extra=""):
    return ("\n[listener %s]\nproto = %s\nbind = %s\nhandler = %s\n%s" %
            (name, proto, bind, handler, extra))


def lo(port):
    return "127.0.0.1:%d" % port


free_ports = harness.free_ports
free_port = harness.free_port


def connect(port, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5 * SLOW)
    s.connect(("127.0.0.1", port) if family == socket.AF_INET else port)
    return s


def refuses(port):
    """Does a TCP connect to the port get refused?"""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2 * SLOW)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


def roundtrip(testcase, sock, data=b"ping\n", expect=None):
    sock.sendall(data)
    expect = data if expect is None else expect
    testcase.assertEqual(harness.recv_exactly(sock, len(expect)), expect)


def udp_roundtrip(testcase, port, data, expect=None):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(3 * SLOW)
        u.connect(("127.0.0.1", port))
        u.send(data)
        testcase.assertEqual(u.recv(65536), data if expect is None else
                             expect)


def closed_by_peer(sock):
    """Read to EOF; what arrived (b"" expected), None on a reset."""
    try:
        return harness.recv_until_closed(sock)
    except ConnectionResetError:
        return None


def chat_pair(port):
    """Two chat participants, guest1 (a) and guest2 (b), welcomed."""
    a = connect(port)
    if not harness.recv_line(a).startswith(b"*** Welcome"):
        raise AssertionError("no welcome for the first chat client")
    b = connect(port)
    if not harness.recv_line(b).startswith(b"*** Welcome"):
        raise AssertionError("no welcome for the second chat client")
    line = harness.recv_line(a)
    if line != b"*** guest2 has joined\n":
        raise AssertionError("unexpected line %r" % line)
    return a, b


def nothing_pending(sock, wait=0.2):
    """True if nothing more arrives on sock within wait seconds (scaled
    under valgrind: with workers, what another loop sends is not ordered
    with what was just read)."""
    sock.settimeout(wait * harness.QUIET_SLOW)
    try:
        data = sock.recv(4096)
    except socket.timeout:
        return True
    finally:
        sock.settimeout(5 * SLOW)
    raise AssertionError("unexpected data %r" % data)


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def wait_file(path, pattern, timeout=5):
    """Wait until the file has a line matching the regex; the match."""
    rx = re.compile(pattern, re.M)
    deadline = time.time() + timeout * SLOW
    while True:
        text = read_text(path) or ""
        m = rx.search(text)
        if m:
            return m
        if time.time() > deadline:
            raise AssertionError("no line matching %r in %s:\n%s" %
                                 (pattern, path, text))
        time.sleep(0.02)


def wait_files(paths, pattern, timeout=5):
    """Wait until one of the files has a matching line; that file."""
    rx = re.compile(pattern, re.M)
    deadline = time.time() + timeout * SLOW
    while True:
        for path in paths:
            if rx.search(read_text(path) or ""):
                return path
        if time.time() > deadline:
            raise AssertionError("no line matching %r in any of %s" %
                                 (pattern, paths))
        time.sleep(0.02)


def proc_stat(pid):
    """Fields of /proc/PID/stat after the command: [state, ppid, pgrp,
    session, tty_nr, ...]; None if there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2:].split()


def running(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def wait_gone(pid, timeout=5):
    deadline = time.time() + timeout * SLOW
    while running(pid):
        if time.time() > deadline:
            return False
        time.sleep(0.02)
    return True


def pids_mentioning(needle):
    """Live processes whose command line contains needle."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle.encode() in cmdline and running(int(name)):
            found.append(int(name))
    return found


def status_ids(pid):
    """(uids, gids, groups) from /proc/PID/status."""
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = [int(v) for v in value.split()]
    return ids["Uid"], ids["Gid"], ids.get("Groups", [])


def assert_locked(testcase, path):
    """Someone holds an flock on the file."""
    with open(path) as f:
        with testcase.assertRaises(BlockingIOError,
                                   msg="%s is not locked" % path):
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def assert_unlocked(testcase, path):
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            testcase.fail("%s is still locked" % path)
        fcntl.flock(f, fcntl.LOCK_UN)


def release(server):
    """Make sure a daemon started by harness.Server is gone and its
    directory removed (no checks; for cleanups)."""
    server.kill()
    server.stop()
    server.tmp.cleanup()


def reload(server, text=None, timeout=5):
    """Write text (if given) as the server's config file, send SIGHUP and
    wait until the daemon is ready again (its READY=1 after the reload,
    done or failed); returns the lines it logged meanwhile."""
    if text is not None:
        with open(server.config_path, "w") as f:
            f.write(text.replace("@DIR@", server.dir))
    return server.reload(timeout)


class DaemonCase(unittest.TestCase):
    """Helpers for daemons that detach (not children of the test)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="echochat-test-")
        self.dir = self.tmp.name
        self.pids = []

    def tearDown(self):
        # Anything still alive that a test started: by pid, never by name.
        for pid in self.pids + pids_mentioning(self.dir):
            if running(pid):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid)
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, text, name="echochatd.ini"):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(harness.with_workers(text.replace("@DIR@", self.dir)))
        return path

    def run_daemon(self, args, cwd=None):
        """Run echochatd (no valgrind) until its foreground process exits:
        (rc, stdout, stderr).  Returning at all means the daemon let go of
        our stdout and stderr."""
        p = subprocess.run([ECHOCHATD] + list(args),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=10 * SLOW, cwd=cwd)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def daemon_pid(self, pidfile):
        """The pid a pid file holds ("PID\\n"); killed in tearDown."""
        text = read_text(pidfile)
        self.assertIsNotNone(text, "no pid file %s" % pidfile)
        self.assertRegex(text, r"^[1-9]\d*\n$")
        pid = int(text)
        self.pids.append(pid)
        return pid

    def stop_daemon(self, pid, sig=signal.SIGTERM):
        os.kill(pid, sig)
        self.assertTrue(wait_gone(pid, 10),
                        "pid %d still running after %s" % (pid, sig))

    def assert_no_daemon_left(self, needle):
        deadline = time.time() + 3 * SLOW
        while True:
            left = pids_mentioning(needle)
            if not left:
                return
            if time.time() > deadline:
                self.pids += left
                self.fail("echochatd left running after a failed start: "
                          "pids %s" % left)
            time.sleep(0.02)


class Daemonize(DaemonCase):
    """-d / daemonize = yes."""

    def config(self, echo, upper, udp, extra=""):
        return ("[server]\nlog = @DIR@/echochatd.log\n"
                "pidfile = @DIR@/echochatd.pid\n" + extra +
                listener("echo", bind=lo(echo)) +
                listener("upper", "upper", bind=lo(upper)) +
                listener("echo-udp", proto="udp", bind=lo(udp)) +
                listener("unix", proto="unix", bind="@DIR@/echo.sock"))

    def test_detaches_once_every_listener_is_bound(self):
        echo, upper = free_ports(2)
        udp = free_port(socket.SOCK_DGRAM)
        cfg = self.write(self.config(echo, upper, udp))
        rc, out, err = self.run_daemon(["-d", "-c", cfg])
        self.assertEqual((rc, out, err), (0, "", ""))
        pid = self.daemon_pid(self.path("echochatd.pid"))
        # Straight after the foreground process returned: all answer.
        with connect(echo) as s:
            roundtrip(self, s)
        with connect(upper) as s:
            roundtrip(self, s, b"abc\n", b"ABC\n")
        udp_roundtrip(self, udp, b"datagram")
        with connect(self.path("echo.sock"), socket.AF_UNIX) as s:
            roundtrip(self, s, b"unix\n")

        st = proc_stat(pid)
        self.assertIsNotNone(st, "the daemon is gone")
        ppid, sid, tty = int(st[1]), int(st[3]), int(st[4])
        self.assertNotEqual(ppid, os.getpid())
        self.assertNotEqual(sid, os.getsid(0), "still in our session")
        self.assertNotEqual(sid, pid, "a session leader can acquire a "
                            "controlling terminal (no second fork)")
        self.assertEqual(tty, 0, "it has a controlling terminal")
        for fd in (0, 1, 2):
            self.assertEqual(os.readlink("/proc/%d/fd/%d" % (pid, fd)),
                             "/dev/null", "fd %d" % fd)
        self.assertEqual(os.readlink("/proc/%d/cwd" % pid), "/")
        assert_locked(self, self.path("echochatd.pid"))
        log = self.path("echochatd.log")
        wait_file(log, r"echochatd\[%d\] info: ready$" % pid)
        if harness.WORKERS:     # make check-workers: -d with threads too
            wait_file(log, r"info: %s worker threads$" % harness.WORKERS)

        self.stop_daemon(pid)
        self.assertFalse(os.path.exists(self.path("echochatd.pid")),
                         "pid file left after a clean exit")
        self.assertFalse(os.path.exists(self.path("echo.sock")))
        wait_file(log, r"echochatd\[%d\] info: stopped$" % pid)

    def test_daemonize_yes_in_config_and_f_overrides_it(self):
        echo, upper = free_ports(2)
        udp = free_port(socket.SOCK_DGRAM)
        cfg = self.write(self.config(echo, upper, udp,
                                     extra="daemonize = yes\n"))
        rc, out, err = self.run_daemon(["-c", cfg])
        self.assertEqual((rc, out, err), (0, "", ""))
        pid = self.daemon_pid(self.path("echochatd.pid"))
        self.assertNotEqual(int(proc_stat(pid)[3]), os.getsid(0))
        with connect(echo) as s:
            roundtrip(self, s)
        self.stop_daemon(pid)

        # -f: the same setting, but it stays in the foreground.
        pidfile = self.path("fg.pid")
        server = harness.Server("[server]\ndaemonize = yes\npidfile = %s\n"
                                % pidfile + listener("echo"), args=["-f"])
        self.addCleanup(release, server)
        self.assertIsNone(server.proc.poll())
        self.assertEqual(read_text(pidfile), "%d\n" % server.proc.pid)
        with server.connect("echo") as s:
            roundtrip(self, s)
        server.close()

    def test_start_failures_exit_71_with_the_reason(self):
        good, busy_port = free_ports(2)
        busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", busy_port))
        busy.listen()
        cases = [
            ("port in use",
             "pidfile = @DIR@/port.pid\n" + listener("good", bind=lo(good))
             + listener("busy", bind=lo(busy_port)),
             "listener busy: tcp 127.0.0.1:%d: Address already in use" %
             busy_port),
            ("pid file in a missing directory",
             "pidfile = @DIR@/missing/echochatd.pid\n" + listener("echo"),
             "pid file %s: No such file or directory" %
             self.path("missing/echochatd.pid")),
            ("pid file is a directory",
             "pidfile = @DIR@\n" + listener("echo"),
             "pid file %s: Is a directory" % self.dir),
        ]
        for i, (what, text, reason) in enumerate(cases):
            for log in ("file", "stderr"):
                with self.subTest(what, log=log):
                    name = "fail-%d-%s.ini" % (i, log)
                    cfg = self.write("[server]\n" + (
                        "log = @DIR@/fail-%d.log\n" % i if log == "file"
                        else "") + text, name)
                    rc, out, err = self.run_daemon(["-d", "-c", cfg])
                    self.assertEqual(rc, 71, err)
                    self.assertEqual(out, "")
                    if log == "file":
                        self.assertIn("echochatd: " + reason,
                                      err.splitlines())
                    else:
                        self.assertRegex(err, r"(?m) error: %s$" %
                                         re.escape(reason))
                    self.assert_no_daemon_left(cfg)
        self.assertFalse(os.path.exists(self.path("port.pid")),
                         "pid file left by a failed start")
        self.assertTrue(refuses(good), "a listener of a failed start "
                        "is still bound")

    def test_unknown_user_is_refused_by_t_and_at_start(self):
        # A user that does not exist is a mistake in the file: -t says
        # so, and a start refuses it the same way, before binding.
        port, = free_ports(1)
        cfg = self.write("[server]\nuser = %s\n" % UNKNOWN_USER +
                         listener("echo", bind=lo(port)), "user.ini")
        want = '%s:2: unknown user "%s"' % (cfg, UNKNOWN_USER)
        for args in (["-t", "-c", cfg], ["-d", "-c", cfg]):
            with self.subTest(args=args[0]):
                rc, out, err = self.run_daemon(args)
                self.assertEqual(rc, 78, err)
                self.assertIn("echochatd: " + want, err.splitlines())
                self.assert_no_daemon_left(cfg)
        self.assertTrue(refuses(port), "a refused start bound its port")

    def test_d_with_f_is_a_usage_error(self):
        for args in (["-d", "-f"], ["-f", "-d"],
                     ["--daemon", "--foreground"]):
            with self.subTest(args=args):
                rc, out, err = harness.run(args)
                self.assertEqual(rc, 64, err)
                self.assertIn("-d and -f contradict each other", err)

    def test_relative_paths_mean_the_callers_directory(self):
        # Users run "echochatd -d -c echochatd.ini -p echochatd.pid" and
        # later "kill -HUP": the daemon's chdir("/") must not change what
        # those names (and a relative log file) refer to.
        tag = os.path.basename(self.dir)
        for suffix in (".pid", ".log"):
            stray = "/" + tag + suffix      # where a chdir-ed daemon puts it
            self.assertFalse(os.path.exists(stray))
            self.addCleanup(lambda p=stray: os.path.exists(p) and
                            os.unlink(p))
        echo, new = free_ports(2)
        self.write("[server]\nlog = %s.log\n" % tag +
                   listener("echo", bind=lo(echo)), tag + ".ini")
        rc, out, err = self.run_daemon(
            ["-d", "-c", tag + ".ini", "-p", tag + ".pid"], cwd=self.dir)
        self.assertEqual((rc, out, err), (0, "", ""))
        problems = []
        pidfile = self.path(tag + ".pid")
        if not os.path.exists(pidfile):
            problems.append("-p %s.pid was not created in the directory "
                            "echochatd was started from%s" % (
                                tag, " but as /%s.pid" % tag
                                if os.path.exists("/%s.pid" % tag) else ""))
            pidfile = "/%s.pid" % tag
        pid = self.daemon_pid(pidfile)
        log = self.path(tag + ".log")
        wait_file(log, r"info: ready$")

        self.write("[server]\nlog = %s.log\n" % tag +
                   listener("echo", bind=lo(echo)) +
                   listener("new", bind=lo(new)), tag + ".ini")
        stray_log = "/%s.log" % tag
        os.kill(pid, signal.SIGHUP)
        wait_files([log, stray_log], DONE_RE)
        if refuses(new):
            problems.append("SIGHUP did not reload -c %s.ini (relative): %s"
                            % (tag, " / ".join(
                                l.split(": ", 1)[-1] for l in
                                (read_text(log) or "").splitlines()
                                if " error: " in l)))
        os.kill(pid, signal.SIGUSR1)
        if wait_files([log, stray_log], r"info: SIGUSR1: reopening the "
                      r"log$") != log:
            problems.append("log = %s.log (relative) was reopened as %s"
                            % (tag, stray_log))
        self.stop_daemon(pid)
        if problems:
            self.fail("relative paths break in daemon mode:\n  " +
                      "\n  ".join(problems))


class PidFile(DaemonCase):
    """pidfile = / -p: content, lock, removal, second instance, stale."""

    def start(self, args, text=None):
        server = harness.Server(text or listener("echo"), args=args)
        self.addCleanup(release, server)
        return server

    def test_pid_file_without_daemon_mode(self):
        pidfile, from_config = self.path("cli.pid"), self.path("cfg.pid")
        text = "[server]\npidfile = %s\n" % from_config + listener("echo")
        # -p overrides pidfile =
        server = self.start(["-p", pidfile], text)
        self.assertEqual(read_text(pidfile), "%d\n" % server.proc.pid)
        self.assertFalse(os.path.exists(from_config))
        assert_locked(self, pidfile)
        with server.connect("echo") as s:
            roundtrip(self, s)
        server.close()
        self.assertFalse(os.path.exists(pidfile), "not removed at exit")
        # pidfile = alone
        server = self.start([], text)
        self.assertEqual(read_text(from_config), "%d\n" % server.proc.pid)
        assert_locked(self, from_config)
        server.close()
        self.assertFalse(os.path.exists(from_config), "not removed at exit")

    def test_pid_file_removed_after_a_reload(self):
        """-p, SIGHUP, SIGTERM: the reload frees the old configuration,
        and the exit still removes the pid file it names, reading no
        freed memory.  Under valgrind (make check-valgrind) or ASan a
        read of freed memory fails the exit status; the plain run checks
        that the file is gone."""
        pidfile = self.path("hup.pid")
        server = self.start(["-p", pidfile])
        self.assertEqual(read_text(pidfile), "%d\n" % server.proc.pid)
        self.assertRegex(server.reload(), r"(?m)info: reload done: ")
        assert_locked(self, pidfile)
        with server.connect("echo") as s:
            roundtrip(self, s)
        server.close()          # exit status 0, valgrind clean
        self.assertFalse(os.path.exists(pidfile), "not removed at exit")

    def test_second_instance_exits_75(self):
        pidfile = self.path("echochatd.pid")
        first = self.start(["-p", pidfile])
        holder = "pid file %s is held by a running echochatd (pid %d)" % (
            pidfile, first.proc.pid)
        for mode in ([], ["-d"]):
            with self.subTest(mode=mode):
                cfg = self.write(listener("echo"),
                                 "second%s.ini" % "".join(mode))
                rc, out, err = self.run_daemon(
                    mode + ["-c", cfg, "-p", pidfile])
                self.assertEqual(rc, 75, err)
                self.assertEqual(out, "")
                self.assertRegex(err, r"(?m) error: %s$" %
                                 re.escape(holder))
                self.assert_no_daemon_left(cfg)
        # The first one is untouched: same file, still locked, serving.
        self.assertEqual(read_text(pidfile), "%d\n" % first.proc.pid)
        assert_locked(self, pidfile)
        with first.connect("echo") as s:
            roundtrip(self, s)
        first.close()
        self.assertFalse(os.path.exists(pidfile))

    def test_stale_pid_file_is_taken_over(self):
        pidfile = self.path("echochatd.pid")
        first = self.start(["-p", pidfile])
        dead = first.proc.pid
        first.kill()                    # SIGKILL: no clean-up
        self.assertEqual(read_text(pidfile), "%d\n" % dead)
        assert_unlocked(self, pidfile)
        second = self.start(["-p", pidfile])
        self.assertEqual(read_text(pidfile), "%d\n" % second.proc.pid)
        assert_locked(self, pidfile)
        with second.connect("echo") as s:
            roundtrip(self, s)
        second.close()
        self.assertFalse(os.path.exists(pidfile))

        # The same for a daemon, over a file naming some dead process.
        p = subprocess.Popen(["true"])
        p.wait()
        with open(pidfile, "w") as f:
            f.write("%d\n" % p.pid)
        cfg = self.write(listener("echo", bind=lo(free_port())))
        rc, out, err = self.run_daemon(["-d", "-c", cfg, "-p", pidfile])
        self.assertEqual(rc, 0, err)
        pid = self.daemon_pid(pidfile)
        self.assertNotEqual(pid, p.pid)
        self.assertTrue(running(pid))
        self.stop_daemon(pid)
        self.assertFalse(os.path.exists(pidfile))


class User(DaemonCase):
    """user = NAME (needs root)."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("not running as root: user = cannot switch "
                          "users (euid %d)" % os.geteuid())
        try:
            self.pw = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("there is no user 'nobody' here")
        super().setUp()

    def assert_runs_as_nobody(self, pid):
        uids, gids, groups = status_ids(pid)
        self.assertEqual(uids, [self.pw.pw_uid] * 4)
        self.assertEqual(gids, [self.pw.pw_gid] * 4)
        allowed = set(os.getgrouplist(self.pw.pw_name, self.pw.pw_gid))
        self.assertLessEqual(set(groups), allowed,
                             "supplementary groups kept: %s" % groups)

    @staticmethod
    def privileged_port():
        """A free port below 1024, or None."""
        for port in range(1023, 899, -1):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
        return None

    def test_runs_as_user_after_binding(self):
        low = self.privileged_port()
        text = "[server]\nuser = nobody\n" + listener("echo")
        if low is not None:
            text += listener("low", "upper", bind=lo(low))
        else:
            print("\n(no free port below 1024: binding before the switch "
                  "is not checked)", file=sys.stderr)
        server = harness.Server(text)
        self.addCleanup(release, server)
        server.wait_log(r"info: running as user nobody \(uid %d, gid %d\)$"
                        % (self.pw.pw_uid, self.pw.pw_gid))
        self.assert_runs_as_nobody(server.proc.pid)
        with server.connect("echo") as s:
            roundtrip(self, s)
        if low is not None:
            with connect(low) as s:
                roundtrip(self, s, b"low\n", b"LOW\n")
        server.close()

    def test_daemon_as_user_leaves_at_most_a_stale_pid_file(self):
        port = free_port()
        cfg = self.write("[server]\nuser = nobody\nlog = @DIR@/d.log\n"
                         "pidfile = @DIR@/d.pid\n" +
                         listener("echo", bind=lo(port)))
        rc, out, err = self.run_daemon(["-d", "-c", cfg])
        self.assertEqual((rc, out, err), (0, "", ""))
        pid = self.daemon_pid(self.path("d.pid"))
        self.assert_runs_as_nobody(pid)
        with connect(port) as s:
            roundtrip(self, s)
        self.stop_daemon(pid)
        wait_file(self.path("d.log"), r"info: stopped$")
        # nobody may not unlink in our root-only directory: then the file
        # is emptied, which reads as stale.
        self.assertIn(read_text(self.path("d.pid")), (None, ""))
        rc, out, err = self.run_daemon(["-d", "-c", cfg])
        self.assertEqual(rc, 0, err)
        pid2 = self.daemon_pid(self.path("d.pid"))
        self.assertNotEqual(pid2, pid)
        self.stop_daemon(pid2)


class Reload(unittest.TestCase):
    """SIGHUP reloads the same file."""

    def start(self, text, **kwargs):
        server = harness.Server(text, **kwargs)
        self.addCleanup(release, server)
        return server

    def track(self, sock):
        self.addCleanup(sock.close)
        return sock

    def test_listeners_added_removed_and_kept(self):
        echo, chat, upper, added = free_ports(4)
        added_udp = free_port(socket.SOCK_DGRAM)
        kept = (listener("echo", bind=lo(echo)) +
                listener("chat", "chat", bind=lo(chat)))
        server = self.start(kept + listener("upper", "upper",
                                            bind=lo(upper)))
        e = self.track(connect(echo))
        roundtrip(self, e)
        a, b = chat_pair(chat)
        self.track(a)
        self.track(b)
        u = self.track(connect(upper))
        roundtrip(self, u, b"x", b"X")

        lines = reload(server, kept +
                       listener("added", bind=lo(added)) +
                       listener("added-udp", "upper", "udp",
                                bind=lo(added_udp)))
        self.assertIn("info: SIGHUP: reloading %s" % server.config_path,
                      lines)
        for expected in (
                r"info: listener added: listening on tcp 127\.0\.0\.1:%d "
                r"\(handler echo\)$" % added,
                r"info: listener added-udp: listening on udp "
                r"127\.0\.0\.1:%d \(handler upper\)$" % added_udp,
                r"info: listener upper: removed \(tcp 127\.0\.0\.1:%d\)$" %
                upper,
                r"info: reload done: 4 listeners$"):
            self.assertRegex(lines, re.compile(expected, re.M))
        log = server.log()
        self.assertEqual(log.count("listener echo: listening on"), 1,
                         "the kept echo listener was bound again")
        self.assertEqual(log.count("listener chat: listening on"), 1,
                         "the kept chat listener was bound again")

        # Kept: connections go on, the chat room too.
        roundtrip(self, e, b"after the reload\n")
        a.sendall(b"still here?\n")
        self.assertEqual(harness.recv_line(b), b"<guest1> still here?\n")
        b.sendall(b"yes\n")
        self.assertEqual(harness.recv_line(a), b"<guest2> yes\n")
        c = self.track(connect(chat))
        self.assertEqual(harness.recv_line(c), b"*** Welcome to echochat, "
                         b"guest3. Type /help for help.\n")
        for old in (a, b):
            self.assertEqual(harness.recv_line(old),
                             b"*** guest3 has joined\n")
            self.assertTrue(nothing_pending(old))   # nobody "has left"
        # Removed: its connection closed, its port refuses.
        self.assertIn(closed_by_peer(u), (b"", None))
        self.assertTrue(refuses(upper), "removed listener still bound")
        # Added: answering.
        with connect(added) as s:
            roundtrip(self, s, b"new\n")
        udp_roundtrip(self, added_udp, b"abc", b"ABC")
        for s in (a, b, c, e):
            s.close()
        server.close()

    def test_limits_and_log_level_apply_after_the_reload(self):
        port = free_port()
        text = listener("echo", bind=lo(port))
        server = self.start("[server]\nmax_clients = 10\n" + text)
        socks = [self.track(connect(port)) for _ in range(3)]
        for s in socks:
            roundtrip(self, s)
        self.assertNotIn(" debug: ", server.log())
        lines = reload(server, "[server]\nmax_clients = 4\n"
                       "log_level = debug\n" + text)
        self.assertRegex(lines, r"(?m)info: reload done: 1 listener$")
        for s in socks:             # over nothing: the three stay
            roundtrip(self, s, b"kept\n")
        fourth = self.track(connect(port))
        roundtrip(self, fourth)
        fifth = self.track(connect(port))
        self.assertEqual(harness.recv_until_closed(fifth), FULL)
        server.wait_log(r" debug: connect ")
        for s in socks + [fourth, fifth]:
            s.close()
        server.close()

    def test_changed_handler_closes_its_connections(self):
        x, k = free_ports(2)
        server = self.start(listener("x", bind=lo(x)) +
                            listener("k", bind=lo(k)))
        cx = self.track(connect(x))
        ck = self.track(connect(k))
        roundtrip(self, cx)
        roundtrip(self, ck)
        lines = reload(server, listener("x", "upper", bind=lo(x)) +
                       listener("k", bind=lo(k)))
        self.assertIn("info: listener x: handler echo -> upper; its "
                      "connections are closed", lines)
        self.assertRegex(lines, r"(?m)info: reload done: 2 listeners$")
        self.assertIn(closed_by_peer(cx), (b"", None))
        roundtrip(self, ck, b"unchanged\n")
        with connect(x) as s:
            roundtrip(self, s, b"now upper\n", b"NOW UPPER\n")
        self.assertEqual(server.log().count("listener x: listening on"), 1,
                         "the changed listener's socket was not kept")
        ck.close()
        server.close()

    def test_invalid_or_missing_file_changes_nothing(self):
        port, new = free_ports(2)
        good = listener("echo", bind=lo(port))
        server = self.start("[server]\nmax_clients = 10\n" + good)
        path = server.config_path
        e = self.track(connect(port))
        roundtrip(self, e)

        lines = reload(server, "[server]\nmax_clients = 1\nbogus = 1\n" +
                       good + listener("new", bind=lo(new)))
        self.assertIn('error: %s:3: unknown key "bogus" in [server]' % path,
                      lines)
        self.assertRegex(lines, r"(?m)error: reload failed: 1 error; still "
                         r"running on the previous configuration$")
        self.assertNotIn("reload done", lines)
        self.assertTrue(refuses(new))
        roundtrip(self, e, b"still served\n")
        more = [self.track(connect(port)) for _ in range(2)]
        for s in more:              # max_clients = 1 did not apply
            roundtrip(self, s)

        os.rename(path, path + ".away")
        lines = reload(server)
        self.assertRegex(lines, r"(?m)error: %s: cannot open: No such file "
                         r"or directory$" % re.escape(path))
        self.assertRegex(lines, r"(?m)error: reload failed: 1 error; still "
                         r"running on the previous configuration$")
        roundtrip(self, e, b"still served\n")

        # And a good file afterwards is applied.
        lines = reload(server, good + listener("new", bind=lo(new)))
        self.assertRegex(lines, r"(?m)info: reload done: 2 listeners$")
        with connect(new) as s:
            roundtrip(self, s)
        roundtrip(self, e, b"and still\n")
        for s in more + [e]:
            s.close()
        server.close()

    def test_unbindable_new_listener_fails_the_whole_reload(self):
        keep, gone, fresh, busy_port = free_ports(4)
        busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", busy_port))
        busy.listen()
        server = self.start(listener("keep", bind=lo(keep)) +
                            listener("gone", "upper", bind=lo(gone)))
        k = self.track(connect(keep))
        roundtrip(self, k)
        lines = reload(server, listener("keep", bind=lo(keep)) +
                       listener("fresh", bind=lo(fresh)) +
                       listener("busy", bind=lo(busy_port)))
        self.assertRegex(lines, r"(?m)error: reload failed: listener busy: "
                         r"tcp 127\.0\.0\.1:%d: Address already in use; "
                         r"still running on the previous configuration$" %
                         busy_port)
        self.assertNotIn("removed", lines)
        self.assertTrue(refuses(fresh), "a listener of the failed reload "
                        "is still bound")
        with connect(gone) as s:
            roundtrip(self, s, b"old\n", b"OLD\n")
        roundtrip(self, k)

        busy.close()
        lines = reload(server)          # the same file, now bindable
        self.assertRegex(lines, r"(?m)info: reload done: 3 listeners$")
        for port in (fresh, busy_port):
            with connect(port) as s:
                roundtrip(self, s)
        self.assertTrue(refuses(gone))
        roundtrip(self, k, b"kept all along\n")
        k.close()
        server.close()

    def start_with_log_file(self):
        port = free_port()
        server = self.start("[server]\nlog = @DIR@/echochatd.log\n" +
                            listener("echo", bind=lo(port)),
                            args=["-L", "debug"], wait_ready=False)
        log = os.path.join(server.dir, "echochatd.log")
        wait_file(log, r"info: ready$")
        return server, port, log

    def connect_and_leave(self, port, log):
        """One connection, logged (debug) in the file at log."""
        before = (read_text(log) or "").count(" debug: disconnect ")
        with connect(port) as s:
            roundtrip(self, s)
        deadline = time.time() + 5 * SLOW
        while (read_text(log) or "").count(" debug: disconnect ") == before:
            self.assertLess(time.time(), deadline, "no disconnect logged "
                            "in %s" % log)
            time.sleep(0.02)

    def test_sighup_reopens_the_log(self):
        server, port, log = self.start_with_log_file()
        self.connect_and_leave(port, log)
        os.rename(log, log + ".1")          # as logrotate does
        server.send_signal(signal.SIGHUP)
        wait_file(log, r"info: reload done: 1 listener$")
        self.connect_and_leave(port, log)
        rotated = read_text(log + ".1")
        self.assertIn("info: SIGHUP: reloading", rotated)
        self.assertEqual(rotated.count(" debug: connect "), 1)
        self.assertEqual(read_text(log).count(" debug: connect "), 1)
        server.close()

    def test_sigusr1_reopens_the_log(self):
        server, port, log = self.start_with_log_file()
        self.connect_and_leave(port, log)
        os.rename(log, log + ".1")
        server.send_signal(signal.SIGUSR1)
        wait_file(log + ".1", r"info: SIGUSR1: reopening the log$")
        self.connect_and_leave(port, log)
        self.assertEqual(read_text(log + ".1").count(" debug: connect "), 1)
        self.assertEqual(read_text(log).count(" debug: connect "), 1)
        self.assertNotIn("reload", read_text(log + ".1"))
        # The new file starts by saying why it starts there.
        self.assertRegex(read_text(log).splitlines()[0],
                         r" info: log reopened \(SIGUSR1\)$")
        server.close()

    def test_installed_logrotate_snippet_rotates_the_log(self):
        """conf/echochatd.logrotate, pointed at this test's log and pid
        file (and at a unit that does not exist, so that the pid file is
        what finds the daemon), run by logrotate itself."""
        if shutil.which("logrotate") is None:
            self.skipTest("logrotate is not installed")
        port = free_port()
        tmp = tempfile.TemporaryDirectory(prefix="echochat-test-")
        self.addCleanup(tmp.cleanup)
        logdir = tmp.name
        log = os.path.join(logdir, "echochatd.log")
        pidfile = os.path.join(logdir, "echochatd.pid")
        server = self.start("[server]\nlog = %s\n" % log +
                            listener("echo", bind=lo(port)),
                            args=["-L", "debug", "-p", pidfile],
                            wait_ready=False)
        wait_file(log, r"info: ready$")
        self.connect_and_leave(port, log)
        with open(os.path.join(SRCDIR, "conf", "echochatd.logrotate")) as f:
            snippet = f.read()
        for old, new in (("/var/log/echochat/*.log",
                          os.path.join(logdir, "*.log")),
                         ("/run/echochatd.pid", pidfile),
                         ("echochatd.service",
                          "echochatd-test-no-such-unit.service")):
            self.assertIn(old, snippet)
            snippet = snippet.replace(old, new)
        conf = os.path.join(logdir, "logrotate.conf")
        with open(conf, "w") as f:
            f.write(snippet)
        p = subprocess.run(["logrotate", "-f", "-s",
                            os.path.join(logdir, "state"), conf],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(os.path.exists(log + ".1"), os.listdir(logdir))
        wait_file(log, r" info: log reopened \(SIGUSR1\)$")
        self.connect_and_leave(port, log)
        self.assertEqual(read_text(log + ".1").count(" debug: connect "), 1)
        self.assertEqual(read_text(log).count(" debug: connect "), 1)
        server.close()

    def test_log_that_cannot_be_reopened_falls_back_to_stderr(self):
        # The log's directory is removed: the reopen says so on stderr
        # (not in the deleted file), lines go on to stderr, and once the
        # directory is back a reopen writes to the file again.
        port = free_port()
        tmp = tempfile.TemporaryDirectory(prefix="echochat-test-")
        self.addCleanup(tmp.cleanup)
        logdir = os.path.join(tmp.name, "logs")
        os.mkdir(logdir)
        server = self.start("[server]\nlog = @DIR@/logs/echochatd.log\n" +
                            listener("echo", bind=lo(port)),
                            args=["-L", "debug"], wait_ready=False,
                            workdir=tmp.name)
        log = os.path.join(logdir, "echochatd.log")
        wait_file(log, r"info: ready$")
        old = os.path.join(tmp.name, "old.log")     # the file, once deleted
        os.link(log, old)
        shutil.rmtree(logdir)
        for n, sig in enumerate((signal.SIGUSR1, signal.SIGHUP)):
            server.send_signal(sig)
            warned = server.wait_log_matches(
                r" warn: cannot reopen log %s: No such file or directory; "
                r"logging to stderr until it can be reopened$" %
                re.escape(log), n + 1)
            self.assertEqual(len(warned), n + 1, server.log())
            before = server.log().count(" debug: disconnect ")
            with connect(port) as s:
                roundtrip(self, s)
            self.assertEqual(len(server.wait_log_matches(
                r" debug: disconnect ", before + 1)), before + 1)
        self.assertFalse(os.path.exists(logdir))
        written = read_text(old)
        self.assertNotIn("cannot reopen", written)
        self.assertNotIn(" debug: disconnect ", written)
        os.mkdir(logdir)
        server.send_signal(signal.SIGUSR1)
        wait_file(log, r"info: log %s reopened$" % re.escape(log))
        self.connect_and_leave(port, log)
        server.close()

    def test_exit_status_after_a_reload(self):
        server = self.start(listener("echo"))
        lines = reload(server)
        self.assertRegex(lines, r"(?m)info: reload done: 1 listener$")
        with server.connect("echo") as s:
            roundtrip(self, s)
        rc = server.stop()
        report = server.valgrind_report() if server.valgrind else ""
        self.assertEqual(rc, 0, "SIGTERM after one successful SIGHUP reload"
                         ": exit status %d\n%s\n%s" % (rc, server.log(),
                                                       report))

    def test_exit_status_after_a_failed_reload(self):
        server = self.start(listener("echo"))
        lines = reload(server, "[bogus]\n")
        self.assertIn("reload failed", lines)
        server.close()


class Notify(unittest.TestCase):
    """sd_notify to NOTIFY_SOCKET."""

    def setUp(self):
        # Sent with or without libsystemd (echochatd(8), SYSTEMD).  The
        # harness has a socket of its own; it passes every notification
        # on to the test's.
        self.tmp = tempfile.TemporaryDirectory(prefix="echochat-test-")
        self.addCleanup(self.tmp.cleanup)
        self.path = os.path.join(self.tmp.name, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.bind(self.path)
        self.seen = []

    def until(self, assignment, timeout=5):
        """Read datagrams until one carries assignment (all are kept)."""
        deadline = time.time() + timeout * SLOW
        while True:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                self.fail("no %s; got %s" % (assignment, self.seen))
            got = [a for a in data.decode().split("\n") if a]
            self.seen += got
            if assignment in got:
                return

    def states(self):
        return [a for a in self.seen
                if a.split("=")[0] in ("READY", "RELOADING", "STOPPING")]

    def test_ready_reloading_stopping(self):
        server = harness.Server(listener("echo"), env=dict(
            os.environ, NOTIFY_SOCKET=self.path))
        self.addCleanup(release, server)
        self.until("READY=1")
        self.assertEqual(self.states(), ["READY=1"])
        with server.connect("echo") as s:
            roundtrip(self, s)
        reload(server)
        self.until("READY=1")
        self.assertEqual(self.states(), ["READY=1", "RELOADING=1",
                                         "READY=1"])
        rc = server.stop()
        self.until("STOPPING=1")
        self.assertEqual(self.states(), ["READY=1", "RELOADING=1",
                                         "READY=1", "STOPPING=1"])
        self.assertEqual(rc, 0, server.log())

    def test_ready_and_stopping_without_reload(self):
        server = harness.Server(listener("echo"), env=dict(
            os.environ, NOTIFY_SOCKET=self.path))
        self.addCleanup(release, server)
        self.until("READY=1")
        server.close()
        self.until("STOPPING=1")
        self.assertEqual(self.states(), ["READY=1", "STOPPING=1"])


class Activated(harness.Server):
    """echochatd started by systemd-socket-activate (never valgrind):
    it binds the sockets, and on the first connection or datagram execs
    echochatd in its own process with LISTEN_FDS set."""

    def __init__(self, config, listen):
        self._prepare()
        self.valgrind = False
        self.config_path = os.path.join(self.dir, "echochatd.ini")
        with open(self.config_path, "w") as f:
            f.write(harness.with_workers(config.replace("@DIR@", self.dir)))
        listen = [a.replace("@DIR@", self.dir) for a in listen]
        # systemd-socket-activate hands its child only the variables it
        # is told to: the harness's NOTIFY_SOCKET among them.
        self._spawn([SOCKET_ACTIVATE] + listen +
                    ["-E", "NOTIFY_SOCKET=" + self.notify_path,
                     ECHOCHATD, "-c", self.config_path])

    def wait_listening(self, *addrs):
        for addr in addrs:
            self.wait_log(r"^Listening on %s as \d+\.$" %
                          re.escape(addr.replace("@DIR@", self.dir)))


class SocketActivation(unittest.TestCase):
    """Sockets passed by systemd (LISTEN_FDS)."""

    def setUp(self):
        if SOCKET_ACTIVATE is None:
            self.skipTest("systemd-socket-activate is not installed")
        if not built_with_libsystemd():
            self.skipTest("built without libsystemd: no socket activation")

    def start(self, config, listen):
        act = Activated(config, listen)
        self.addCleanup(release, act)
        return act

    def test_stream_sockets_adopted_unmatched_closed(self):
        echo, own, stray = free_ports(3)
        act = self.start(listener("echo", bind=lo(echo)) +
                         listener("own", "upper", bind=lo(own)),
                         ["-l", lo(echo), "-l", lo(stray)])
        act.wait_listening(lo(echo), lo(stray))
        first = connect(echo)           # queued; makes it exec echochatd
        self.addCleanup(first.close)
        first.sendall(b"sent before echochatd ran\n")
        act.wait_ready()
        log = act.log()
        self.assertIn("info: listener echo: listening on tcp %s (handler "
                      "echo) (socket from systemd)" % lo(echo), log)
        self.assertRegex(log, r"(?m)info: listener own: listening on tcp "
                         r"%s \(handler upper\)$" % re.escape(lo(own)))
        self.assertIn("error: socket 4 (%s) passed by systemd matches no "
                      "listener's bind; closing it" % lo(stray), log)
        if harness.WORKERS:     # make check-workers: with threads too
            self.assertIn("info: %s worker threads" % harness.WORKERS, log)
        self.assertEqual(harness.recv_line(first),
                         b"sent before echochatd ran\n")
        with connect(echo) as s:
            roundtrip(self, s)
        with connect(own) as s:
            roundtrip(self, s, b"own\n", b"OWN\n")
        self.assertTrue(refuses(stray), "the unmatched socket is open")
        first.close()
        act.close()

    def test_datagram_socket_adopted(self):
        udp = free_port(socket.SOCK_DGRAM)
        act = self.start(listener("up", "upper", "udp", bind=lo(udp)) +
                         listener("echo"),
                         ["--datagram", "-l", lo(udp)])
        act.wait_listening(lo(udp))
        # The datagram that wakes it is answered, not lost.
        udp_roundtrip(self, udp, b"first datagram", b"FIRST DATAGRAM")
        act.wait_ready()
        self.assertIn("info: listener up: listening on udp %s (handler "
                      "upper) (socket from systemd)" % lo(udp), act.log())
        udp_roundtrip(self, udp, b"second", b"SECOND")
        with act.connect("echo") as s:
            roundtrip(self, s)
        act.close()

    def test_unix_socket_adopted(self):
        act = self.start(listener("u", "upper", "unix",
                                  bind="@DIR@/u.sock"),
                         ["-l", "@DIR@/u.sock"])
        act.wait_listening("@DIR@/u.sock")
        path = os.path.join(act.dir, "u.sock")
        with connect(path, socket.AF_UNIX) as s:
            roundtrip(self, s, b"unix\n", b"UNIX\n")
        act.wait_ready()
        self.assertIn("info: listener u: listening on unix %s (handler "
                      "upper) (socket from systemd)" % path, act.log())
        act.close()

    def test_port_zero_listener_leaves_the_socket_to_its_listener(self):
        # A listener on port 0 (any free port) comes first: the socket
        # passed for 127.0.0.1:P belongs to the listener bound to P.
        port = free_port()
        act = self.start(listener("any", "upper") +
                         listener("echo", bind=lo(port)),
                         ["-l", lo(port)])
        act.wait_listening(lo(port))
        first = connect(port)
        self.addCleanup(first.close)
        act.wait_log(r"info: ready$|error: ")
        log = act.log()
        self.assertRegex(log, r"(?m)info: ready$", "start-up failed")
        self.assertIn("info: listener echo: listening on tcp %s (handler "
                      "echo) (socket from systemd)" % lo(port), log)
        self.assertRegex(log, r"(?m)info: listener any: listening on tcp "
                         r"127\.0\.0\.1:\d+ \(handler upper\)$")
        roundtrip(self, first)
        first.close()
        act.close()

    def test_reload_keeps_the_adopted_socket(self):
        port, new = free_ports(2)
        act = self.start(listener("echo", bind=lo(port)), ["-l", lo(port)])
        act.wait_listening(lo(port))
        first = connect(port)
        self.addCleanup(first.close)
        roundtrip(self, first)
        act.wait_ready()
        lines = reload(act, listener("echo", bind=lo(port)) +
                       listener("new", bind=lo(new)))
        self.assertRegex(lines, r"(?m)info: reload done: 2 listeners$")
        self.assertEqual(act.log().count("listener echo: listening"), 1)
        roundtrip(self, first, b"across the reload\n")
        for p in (port, new):
            with connect(p) as s:
                roundtrip(self, s)
        first.close()
        act.close()


class Units(unittest.TestCase):
    """conf/echochatd.service (generated) and conf/echochatd.socket."""

    def test_systemd_analyze_verify_accepts_the_units(self):
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("systemd-analyze is not installed")
        service = os.path.join(BUILDDIR, "conf", "echochatd.service")
        if not os.path.exists(service):
            subprocess.run(["make", "-C", BUILDDIR, "conf/echochatd.service"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=120)
        self.assertTrue(os.path.exists(service),
                        "the build did not produce %s" % service)
        with open(service) as f:
            text = f.read()
        self.assertIsNone(re.search(r"@\w+@", text), "unsubstituted")
        lines = text.splitlines()
        self.assertIn("Type=notify", lines)
        self.assertEqual(len([l for l in lines
                              if l.startswith("ExecStart=")]), 1)
        self.assertRegex(text, r"(?m)^ExecReload=.*-HUP \$MAINPID$")
        # The file is checked before the signal, so a bad one fails the
        # reload (echochatd(8), SYSTEMD).
        reloads = [l for l in lines if l.startswith("ExecReload=")]
        self.assertEqual(len(reloads), 2, reloads)
        self.assertRegex(reloads[0], r"^ExecReload=/\S+/echochatd -t -q -c "
                         r"/\S+/echochat/echochatd\.ini$")
        self.assertTrue(reloads[1].endswith("-HUP $MAINPID"), reloads)
        with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
            # The installed path does not exist here: use the build's.
            with open(os.path.join(d, "echochatd.service"), "w") as f:
                f.write(re.sub(r"(?m)^(ExecStart|ExecReload)=\S+/echochatd ",
                               r"\1=" + ECHOCHATD + " ", text))
            shutil.copy(os.path.join(SRCDIR, "conf", "echochatd.socket"),
                        os.path.join(d, "echochatd.socket"))
            # Documentation=man:... is checked with man(1): offer the
            # built pages, or skip that check.
            env, extra = dict(os.environ), []
            pages = [os.path.join(BUILDDIR, "man", p)
                     for p in ("echochatd.8", "echochatd.ini.5")]
            if all(os.path.exists(p) for p in pages):
                for p in pages:
                    sect = os.path.join(d, "man", "man" + p[-1])
                    os.makedirs(sect, exist_ok=True)
                    shutil.copy(p, sect)
                env["MANPATH"] = os.path.join(d, "man")
            else:
                extra = ["--man=no"]
            p = subprocess.run(
                [analyze, "verify"] + extra +
                [os.path.join(d, "echochatd.socket"),
                 os.path.join(d, "echochatd.service")],
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                env=env, timeout=120)
        said = (p.stdout + p.stderr).strip()
        if said:
            print("\nsystemd-analyze verify said:\n" + said,
                  file=sys.stderr)
        self.assertEqual(p.returncode, 0, said)


class UnixPerms(unittest.TestCase):
    """mode, owner and group of a unix listener's socket file
    (echochatd.ini(5)): applied before anyone can connect, again on a
    reload, printed by -t, refused on other listeners and for unknown
    users and groups."""

    def config(self, path, extra):
        return ("[listener u]\nproto = unix\nbind = %s\nhandler = echo\n%s"
                % (path, extra))

    def test_mode_owner_group_applied_and_reloaded(self):
        me = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        server = harness.Server(self.config(
            "@DIR@/u.sock", "mode = 0660\nowner = %s\ngroup = %s\n" %
            (me, group)))
        self.addCleanup(release, server)
        path = os.path.join(server.dir, "u.sock")
        st = os.stat(path)
        self.assertEqual(st.st_mode & 0o7777, 0o660)
        self.assertEqual((st.st_uid, st.st_gid), (os.getuid(), os.getgid()))
        with server.connect("u") as s:
            roundtrip(self, s)
        # A reload with another mode applies it to the kept socket.
        with open(server.config_path, "w") as f:
            f.write(harness.with_workers(self.config(path, "mode = 0600\n")))
        lines = server.reload()
        self.assertRegex(lines, r"(?m)info: reload done: 1 listener$")
        self.assertEqual(os.stat(path).st_mode & 0o7777, 0o600)
        with server.connect("u") as s:
            roundtrip(self, s)
        server.close()

    def test_check_prints_and_refuses(self):
        with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
            good = os.path.join(d, "good.ini")
            with open(good, "w") as f:
                f.write(self.config(os.path.join(d, "u.sock"),
                                    "mode = 0666\n"))
            rc, out, err = harness.run(["-t", "-c", good])
            self.assertEqual(rc, 0, err)
            self.assertIn("mode = 0666\n", out)
            self.assertNotIn("owner =", out)
            bad = os.path.join(d, "bad.ini")
            with open(bad, "w") as f:
                f.write(self.config(os.path.join(d, "u.sock"),
                                    "mode = 0999\nowner = %s\n"
                                    "group = %s\n" % (UNKNOWN_USER,
                                                      UNKNOWN_USER)) +
                        "\n[listener t]\nproto = tcp\nbind = 127.0.0.1:0\n"
                        "handler = echo\ngroup = root\n")
            rc, out, err = harness.run(["-t", "-c", bad])
            self.assertEqual(rc, 78, err)
            for want in ('%s:5: bad mode "0999": expected octal permissions '
                         'such as 0660' % bad,
                         '%s:6: unknown user "%s" for owner' % (
                             bad, UNKNOWN_USER),
                         '%s:7: unknown group "%s" for group' % (
                             bad, UNKNOWN_USER),
                         '%s:13: [listener t]: group is for unix listeners'
                         % bad):
                self.assertIn("echochatd: " + want + "\n", err)


class Install(unittest.TestCase):
    """make install and make uninstall keep an operator's edited
    echochatd.ini (README "Install")."""

    def make(self, target, destdir):
        p = subprocess.run(["make", "-s", "-C", BUILDDIR, target,
                            "DESTDIR=" + destdir],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(p.returncode, 0, "make %s:\n%s%s" % (
            target, p.stdout, p.stderr))
        return p.stdout + p.stderr

    def find(self, root, name):
        for d, _, files in os.walk(root):
            if name in files:
                return os.path.join(d, name)
        return None

    def test_edited_config_survives_install_and_uninstall(self):
        if not os.path.exists(os.path.join(BUILDDIR, "Makefile")):
            self.skipTest("no build tree at %s" % BUILDDIR)
        with open(os.path.join(SRCDIR, "conf", "echochatd.ini")) as f:
            example = f.read()
        with tempfile.TemporaryDirectory(prefix="echochat-test-") as d:
            self.make("install", d)
            conf = self.find(d, "echochatd.ini")
            self.assertIsNotNone(conf, "make install put no echochatd.ini")
            self.assertTrue(conf.endswith("/echochat/echochatd.ini"), conf)
            with open(conf) as f:
                self.assertEqual(f.read(), example)
            self.assertFalse(os.path.exists(conf + ".default"))
            # The logrotate snippet beside it, as it is in conf/.
            rotate = os.path.join(os.path.dirname(os.path.dirname(conf)),
                                  "logrotate.d", "echochatd")
            with open(rotate) as f, open(os.path.join(
                    SRCDIR, "conf", "echochatd.logrotate")) as g:
                self.assertEqual(f.read(), g.read())
            edited = example + "\n[listener mine]\nproto = tcp\n" \
                "bind = 127.0.0.1:7010\nhandler = echo\n"
            with open(conf, "w") as f:
                f.write(edited)
            said = self.make("install", d)
            with open(conf) as f:
                self.assertEqual(f.read(), edited, "install overwrote it")
            with open(conf + ".default") as f:
                self.assertEqual(f.read(), example)
            self.assertIn("kept", said)
            self.make("uninstall", d)
            with open(conf) as f:
                self.assertEqual(f.read(), edited, "uninstall removed it")
            self.assertFalse(os.path.exists(conf + ".default"))
            self.assertIsNone(self.find(d, "echochatd"))   # also logrotate's
            # An unchanged example goes with the rest.
            os.unlink(conf)
            self.make("install", d)
            self.make("uninstall", d)
            self.assertFalse(os.path.exists(conf))


if __name__ == "__main__":
    harness.main()
