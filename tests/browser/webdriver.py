"""A small W3C WebDriver client over the Python standard library (urllib + json), for
chromedriver driving Debian's headless chromium. Just what the UI tests need: sessions,
navigation, finding elements, clicks and keys, scripts, alerts and screenshots.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C element reference key


class WebDriverError(Exception):
    def __init__(self, error, message):
        super().__init__(f"{error}: {message}")
        self.error = error


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_browser():
    """(chromium, chromedriver) paths, or raise: the tests need both (tools/setup-deps)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        raise RuntimeError("chromium and chromedriver are needed (Debian packages chromium, "
                           "chromium-driver; tools/setup-deps installs them)")
    return chromium, driver


class Element:
    def __init__(self, session, element_id):
        self.session, self.id = session, element_id

    def _cmd(self, method, path, body=None):
        return self.session._cmd(method, f"/element/{self.id}{path}", body)

    def click(self):
        self._cmd("POST", "/click", {})

    def send_keys(self, text):
        self._cmd("POST", "/value", {"text": text})

    def clear(self):
        self._cmd("POST", "/clear", {})

    @property
    def text(self):
        return self._cmd("GET", "/text")

    def attr(self, name):
        return self._cmd("GET", f"/property/{name}")

    def find(self, css):
        r = self._cmd("POST", "/element", {"using": "css selector", "value": css})
        return Element(self.session, r[ELEMENT])

    def find_all(self, css):
        r = self._cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self.session, e[ELEMENT]) for e in r]


class Browser:
    """chromedriver + one headless chromium session; close() ends both."""

    def __init__(self, width=1280, height=800):
        chromium, driver = find_browser()
        self.profile = tempfile.mkdtemp(prefix="netkeep-chromium-")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(self.profile, "chromedriver.log"), "w")
        self.driver = subprocess.Popen([driver, f"--port={port}"], stdout=self.log,
                                       stderr=subprocess.STDOUT)
        self._wait_ready()
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                f"--window-size={width},{height}", f"--user-data-dir={self.profile}/data"]},
        }}}
        r = self._http("POST", "/session", caps)
        self.session_id = r["sessionId"]
        # find() waits up to 5 s for its element (pages render after their fetches).
        self._cmd("POST", "/timeouts", {"implicit": 5000})
        self.set_size(width, height)

    def _wait_ready(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self._http("GET", "/status").get("ready"):
                    return
            except (OSError, WebDriverError):
                pass
            time.sleep(0.1)
        raise RuntimeError("chromedriver did not become ready in 20 s")

    def _http(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as e:
            answer = json.load(e)
            v = answer.get("value", {})
            raise WebDriverError(v.get("error", str(e.code)), v.get("message", "")) from None
        return answer.get("value", answer)

    def _cmd(self, method, path, body=None):
        return self._http(method, f"/session/{self.session_id}{path}", body)

    def close(self):
        try:
            self._http("DELETE", f"/session/{self.session_id}")
        except Exception:
            pass
        self.driver.terminate()
        try:
            self.driver.wait(10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- window and page ---
    def set_size(self, width, height, mobile=False):
        """The viewport as a device of width x height CSS pixels (Chrome's DevTools
        emulation: a headless window cannot be made narrower than about 500 px)."""
        self._cmd("POST", "/goog/cdp/execute", {"cmd": "Emulation.setDeviceMetricsOverride",
                  "params": {"width": width, "height": height, "deviceScaleFactor": 1,
                             "mobile": mobile}})

    def get(self, url):
        self._cmd("POST", "/url", {"url": url})

    @property
    def url(self):
        return self._cmd("GET", "/url")

    def execute(self, script, *args):
        return self._cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path, full_page=False):
        if full_page:
            r = self._cmd("POST", "/goog/cdp/execute", {"cmd": "Page.captureScreenshot",
                          "params": {"captureBeyondViewport": True, "format": "png"}})
            data = r["data"]
        else:
            data = self._cmd("GET", "/screenshot")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def alert_text(self):
        """The text of an open alert/confirm/prompt dialog, or None."""
        try:
            return self._cmd("GET", "/alert/text")
        except WebDriverError as e:
            if e.error == "no such alert":
                return None
            raise

    # --- elements ---
    def find(self, css):
        r = self._cmd("POST", "/element", {"using": "css selector", "value": css})
        return Element(self, r[ELEMENT])

    def find_all(self, css):
        r = self._cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, e[ELEMENT]) for e in r]

    def wait(self, what, predicate, timeout=15):
        """Polls predicate() until it returns a true value (returned); raises naming `what`.
        Exceptions inside (a stale element while the page redraws) count as not yet."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except (WebDriverError, KeyError, IndexError, TypeError) as e:
                last = e
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                             + (f" (last error: {last})" if last else ""))

    def click(self, css, timeout=10):
        """Finds and clicks, again while the page redraws (a stale element is retried)."""
        self.wait(f"a click on '{css}'", lambda: self.find(css).click() or True, timeout)

    def type(self, css, text, timeout=10):
        self.wait(f"typing into '{css}'", lambda: self.find(css).send_keys(text) or True, timeout)

    def wait_css(self, css, count=1, timeout=15):
        return self.wait(f"{count}+ of '{css}'",
                         lambda: (lambda els: els if len(els) >= count else None)(self.find_all(css)),
                         timeout)
