"""The setup the browser tests and tools/ui-screenshots share: a temp data dir, the
fake-device farm, the real netkeepd (without --auth, on loopback) and a netkeep-worker,
filled until versions exist; plus hostile values injected through the worker API (the
test acting as a worker for the devices tagged "xss") so the pages must show them as text.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

PASSWORD = "netkeep"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_CONFIG = ("hostname xss-1\n!\n"
              f"banner motd ^{XSS_SCRIPT}^\n"
              f"description {XSS_IMG}\n"
              "snmp-server community uiprobe RO\n"
              "end\n")
XSS_FAILURE = f"login failed: {XSS_SCRIPT} {XSS_IMG}"
FARM_DEVICES = [("core-sw-1", "dc1"), ("core-sw-2", "dc1"), ("edge-rtr-1", "dc2"),
                ("edge-rtr-2", "dc2"), ("badpass-fw-1", "")]


def env_path(name, default):
    return os.environ.get(name) or default


class HttpAnswer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def request(method, url, body=None, headers=None, timeout=30):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return HttpAnswer(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return HttpAnswer(e.code, e.headers, e.read())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def multipart(fields, file_name, file_body):
    boundary = uuid.uuid4().hex
    out = []
    for k, v in fields.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
               f'Content-Type: application/octet-stream\r\n\r\n'.encode() + file_body + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def read_line(proc, prefix, timeout, what):
    """The first stdout line of `proc` starting with `prefix` (stdout is a pipe)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited ({proc.returncode}) before '{prefix}'")
            time.sleep(0.05)
            continue
        line = line.decode(errors="replace").strip()
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    raise RuntimeError(f"{what}: no '{prefix}' line within {timeout} s")


