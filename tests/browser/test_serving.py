#!/usr/bin/python3
"""ui_serving: how netkeepd serves the UI (no browser): the redirect, content types,
strong ETags and 304s, gzip by Accept-Encoding with Vary, the security headers on every
answer (also 404s and redirects), unknown assets, HEAD; and static checks of the
embedded files: no inline script or style, no HTML sinks (innerHTML & co.) in the code,
every module import resolvable.

    test_serving.py BUILD_DIR     (meson passes NETKEEPD, FAKE_DEVICE, NETKEEP_WORKER)
"""
import gzip
import http.client
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from farm import Farm  # noqa: E402

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "ui", "assets")
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL {what}", flush=True)


def fetch(base, method, path, headers=None):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def security_headers(h, what):
    check(h.get("content-security-policy") == CSP, f"{what}: CSP is {h.get('content-security-policy')!r}")
    check(h.get("x-content-type-options") == "nosniff", f"{what}: nosniff")
    check(h.get("referrer-policy") == "no-referrer", f"{what}: Referrer-Policy")


def test_redirects(base):
    for path in ("/", "/ui"):
        s, h, body = fetch(base, "GET", path)
        check(s == 302 and h.get("location") == "/ui/", f"GET {path}: {s} {h.get('location')}")
        security_headers(h, f"GET {path}")


def test_pages(base):
    tags = set()
    for path in ("/ui/", "/ui/search", "/ui/audit", "/ui/status", "/ui/login",
                 "/ui/devices/core-sw-1", "/ui/devices/a%2Fb", "/ui/?q=x&sort=job"):
        s, h, body = fetch(base, "GET", path)
        check(s == 200, f"GET {path}: {s}")
        check(h.get("content-type") == "text/html; charset=utf-8", f"GET {path}: type {h.get('content-type')}")
        check(h.get("cache-control") == "no-cache", f"GET {path}: Cache-Control")
        check(re.fullmatch(r'"[0-9a-f]{32}"', h.get("etag", "")) is not None, f"GET {path}: ETag {h.get('etag')}")
        security_headers(h, f"GET {path}")
        tags.add(h.get("etag"))
    check(len(tags) == 1, "every page is the same shell with one ETag")
    for path in ("/ui/nope", "/ui/devices/", "/ui/assets/", "/ui/devices/a/b"):
        s, _, _ = fetch(base, "GET", path)
        check(s == 404, f"GET {path}: {s}, want 404")
    s, h, _ = fetch(base, "POST", "/ui/")
    check(s == 405, f"POST /ui/: {s}")


def test_assets(base):
    for name in sorted(os.listdir(ASSETS)):
        with open(os.path.join(ASSETS, name), "rb") as f:
            want = f.read()
        path = f"/ui/assets/{name}"
        s, h, body = fetch(base, "GET", path)
        check(s == 200 and body == want, f"GET {path}: {s}, body {'same' if body == want else 'differs'}")
        check(h.get("content-type") == TYPES[os.path.splitext(name)[1]], f"{path}: type {h.get('content-type')}")
        check("content-encoding" not in h, f"{path}: encoded without Accept-Encoding")
        security_headers(h, path)
        etag = h.get("etag")
        s, h304, body304 = fetch(base, "GET", path, {"If-None-Match": etag})
        check(s == 304 and body304 == b"" and h304.get("etag") == etag, f"{path}: If-None-Match -> {s}")
        s, _, _ = fetch(base, "GET", path, {"If-None-Match": f"W/{etag}"})
        check(s == 304, f"{path}: weak If-None-Match -> {s}")
        s, _, _ = fetch(base, "GET", path, {"If-None-Match": '"0000", ' + etag})
        check(s == 304, f"{path}: If-None-Match list -> {s}")
        s, _, _ = fetch(base, "GET", path, {"If-None-Match": '"0000"'})
        check(s == 200, f"{path}: other ETag -> {s}")
        s, hh, bh = fetch(base, "HEAD", path)
        check(s == 200 and bh == b"" and hh.get("content-length") == str(len(want)), f"HEAD {path}")
        test_gzip(base, path, want, etag)


def test_gzip(base, path, want, etag):
    s, h, body = fetch(base, "GET", path, {"Accept-Encoding": "gzip, deflate, br"})
    if h.get("content-encoding") != "gzip":
        # Only where it pays: a file gzip does not shrink is sent as is.
        check(len(gzip.compress(want, mtime=0)) >= len(want), f"{path}: not gzipped")
        return
    check(gzip.decompress(body) == want and len(body) < len(want), f"{path}: gzip body")
    check(h.get("vary") == "Accept-Encoding", f"{path}: Vary {h.get('vary')}")
    check(h.get("etag") not in (None, etag), f"{path}: the gzip variant has its own ETag")
    s, h304, _ = fetch(base, "GET", path, {"Accept-Encoding": "gzip", "If-None-Match": h["etag"]})
    check(s == 304, f"{path}: gzip ETag -> {s}")
    for value, want_gzip in (("gzip;q=0", False), ("identity", False), ("br", False),
                             ("*", True), ("x-gzip", True), ("deflate, gzip;q=0.5", True),
                             ("GZIP;q=0.001", True), ("gzip;q=0.000", False)):
        s, h, body = fetch(base, "GET", path, {"Accept-Encoding": value})
        check(s == 200 and (h.get("content-encoding") == "gzip") == want_gzip,
              f"{path}: Accept-Encoding {value!r} -> {h.get('content-encoding')}")


def test_unknown(base):
    for path in ("/ui/assets/nope.js", "/ui/assets/..%2Fui_routes.cpp", "/ui/assets/%2e%2e",
                 "/ui/assets/app.js%00", "/ui/assets/" + "a" * 3000):
        s, h, body = fetch(base, "GET", path)
        check(s == 404 and h.get("content-type") == "application/json", f"GET {path}: {s}")
        security_headers(h, f"GET {path}")


def test_static_rules():
    """The CSP forbids inline code; the code must never build HTML from strings."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                       r"setAttribute\(\s*['\"]on|javascript:")
    names = set(os.listdir(ASSETS))
    for name in names:
        text = open(os.path.join(ASSETS, name), encoding="utf-8").read()
        if name.endswith(".js"):
            code = "\n".join(l for l in text.splitlines() if not l.strip().startswith("//"))
            for m in sinks.finditer(code):
                check(False, f"{name}: HTML/code sink {m.group(0)!r}")
            for imp in re.findall(r"""from\s+'\./([^']+)'|import\('\./([^']+)'\)""", text):
                target = imp[0] or imp[1]
                check(target in names, f"{name}: imports missing ./{target}")
        if name.endswith(".html"):
            check(re.search(r"<script(?![^>]*\bsrc=)", text) is None, f"{name}: inline <script>")
            check(re.search(r"<style|\sstyle=|\son[a-z]+=", text) is None, f"{name}: inline style/handler")


def main():
    build_dir = sys.argv[1] if len(sys.argv) > 1 else "build"
    test_static_rules()
    farm = Farm(build_dir).start(with_worker=False)
    try:
        test_redirects(farm.url)
        test_pages(farm.url)
        test_assets(farm.url)
        test_unknown(farm.url)
    finally:
        farm.stop()
    print(f"ui_serving: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
