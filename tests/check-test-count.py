#!/usr/bin/env python3
"""check-test-count.py -- scripts/test counts only what this run produced.

scripts/test's counting functions (step, report), taken from the script
itself with ECHOCHAT_TEST_FUNCTIONS_ONLY, are run in a scratch directory
with stand-in commands:

- logs left by an earlier run are not counted: a step that fails before
  writing its logs counts as one failure, not as the old logs' passes;
- a failed step with a space in its name counts once, and is named whole;
- a failed step whose logs count failures adds those, not one more;
- Check's "NN%: Checks: N, Failures: F, Errors: E" and the suites'
  "N passed, N failed, N skipped" are both summed, skips included;
- the exit status is non-zero when a step failed, zero otherwise.
"""
import os
import subprocess
import sys
import tempfile
import unittest

SRCDIR = os.environ.get("ECHOCHAT_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..")
SCRIPT = os.path.join(SRCDIR, "scripts", "test")


def run(body, setup=None):
    """Run body after sourcing scripts/test's functions in a scratch
    directory (setup(dir) prepares it); returns (status, stdout)."""
    with tempfile.TemporaryDirectory(prefix="echochat-count-") as d:
        if setup:
            setup(d)
        env = dict(os.environ, ECHOCHAT_TEST_FUNCTIONS_ONLY="1")
        p = subprocess.run(["sh", "-c", '. "$0"; ' + body, SCRIPT], cwd=d,
                           env=env, capture_output=True, text=True,
                           timeout=30)
        return p.returncode, p.stdout + p.stderr


def write(d, path, text):
    path = os.path.join(d, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def last_lines(out):
    return [l for l in out.splitlines() if l.startswith("scripts/test:")]


class Count(unittest.TestCase):

    def test_stale_logs_are_not_counted(self):
        def stale(d):
            write(d, "tests/workers/test_chat.log", "40 passed, 0 failed\n")
            write(d, "tests/check_line.log",
                  "100%: Checks: 12, Failures: 0, Errors: 0\n")
        rc, out = run('step "make check" "tests/*.log tests/workers/*.log" '
                      'false; report', stale)
        self.assertNotEqual(rc, 0)
        self.assertEqual(last_lines(out), [
            "scripts/test: 0 passed, 1 failed, 0 skipped",
            "scripts/test: FAILED:"])
        self.assertIn("\n  make check\n", out + "\n")

    def test_step_named_with_spaces_counts_once(self):
        rc, out = run('step "make check with ASan+UBSan" "" false; '
                      'step "make fuzz" "" true; report')
        self.assertNotEqual(rc, 0)
        self.assertEqual(last_lines(out)[0],
                         "scripts/test: 0 passed, 1 failed, 0 skipped")
        self.assertTrue(out.rstrip().endswith(
            "FAILED:\n  make check with ASan+UBSan"), out)

    def test_failures_and_skips_of_this_run_are_summed(self):
        body = ('step "one" "a/*.log" sh -c \'mkdir -p a; '
                'echo "3 passed, 1 failed, 2 skipped" > a/x.log; '
                'echo "100%: Checks: 5, Failures: 0, Errors: 0" > a/y.log; '
                'exit 1\'; '
                'step "two" "b/*.log" sh -c \'mkdir -p b; '
                'echo "75%: Checks: 4, Failures: 1, Errors: 0" > b/z.log\'; '
                'report')
        rc, out = run(body)
        self.assertNotEqual(rc, 0)
        # "two" succeeded as a command; its log's failure still counts.
        self.assertEqual(last_lines(out)[0],
                         "scripts/test: 11 passed, 2 failed, 2 skipped")

    def test_all_passing(self):
        rc, out = run('step "one" "a/*.log" sh -c \'mkdir -p a; '
                      'echo "7 passed, 0 failed, 0 skipped" > a/x.log\'; '
                      'report')
        self.assertEqual(rc, 0, out)
        self.assertEqual(last_lines(out),
                         ["scripts/test: 7 passed, 0 failed, 0 skipped"])


class NoSkip(unittest.TestCase):
    """harness.main with ECHOCHAT_NO_SKIP: a skip is a failure, unless
    the host itself lacks something."""

    SUITE = """
import sys, unittest
sys.path.insert(0, %r)
import harness

class T(unittest.TestCase):
    def test_runs(self):
        pass
    def test_needs_root(self):
        self.skipTest("raw sockets need root")
    def test_needs_host(self):
        self.skipTest(harness.HOST_SKIP + " has no IPv6 loopback (::1)")

harness.main()
""" % os.path.join(SRCDIR, "tests", "integration")

    def run_suite(self, no_skip):
        env = dict(os.environ)
        env.pop("ECHOCHAT_NO_SKIP", None)
        if no_skip:
            env["ECHOCHAT_NO_SKIP"] = "1"
        env.setdefault("ECHOCHATD", "/bin/false")
        p = subprocess.run([sys.executable, "-c", self.SUITE], env=env,
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout

    def test_skips_allowed_by_default(self):
        rc, out = self.run_suite(False)
        self.assertEqual(rc, 0, out)
        self.assertIn("1 passed, 0 failed, 2 skipped\n", out)

    def test_no_skip_fails_all_but_host_skips(self):
        rc, out = self.run_suite(True)
        self.assertEqual(rc, 1, out)
        self.assertIn("1 passed, 1 failed, 1 skipped\n", out)
        self.assertIn("test_needs_root: raw sockets need root", out)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    failed = len(r.failures) + len(r.errors)
    print("%d passed, %d failed, %d skipped" % (
        r.testsRun - failed - len(r.skipped), failed, len(r.skipped)))
    sys.exit(0 if failed == 0 and r.testsRun > 0 else 1)
