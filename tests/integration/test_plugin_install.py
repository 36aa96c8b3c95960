"""test_plugin_install.py -- a plugin built the way a third party builds
one (echochat-plugin(3)): echochat is installed with make install into a
scratch DESTDIR, plugins/rot13.c is copied out of the source tree and
compiled with only what `pkg-config --cflags echochat-plugin` gives
(against that DESTDIR, with PKG_CONFIG_SYSROOT_DIR), and the installed
echochatd loads it.  The installed header must compile alone: with only
the installed include directory, nothing from src/ can be found.  The
installed plugin directory (pkg-config's plugindir) holds the example
plugins too.

Run by make check once (not under valgrind nor with workers): it needs
$MAKE and $ECHOCHAT_BUILDDIR from the Makefile.
"""
import os
import shlex
import shutil
import subprocess
import tempfile
import unittest

import harness

BUILD = os.environ.get("ECHOCHAT_BUILDDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
MAKE = os.environ.get("MAKE") or "make"
CC = os.environ.get("CC") or "cc"
CFLAGS = os.environ.get("CFLAGS", "")
LDFLAGS = os.environ.get("LDFLAGS", "")


def sh(args, env=None, cwd=None):
    p = subprocess.run(args, capture_output=True, text=True, env=env,
                       cwd=cwd, timeout=300)
    if p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s\n%s" % (
            " ".join(args), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


class OutOfTree(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="echochat-install-")
        cls.dest = os.path.join(cls.tmp.name, "dest")
        sh(shlex.split(MAKE) + ["-C", BUILD, "install", "DESTDIR=" + cls.dest])
        pcs = []
        for root, _, files in os.walk(cls.dest):
            if "echochat-plugin.pc" in files:
                pcs.append(root)
        assert len(pcs) == 1, "echochat-plugin.pc installed %d times" % \
            len(pcs)
        cls.env = dict(os.environ, PKG_CONFIG_PATH=pcs[0],
                       PKG_CONFIG_LIBDIR=pcs[0],
                       PKG_CONFIG_SYSROOT_DIR=cls.dest)
        for root, _, files in os.walk(cls.dest):
            if "echochatd" in files:
                cls.echochatd = os.path.join(root, "echochatd")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def pkg(self, *args):
        return sh(["pkg-config"] + list(args) + ["echochat-plugin"],
                  env=self.env).strip()

    def test_build_and_load_rot13(self):
        work = os.path.join(self.tmp.name, "author")
        os.makedirs(work)
        shutil.copy(os.path.join(harness.SRCDIR, "plugins", "rot13.c"), work)
        cflags = self.pkg("--cflags")
        self.assertRegex(cflags, r"^-I\S*/include$")
        self.assertTrue(os.path.isfile(os.path.join(
            cflags[2:], "echochat", "plugin.h")))
        sh([CC] + shlex.split(CFLAGS) + shlex.split(cflags) +
           ["-std=c11", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared"] +
           shlex.split(LDFLAGS) + ["-o", "rot13.so", "rot13.c"], cwd=work)
        ini = os.path.join(work, "echochatd.ini")
        with open(ini, "w") as f:
            f.write("[plugins]\ndir = %s\n\n[listener r]\nproto = tcp\n"
                    "bind = 127.0.0.1:0\nhandler = rot13\n" % work)
        out = sh([self.echochatd, "-t", "-c", ini])
        self.assertIn("; plugin rot13 1.0 loaded from %s/rot13.so" % work,
                      out)
        server = harness.Server(open(ini).read(), binary=self.echochatd,
                                valgrind=False)
        try:
            with server.connect("r") as c:
                c.sendall(b"Hello\n")
                self.assertEqual(harness.recv_exactly(c, 6), b"Uryyb\n")
        finally:
            harness.finish(server, quiet=False)

    def test_plugindir_holds_the_examples(self):
        plugindir = self.pkg("--variable=plugindir")
        self.assertTrue(plugindir.endswith("/echochat/plugins"), plugindir)
        # pkg-config puts PKG_CONFIG_SYSROOT_DIR in front of it too.
        self.assertTrue(plugindir.startswith(self.dest + "/"), plugindir)
        where = plugindir
        self.assertTrue(os.path.isdir(where), where)
        self.assertEqual(sorted(os.listdir(where)), ["quote.so", "rot13.so"])


if __name__ == "__main__":
    harness.main()