class Farm:
    def __init__(self, build_dir, auth_file=None):
        self.netkeepd = env_path("NETKEEPD", os.path.join(build_dir, "src/bin/netkeepd"))
        self.worker_bin = env_path("NETKEEP_WORKER", os.path.join(build_dir, "src/bin/netkeep-worker"))
        self.fake_bin = env_path("FAKE_DEVICE", os.path.join(build_dir, "tools/fake-device/fake-device"))
        self.root = tempfile.mkdtemp(prefix="netkeep-ui-")
        self.state = os.path.join(self.root, "devices")
        os.makedirs(self.state)
        self.procs = []
        self.auth_file = auth_file

    # --- processes ---
    def _spawn(self, argv, name):
        log = open(os.path.join(self.root, f"{name}.log"), "wb")
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log)
        self.procs.append(p)
        return p

    def start(self, with_worker=True):
        fake = self._spawn([self.fake_bin, "--listen", "127.0.0.1:0", "--password", PASSWORD,
                            "--state-dir", self.state, "--config-bytes", "3000"], "fake-device")
        port = int(read_line(fake, "ssh listening on", 15, "fake-device").rsplit(":", 1)[1])
        self._write_inventory(port)
        args = [self.netkeepd, "--data-dir", os.path.join(self.root, "data"), "--inventory",
                os.path.join(self.root, "inventory"), "--listen", "127.0.0.1:0"]
        if self.auth_file:
            args += ["--auth", self.auth_file]
        server = self._spawn(args, "netkeepd")
        self.url = "http://" + read_line(server, "listening on", 30, "netkeepd")
        if with_worker:
            self._spawn([self.worker_bin, "--server", self.url, "--known-hosts",
                         os.path.join(self.root, "known_hosts"), "--seconds", "1", "--tag", "farm",
                         "--name", "ui-worker"], "worker")
        return self

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("NETKEEP_UI_KEEP_TMP"):
            print(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def _write_inventory(self, port):
        inv = os.path.join(self.root, "inventory")
        os.makedirs(inv)
        devices = []
        for name, group in FARM_DEVICES:
            d = {"name": name, "host": "127.0.0.1", "protocol": {"type": "ssh", "ssh": {"port": port}},
                 "tags": ["farm", "cisco", name.split("-")[0]],
                 "credentials": {"user": name, "pass": PASSWORD, "prompt": {"ends_with": "#"}}}
            if group:
                d["group"] = group
            devices.append(d)
        # Hostile free text where the inventory allows it: tags are free-form strings.
        devices.append({"name": "xss-1", "host": "127.0.0.1",
                        "protocol": {"type": "ssh", "ssh": {"port": port}},
                        "tags": ["xss", XSS_SCRIPT, XSS_IMG],
                        "credentials": {"user": "xss-1", "pass": PASSWORD, "prompt": {"ends_with": "#"}}})
        jobs = [{"name": "show_run", "schedule": {"interval": 3600},
                 "command": {"inline": ["terminal length 0", "show run"]},
                 "prompt": {"ends_with": "#"}, "devices": {"tags": ["farm", "xss"]},
                 "timeout": 30, "max_attempts": 2, "retry_delay": 5}]
        with open(os.path.join(inv, "devices.json"), "w") as f:
            json.dump({"devices": devices}, f, indent=1)
        with open(os.path.join(inv, "jobs.json"), "w") as f:
            json.dump({"jobs": jobs}, f, indent=1)

    # --- API ---
    def get(self, path, headers=None):
        return request("GET", self.url + path, headers=headers)

    def get_json(self, path):
        r = self.get(path)
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {r.body[:300]!r}")
        return r.json()

    def post(self, path, body=b"", headers=None):
        return request("POST", self.url + path, body=body, headers=headers)

    def route_exists(self, path):
        """False when netkeepd answers 404 'no route for' (this build lacks the route)."""
        r = self.get(path)
        return not (r.status == 404 and b"no route for" in r.body)

    def versions(self, device):
        h = self.get_json(f"/api/v1/devices/{device}/history")
        return {j["job"]: j["versions"] for j in h["jobs"]}

    def wait_versions(self, device, count, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.versions(device).get("show_run", [])) >= count:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{device}: fewer than {count} versions after {timeout} s "
                           f"(logs in {self.root})")

    def run_now(self, device, job="show_run"):
        r = self.post(f"/api/v1/tasks/{device}/{job}/run")
        if r.status != 200:
            raise RuntimeError(f"run {device}/{job}: {r.status} {r.body!r}")
        return r.json()

    # --- acting as a worker for the "xss" devices ---
    def _lease(self, tag):
        deadline = time.time() + 20
        while time.time() < deadline:
            r = self.get(f"/worker/next?tag={tag}&seconds=3600&max=10",
                         headers={"X-Netkeep-Worker": "xss-worker"})
            if r.status == 200:
                return r.json()[0]
            time.sleep(0.2)
        raise RuntimeError(f"nothing to lease for tag {tag}")

    def _complete(self, lease, content, failure=None):
        now = int(time.time())
        start = max(now, lease["timestamp"])
        fields = {"device": lease["device"]["name"], "job_timestamp": lease["timestamp"],
                  "start_timestamp": start, "end_timestamp": start}
        if failure is not None:
            fields["failure"] = failure
        body, ctype = multipart(fields, lease["job"]["name"], content)
        r = self.post("/worker/complete", body,
                      {"Content-Type": ctype, "X-Netkeep-Worker": "xss-worker"})
        if r.status != 200:
            raise RuntimeError(f"complete: {r.status} {r.body!r}")

    def inject_xss(self):
        """A version of xss-1 whose config holds hostile lines, then a failed attempt whose
        text is hostile."""
        self._complete(self._lease("xss"), XSS_CONFIG.encode())
        self.wait_versions("xss-1", 1)
        self.run_now("xss-1")
        self._complete(self._lease("xss"), b"", failure=XSS_FAILURE)

    def fill(self):
        """Versions for every farm device, a second (changed) version of core-sw-1, the
        hostile values, and a failure (badpass-fw-1 refuses the password)."""
        for name, _ in FARM_DEVICES:
            if not name.startswith("badpass"):
                self.wait_versions(name, 1)
        with open(os.path.join(self.state, "core-sw-1"), "w") as f:
            f.write("1")
        self.run_now("core-sw-1")
        self.wait_versions("core-sw-1", 2)
        self.inject_xss()
        deadline = time.time() + 30
        while time.time() < deadline:
            t = self.get_json("/api/v1/tasks?device=badpass-fw-1")["tasks"][0]
            if t["last_failure"]:
                return
            time.sleep(0.2)
        raise RuntimeError("badpass-fw-1 recorded no failure in 30 s")

    def expected_config(self, device, generation):
        return subprocess.run([self.fake_bin, "--print-config", device, "--generation",
                               str(generation), "--config-bytes", "3000"],
                              check=True, capture_output=True, text=True).stdout
