#!/usr/bin/env python3
"""test_browser.py -- the web page in a real browser (README "Browsers"):
headless Chromium driven by chromedriver through Selenium (Debian
chromium, chromium-driver, python3-selenium).

One echochatd with a chat listener that has websocket = yes and a plain
chat listener.  The browser loads the page, which connects by itself
(the connection state shows "connected"); it sets a nick by typing
/nick, sends a line that a plain socket user in the same room receives;
the socket user answers and the page shows it; a line with <script> and
<b> from the socket user shows as text (no element is made from it, no
script runs); /who typed in the page lists both users; the up arrow
brings back the last line typed.  The page runs under its
Content-Security-Policy, so the browser console must hold no CSP
violation.  A screenshot of the page is saved as
tests/browser-webchat.png (the README's docs/webchat.png is one), and
after the daemon restarts on the same port the page reconnects by itself.

Run by make check once, not under valgrind nor with workers: it checks
the page, not the daemon.  As root (CI's chroot) Chromium needs
--no-sandbox; /dev/shm may be small, hence --disable-dev-shm-usage.
"""
import os
import shutil
import tempfile
import time
import unittest

import harness

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BUILD = os.environ.get("ECHOCHAT_BUILDDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")

CONFIG = """[server]
log_level = debug
[listener web]
proto = tcp
bind = 127.0.0.1:%d
handler = chat
websocket = yes
[listener chat]
proto = tcp
bind = 127.0.0.1:0
handler = chat
"""


class Browser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if webdriver is None:
            raise RuntimeError("python3-selenium is needed "
                               "(scripts/deps test)")
        cls.port = harness.free_port()
        cls.server = harness.Server(CONFIG % cls.port, valgrind=False)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox",
                  "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=480,720", "--no-first-run",
                  "--user-data-dir=" + tempfile.mkdtemp(
                      prefix="echochat-chromium-")):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        cls.profile = [a for a in opts.arguments
                       if a.startswith("--user-data-dir=")][0].split("=", 1)[1]
        cls.driver = webdriver.Chrome(service=Service(CHROMEDRIVER),
                                      options=opts)
        cls.driver.set_page_load_timeout(30)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        shutil.rmtree(cls.profile, ignore_errors=True)
        harness.finish(cls.server, quiet=False)

    def wait_for(self, cond, what, timeout=15):
        try:
            return WebDriverWait(self.driver, timeout).until(
                lambda d: cond())
        except Exception:
            raise AssertionError("timed out waiting for %s; page says:\n%s"
                                 % (what, self.transcript()))

    def transcript(self):
        return self.driver.find_element(By.ID, "log").text

    def state(self):
        return self.driver.find_element(By.ID, "statetext").text

    def type_line(self, text):
        box = self.driver.find_element(By.ID, "input")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def test_chat_with_a_socket_user(self):
        d = self.driver
        d.get("http://127.0.0.1:%d/" % self.port)
        self.assertEqual(d.title, "echochat")
        self.wait_for(lambda: self.state() == "connected", "connected")
        self.wait_for(lambda: "Welcome to echochat" in self.transcript(),
                      "the welcome")
        self.type_line("/nick alice")
        self.wait_for(lambda: "You are now alice" in self.transcript(),
                      "the nick change")

        nc = self.server.connect("chat", timeout=10)
        self.addCleanup(nc.close)
        self.assertIn(b"Welcome", harness.recv_line(nc, 10))
        self.type_line("hello from the browser")
        self.assertEqual(harness.recv_line(nc, 10),
                         b"<alice> hello from the browser\n")
        nc.sendall(b"/nick bob\nhi alice, this is bob\n"
                   b"<script>window.pwned=1</script><b>bold</b>\n")
        self.wait_for(lambda: "<bob> hi alice, this is bob" in
                      self.transcript(), "bob's line")
        self.wait_for(lambda: "<script>window.pwned=1</script><b>bold</b>"
                      in self.transcript(), "the markup, as text")
        self.assertIsNone(d.execute_script("return window.pwned"))
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "#log b"), [])
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "#log script"),
                         [])

        self.type_line("/who")
        self.wait_for(lambda: "*** Users (2): alice, bob" in
                      self.transcript(), "/who")
        box = d.find_element(By.ID, "input")
        box.send_keys(Keys.ARROW_UP)
        self.assertEqual(box.get_attribute("value"), "/who")
        box.send_keys(Keys.ARROW_UP)
        self.assertEqual(box.get_attribute("value"),
                         "hello from the browser")
        box.send_keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN)
        self.assertEqual(box.get_attribute("value"), "")
        nc.sendall(b"/me waves\n")
        self.wait_for(lambda: "* bob waves" in self.transcript(), "/me")

        shot = os.path.join(BUILD, "tests", "browser-webchat.png")
        os.makedirs(os.path.dirname(shot), exist_ok=True)
        self.assertTrue(d.save_screenshot(shot))
        self.assertGreater(os.path.getsize(shot), 1000)

        errors = [e for e in d.get_log("browser")
                  if "Content Security Policy" in e.get("message", "") or
                  e.get("level") == "SEVERE"]
        self.assertEqual(errors, [])

    def test_reconnects(self):
        d = self.driver
        d.get("http://127.0.0.1:%d/" % self.port)
        self.wait_for(lambda: self.state() == "connected", "connected")
        # Every connection the page holds is cut: it must come back.
        harness.release(self.server)
        self.wait_for(lambda: "retrying" in self.state(), "the retry state")
        type(self).server = harness.Server(CONFIG % self.port,
                                           valgrind=False)
        self.wait_for(lambda: self.state() == "connected", "reconnected",
                      timeout=20)
        self.wait_for(lambda: self.transcript().count("Welcome") >= 2,
                      "a second welcome")


if __name__ == "__main__":
    harness.main()
