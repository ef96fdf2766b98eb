#!/usr/bin/env python3
"""A local NetBox REST API for tests: serves the pages netbox_pages.py records.

    netbox_server.py --version 4 --devices 5000 --token TOKEN [--max-page-size 1000]

Prints "listening on 127.0.0.1:PORT" once it accepts. Answers like NetBox:
- GET /api/dcim/devices/ and /api/virtualization/virtual-machines/ with limit (default
  50, at most --max-page-size, like NetBox's MAX_PAGE_SIZE), offset, exclude=config_context,
  and the filters site=, role=, status=, tag=, name= (repeatable = OR);
- 403 {"detail": "Invalid token"} without "Authorization: Token TOKEN" (or, for an nbt_
  v2 token, "Bearer TOKEN").

Test control (no token; the test's own wiring, not NetBox's):
- POST /_control?mode=M: how the device list answers from now on: normal, garbage (an
  HTML page), error500, truncated (half a page), huge (a page of 80 MiB), loop (`next`
  is always the first page), endless (`next` never ends), drift (the count changes from
  the second page on), slow (sleeps 3 s per page);
- POST /_control?devices=N, ?duplicate=I:J (device J takes device I's name),
  ?rename=I:NAME, ?vms=N;
- GET /_requests: the request lines (path?query) served so far, one per line;
  POST /_requests/clear.
"""
import argparse
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, __import__("os").path.dirname(__file__))
import netbox_pages  # noqa: E402

STATE = {"mode": "normal", "devices": 0, "vms": 0, "duplicate": None, "rename": {}}
REQUESTS = []
LOCK = threading.Lock()
ARGS = None


def specs(kind):
    n = STATE["devices"] if kind == "dcim/devices" else STATE["vms"]
    out = []
    for i in range(1, n + 1):
        s = netbox_pages.device_spec(i if kind == "dcim/devices" else 900000 + i)
        if kind != "dcim/devices":
            s["name"] = f"vm{i:05d}"
        if i in STATE["rename"]:
            s["name"] = STATE["rename"][i]
        out.append(s)
    if STATE["duplicate"] and kind == "dcim/devices":
        a, b = STATE["duplicate"]
        out[b - 1]["name"] = out[a - 1]["name"]
    # NetBox orders devices by name (natural), then pk.
    out.sort(key=lambda s: ((s["name"] or ""), s["id"]))
    return out


def matches(spec, filters):
    for key, values in filters.items():
        if key == "site" and spec["site"] not in values:
            return False
        if key == "role" and spec["role"] not in values:
            return False
        if key == "status" and spec["status"] not in values:
            return False
        if key == "tag" and not set(values) & set(spec["tags"]):
            return False
        if key == "name" and spec["name"] not in values:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        with LOCK:
            if url.path == "/_requests/clear":
                REQUESTS.clear()
            elif url.path == "/_control":
                if "mode" in q:
                    STATE["mode"] = q["mode"]
                if "devices" in q:
                    STATE["devices"] = int(q["devices"])
                if "vms" in q:
                    STATE["vms"] = int(q["vms"])
                if "duplicate" in q:
                    a, b = q["duplicate"].split(":")
                    STATE["duplicate"] = (int(a), int(b)) if int(a) else None
                if "rename" in q:
                    i, name = q["rename"].split(":", 1)
                    STATE["rename"][int(i)] = name or None
            else:
                return self.send(404, '{"detail": "Not found."}')
        self.send(200, "{}")

    def authorized(self):
        got = self.headers.get("Authorization", "")
        scheme = "Bearer " if ARGS.token.startswith("nbt_") else "Token "
        return got == scheme + ARGS.token

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_requests":
            with LOCK:
                return self.send(200, "".join(r + "\n" for r in REQUESTS), "text/plain")
        with LOCK:
            REQUESTS.append(self.path)
            mode = STATE["mode"]
        kind = url.path[len("/api/"):-1] if url.path.startswith("/api/") else ""
        if kind not in ("dcim/devices", "virtualization/virtual-machines"):
            return self.send(404, '{"detail": "Not found."}')
        if not self.authorized():
            return self.send(403, '{"detail": "Invalid token"}')
        if mode == "garbage":
            return self.send(200, "<html><body>502 Bad Gateway</body></html>", "text/html")
        if mode == "error500":
            return self.send(500, "<h1>Server Error (500)</h1>", "text/html")
        if mode == "huge":
            return self.send(200, b'{"count": 1, "next": null, "results": [' + b" " * (80 << 20) + b"]}")
        if mode == "slow":
            time.sleep(3)
        self.send(200, json.dumps(self.page(url, kind, mode)) if mode != "truncated"
                  else json.dumps(self.page(url, kind, mode))[:-4000])

    def page(self, url, kind, mode):
        params = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        limit, offset, exclude, filters, rest = 50, 0, set(), {}, []
        for k, v in params:
            if k == "limit":
                limit = int(v)
            elif k == "offset":
                offset = int(v)
            else:
                rest.append((k, v))
                if k == "exclude":
                    exclude.add(v)
                else:
                    filters.setdefault(k, []).append(v)
        limit = min(limit or ARGS.max_page_size, ARGS.max_page_size)
        with LOCK:
            selected = [s for s in specs(kind) if matches(s, filters)]
        count = len(selected)
        if mode == "drift" and offset > 0:
            count += 1
        base = f"http://{self.headers.get('Host')}"
        results = [netbox_pages.device(ARGS.version, base, s, kind, "config_context" not in exclude)
                   for s in selected[offset:offset + limit]]

        def link(off):
            return f"{base}{url.path}?" + urllib.parse.urlencode([("limit", limit), ("offset", off)] + rest)
        nxt = link(offset + limit) if offset + limit < count else None
        if mode == "loop" and nxt:
            nxt = link(0)
        if mode == "endless":
            nxt = link(offset + limit)
            results = results or [netbox_pages.device(ARGS.version, base, netbox_pages.device_spec(1), kind)]
        prev = link(max(0, offset - limit)) if offset > 0 else None
        return {"count": count, "next": nxt, "previous": prev, "results": results}


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--version", type=int, choices=(3, 4), default=4)
    p.add_argument("--devices", type=int, default=0)
    p.add_argument("--token", required=True)
    p.add_argument("--max-page-size", type=int, default=1000)
    ARGS = p.parse_args()
    STATE["devices"] = ARGS.devices
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
