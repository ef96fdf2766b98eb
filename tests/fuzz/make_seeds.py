#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ (docs/fuzzing.md).

Small, hand-made inputs: valid messages as netkeep's peers send them and near-valid
variants. Each target's input layout is described at the top of its <name>_fuzz.cpp.
Run from anywhere; it rewrites the files it owns and leaves other files alone.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode("latin-1")
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def crlf(text):
    return text.replace("\n", "\r\n")


# ---- http_parser: [flags][split seed] bytes --------------------------------------------
def http_seeds():
    reqs = {
        "get_next": "GET /worker/next HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Netkeep-Worker: w1\r\n"
                    "Authorization: Bearer nk_0123456789abcdef\r\n\r\n",
        "get_query": "GET /api/v1/tasks?device=r1&job=show%20run&limit=10 HTTP/1.1\r\nHost: x\r\n\r\n",
        "post_length": "POST /api/v1/tasks/r1/show_run/run HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                       "Content-Type: application/json\r\n\r\n{}",
        "post_chunked": "POST /worker/complete HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n",
        "expect_continue": "PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        "pipelined": "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                     "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "http10_close": "GET / HTTP/1.0\r\n\r\n",
        "connection_close": "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "upgrade": "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "h2_preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "smuggle_cl_te": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "space_in_name": "GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello",
        "two_lengths": "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "bad_chunk": "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "obs_fold": "GET / HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n",
        "bare_lf": "GET / HTTP/1.1\nHost: x\n\n",
        "long_target": "GET /" + "a" * 100 + " HTTP/1.1\r\n\r\n",
        "many_headers": "GET / HTTP/1.1\r\n" + "".join("X-H%d: %s\r\n" % (i, "v" * 10) for i in range(20)) + "\r\n",
        "truncated_body": "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
        "huge_length": "POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nx",
    }
    for name, text in reqs.items():
        write("http_parser", name, b"\x00\x00" + text.encode())       # byte by byte
        write("http_parser", name + "_s7", b"\x00\x07" + text.encode())  # small chunks
    write("http_parser", "long_target_small_limits", b"\x01\x05" + reqs["long_target"].encode())
    write("http_parser", "many_headers_small_limits", b"\x01\x08" + reqs["many_headers"].encode())
    resps = {
        "resp_length": "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"ok\": true}\n",
        "resp_chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "resp_eof": "HTTP/1.0 200 OK\r\n\r\nuntil the connection closes",
        "resp_204": "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n",
        "resp_continue": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    }
    for name, text in resps.items():
        write("http_parser", name, b"\x02\x03" + text.encode())
    write("http_parser", "resp_head", b"\x06\x00" + b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")


# ---- multipart: [flags][split seed] boundary-line \n body -----------------------------
def completion_body(b, file_content="hostname r1\n!\nend\n", failure=None, preamble="", epilogue=""):
    parts = [
        ("device", None, "r1"),
        ("job_timestamp", None, "1749038400"),
        ("start_timestamp", None, "1749038401"),
        ("end_timestamp", None, "1749038405"),
    ]
    if failure is not None:
        parts.append(("failure", None, failure))
    parts.append(("file", "show_run", file_content))
    out = preamble
    for name, filename, content in parts:
        out += "--%s\r\n" % b
        disp = 'form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out += "Content-Disposition: %s\r\n" % disp
        if filename is not None:
            out += "Content-Type: application/octet-stream\r\n"
        out += "\r\n" + content + "\r\n"
    out += "--%s--\r\n" % b + epilogue
    return out


def multipart_seeds():
    b = "netkeep-3f2a9c1e"
    write("multipart", "completion", "\x00\x00" + b + "\n" + completion_body(b))
    write("multipart", "completion_s9", "\x00\x09" + b + "\n" + completion_body(b))
    write("multipart", "completion_content_type",
          "\x02\x05" + 'multipart/form-data; boundary="' + b + '"\n' + completion_body(b))
    write("multipart", "content_type_bare",
          "\x02\x04" + "Multipart/Form-Data ; charset=utf-8; boundary=" + b + "\n" + completion_body(b))
    write("multipart", "failure_field", "\x00\x11" + b + "\n" +
          completion_body(b, file_content="", failure="prompt not seen: timed out"))
    write("multipart", "preamble_epilogue", "\x00\x03" + b + "\n" +
          completion_body(b, preamble="this is the preamble\r\n", epilogue="trailing junk"))
    # content that looks like the delimiter: CRs, dashes, partial boundaries
    tricky = "line\r\n--netkeep-3f2a\r\n\r\r\n-\r\n--\r\n--netkeep-3f2a9c1\rX" + "\r" * 5
    write("multipart", "near_delimiters", "\x00\x00" + b + "\n" + completion_body(b, file_content=tricky))
    write("multipart", "padding", "\x00\x02" + "b\n" + "--b \t\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b--")
    write("multipart", "space_boundary", "\x00\x06" + "a b'()+_,-./:=?\n" +
          "--a b'()+_,-./:=?\r\nContent-Disposition: form-data; name=\"q\\\"x\"\r\n\r\n\r\n--a b'()+_,-./:=?--")
    write("multipart", "no_crlf_before_first", "\x00\x01" + "X\n--X\r\nContent-Disposition: form-data; name=n\r\n\r\nv\r\n--X--\r\n")
    write("multipart", "small_limits", "\x01\x00" + b + "\n" + completion_body(b))
    write("multipart", "missing_close", "\x00\x05" + b + "\n" + completion_body(b)[:-6])
    write("multipart", "bare_lf_header", "\x00\x05" + "b\n--b\r\nContent-Disposition: form-data; name=a\n\r\nx\r\n--b--")
    write("multipart", "folded", "\x00\x05" + "b\n--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b--")
    write("multipart", "boundary_then_garbage", "\x00\x05" + "b\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--bX\r\n--b--")
    write("multipart", "two_dispositions", "\x00\x05" + "b\n--b\r\nContent-Disposition: form-data; name=a\r\n"
          "Content-Disposition: form-data; name=b\r\n\r\nx\r\n--b--")
    write("multipart", "filename_star", "\x00\x05" + "b\n--b\r\nContent-Disposition: form-data; name=file; "
          "filename*=UTF-8''r%C3%A9; filename=\"\"\r\n\r\n\r\n--b--")
    write("multipart", "invalid_boundary", "\x00\x00" + "bad boundary \n--bad boundary \r\n")
    write("multipart", "content_type_two_boundaries", "\x02\x00" + "multipart/form-data; boundary=a; boundary=b\n--a--")


# ---- inventory: devices.json \n---\n jobs.json -----------------------------------------
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJf4MhdpMeSSXZx+KmbUWINGZDCM8vifiAUPH5LZfLL7"
KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBTmTCvKCmjF6muV8dwGcAgJhRSAAuNwzvX9gYOlecFC"

DOCS_DEVICES = """{
  "credentials": {
    "netops": {"user": "netops", "pass": {"env": "NETKEEP_NETOPS_PASS"}, "prompt": {"ends_with": "#"}},
    "junos-backup": {"user": "backup", "pass": {"file": "secrets/juniper.pass"},
                     "prompt": {"regex": "^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+> ?$"}}
  },
  "profiles": {
    "ios": {"protocol": {"type": "ssh", "ssh": {"port": 22}}, "credentials": "netops", "tags": ["cisco", "ios"]}
  },
  "devices": [
    {"name": "dal-core-1", "host": "10.20.0.1", "profile": "ios", "tags": ["dallas", "core"]},
    {"name": "dal-core-2", "host": "10.20.0.2", "profile": "ios", "tags": ["dallas", "core"]},
    {"name": "hou-edge-1.example.net", "profile": "ios", "tags": ["houston", "edge"]},
    {"name": "dal-oob-1", "host": "ts1.dal.example.net", "profile": "ios",
     "protocol": {"type": "telnet", "telnet": {"port": 2003}}, "tags": ["dallas", "oob"]},
    {"name": "dal-fw-1", "host": "10.20.0.10", "protocol": {"type": "ssh", "ssh": {"port": 2222}},
     "credentials": "junos-backup", "tags": ["juniper", "dallas"]},
    {"name": "lab-sw-1", "host": "192.0.2.50", "profile": "ios",
     "credentials": {"user": "lab", "pass": "lab", "prompt": {"ends_with": ">"}}, "tags": ["lab", "cisco"]}
  ]
}"""

DOCS_JOBS = r"""{
  "jobs": [
    {"name": "running-config", "schedule": {"cron": "0 */4 * * *"},
     "command": {"inline": ["terminal length 0", "show running-config"]}, "prompt": {"ends_with": "#"},
     "devices": {"tags": ["ios"]}, "timeout": 120,
     "redact": [
       {"regex": "^(username \\S+ (privilege \\d+ )?(secret|password) \\d+) \\S+", "replace": "$1 <removed>"},
       {"regex": "^(snmp-server community) \\S+", "replace": "$1 <removed>"}]},
    {"name": "junos-config", "schedule": {"cron": "30 2 * * *"},
     "command": {"inline": ["show configuration | display set | no-more"]}, "devices": {"tags": ["juniper"]},
     "timeout": 600, "redact": [{"regex": "(encrypted-password \")[^\"]*", "replace": "$1<removed>"}]},
    {"name": "hardware-inventory", "schedule": {"interval": 86400}, "command": {"inline": ["show inventory"]},
     "devices": {"tags": ["core", "edge"], "names": ["dal-oob-1"]}, "max_attempts": 5, "retry_delay": 300}
  ]
}"""


def inventory_seeds():
    sep = "\n---\n"
    write("inventory", "docs_example", DOCS_DEVICES + sep + DOCS_JOBS)
    with open(os.path.join(HERE, "..", "..", "tools", "demo-inventory", "devices.json")) as f:
        demo_devices = f.read()
    with open(os.path.join(HERE, "..", "..", "tools", "demo-inventory", "jobs.json")) as f:
        demo_jobs = f.read()
    write("inventory", "demo", demo_devices + sep + demo_jobs)
    # No "file" anywhere: the target also loads it with secrets resolved.
    literal = """{"credentials": {"c": {"user": "u", "pass": "p4ss", "prompt": {"regex": "[>#] ?$"}}},
 "profiles": {"p": {"credentials": "c", "group": "dc1-core", "tags": ["b", "a", "b"],
   "protocol": {"type": "ssh", "ssh": {"port": 2222, "host_key": ["%s", "[r1]:2222 %s"]}}}},
 "devices": [{"name": "r1", "host": "10.0.0.1", "profile": "p", "tags": ["z"]},
  {"name": "r2", "host": "10.0.0.2", "protocol": {"type": "telnet"},
   "credentials": {"user": "x", "pass": {"env": "HOME"}, "prompt": {"ends_with": ">"}}}]}""" % (KEY, KEY2)
    jobs = """{"jobs": [{"name": "show_run", "schedule": {"cron": "@daily"},
  "command": {"inline": ["terminal length 0", "show run"]}, "pager": {"regex": "--More--"},
  "redact": [{"regex": "(secret [0-9]+) \\\\S+", "replace": "$1 <removed>"}]},
 {"name": "inv", "schedule": {"interval": 60}, "command": {"inline": ["show inv"]}, "devices": {"names": ["r2"]}}]}"""
    write("inventory", "literal_secrets", literal + sep + jobs)
    redacted = """{"devices": [{"name": "r1", "credentials": {"user": "u",
  "pass": {"redacted_sha256": "%s"}}}]}""" % ("ab" * 32)
    write("inventory", "recorded_marker", redacted)
    write("inventory", "devices_only", '{"devices": [{"name": "r1", "credentials": {"user": "u", "pass": "p"}}]}')
    write("inventory", "bad_name", '{"devices": [{"name": "../etc", "credentials": {"user": "u", "pass": "p"}}]}')
    write("inventory", "duplicate", '{"devices": [{"name": "a", "credentials": {"user": "u", "pass": "p"}},'
          ' {"name": "a", "credentials": {"user": "u", "pass": "p"}}]}')
    write("inventory", "bad_regex", '{"devices": [{"name": "a", "credentials": {"user": "u", "pass": "p",'
          ' "prompt": {"regex": "(a"}}}]}')
    write("inventory", "backreference", '{"devices": [{"name": "a", "credentials": {"user": "u", "pass": "p",'
          ' "prompt": {"regex": "(a)\\\\1"}}}]}')
    write("inventory", "bad_cron", '{"devices": []}' + sep + '{"jobs": [{"name": "j", "schedule": {"cron": "0 0 30 2 *"},'
          ' "command": {"inline": ["x"]}}]}')
    write("inventory", "escapes", '{"devices": [{"name": "r\\u0031", "credentials": {"user": "\\"u\\"", "pass": "p\\\\"}}]}')
    write("inventory", "not_json", '{"devices": [}' + sep + "nul")


# ---- cron: expression \n [time] ---------------------------------------------------------
def cron_seeds():
    lines = ["0 */4 * * *", "30 2 * * *", "*/15 * * * *", "1-30/7 * * * *", "5/10 * * * *",
             "0 0 29 2 *", "0 0 */10 * 5", "0 0 13 * 5", "0 0 * * SAT,sun", "0 0 * jan-dec sun-sat",
             "  0\t0  *  * *  ", "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly",
             "@annually", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "* * * * 8", "*/0 * * * *", "* * * dec-jan *",
             "59 23 31 12 *", "0 12 * * 1-5", "0 0 1,15 * 7"]
    for i, line in enumerate(lines):
        write("cron", "cron_%02d" % i, line + "\n1735689600")
    write("cron", "leap_from_2023", "0 0 29 2 *\n1677628800")
    write("cron", "before_epoch", "0 0 * * *\n-86401")
    write("cron", "no_time", "*/5 * * * *")
    write("cron", "interval_3600", "interval 3600\n1735689600")
    write("cron", "interval_7", "interval 7\n-13")
    write("cron", "interval_zero", "interval 0")


# ---- event_format: [mode] record | [mode|1] type version payload -------------------------
def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def sint(v):
    return varint(((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF)


def s(text):
    b = text.encode()
    return varint(len(b)) + b


def record(type_, version, payload):
    head = bytes([type_]) + struct.pack("<H", version)
    body = head + struct.pack("<I", len(payload)) + payload
    return body + struct.pack("<I", crc32c(body))


def event_seeds():
    t = 1749038400
    events = {
        "inventory_applied_v1": (1, 1, sint(t) + s('{"devices": []}') + s('{"jobs": []}')),
        "lease_granted_v1": (2, 1, sint(t) + s("r1") + s("show_run") + sint(t) + sint(t + 120) + varint(1) + s("w1")),
        "lease_granted_v2": (2, 2, sint(t) + s("r1") + s("show_run") + sint(t) + sint(t + 120) + varint(2) + s("w1")
                             + s("token-a")),
        "lease_expired_v1": (3, 1, sint(t + 121) + s("r1") + s("show_run") + sint(t)),
        "completion_ok_v1": (4, 1, sint(t + 5) + s("r1") + s("show_run") + sint(t) + sint(t + 1) + sint(t + 4)
                             + b"\x00" + varint(1234) + varint(32) + bytes(range(32)) + s("0000000000000001.spool") + s("w1")),
        "completion_failed_v1": (4, 1, sint(t + 5) + s("r1") + s("show_run") + sint(t) + sint(t + 1) + sint(t + 4)
                                 + b"\x01" + s("prompt not seen: timed out") + varint(0) + s("") + s("") + s("w1")),
        "occurrence_closed_succeeded": (5, 1, sint(t + 6) + s("r1") + s("show_run") + sint(t) + b"\x01"),
        "occurrence_closed_failed": (5, 1, sint(t + 6) + s("r1") + s("show_run") + sint(t) + b"\x02"),
        "occurrence_closed_removed": (5, 1, sint(t + 6) + s("r1") + s("show_run") + sint(t) + b"\x03"),
        "run_requested_v1": (6, 1, sint(t) + s("r1") + s("show_run") + sint(t + 3600) + s("127.0.0.1")),
        "negative_times": (3, 1, sint(-1) + s("r1") + s("j") + sint(-(2 ** 63))),
    }
    for name, (type_, version, payload) in events.items():
        write("event_format", name, b"\x00" + record(type_, version, payload))
        write("event_format", name + "_framed", b"\x01" + bytes([type_]) + struct.pack("<H", version) + payload)
    write("event_format", "unknown_type", b"\x00" + record(7, 1, b""))
    write("event_format", "newer_version", b"\x00" + record(2, 3, b""))
    write("event_format", "bad_crc", b"\x00" + record(3, 1, sint(1) + s("a") + s("b") + sint(2))[:-1] + b"\x00")
    write("event_format", "key", b"\x00" + struct.pack(">Q", 42))
    write("event_format", "overlong_varint", b"\x01\x03\x01\x00" + b"\x80" * 9 + b"\x01" + s("a") + s("b") + b"\x00")


# ---- session: [flags][split seed] transcript, 0x01 = the device goes quiet ----------------
def session_seeds():
    Q = "\x01"
    banner = "\r\nnetkeep fake device r1\r\n\r\nr1#"
    config = crlf("Building configuration...\n\nCurrent configuration : 1234 bytes\n!\nhostname r1\n"
                  "interface Gi0/1\n description uplink #1\nr1#\n!\nend\n")
    # flags: bits 3-4 = commands - 1; two commands = 0x08
    two = 0x08
    write("session", "show_run", bytes([two, 0]) + (banner + Q + "c0\r\nr1#" + Q + "c1\r\n" + config + "r1#" + Q).encode())
    write("session", "show_run_chunks", bytes([two | 1, 9]) + (banner + Q + "c0\r\nr1#" + Q + "c1\r\n" + config + "r1#" + Q).encode())
    more = " --More-- "
    erase = "\b" * len(more) + " " * len(more) + "\b" * len(more)
    pager = "c0\r\nline 1\r\nline 2\r\n" + more + Q + erase + "line 3\r\nline 4\r\n" + more + Q + erase + "end\r\nr1#" + Q
    write("session", "pager", bytes([0, 3]) + (banner + Q + pager).encode())
    write("session", "pager_regex", bytes([64, 5]) + (banner + Q + pager.replace(" --More-- ", "--More--")).encode())
    login = "\r\nUser Access Verification\r\n\r\nUsername: " + Q + "u\r\nPassword: " + Q + "\r\n" + banner + Q
    write("session", "telnet_login", bytes([4 | two, 0]) + (login + "c0\r\nr1#" + Q + "c1\r\n" + config + "r1#" + Q).encode())
    write("session", "login_again", bytes([4, 2]) + ("Username: " + Q + "Password: " + Q + "% Login invalid\r\nUsername: " + Q).encode())
    write("session", "eof_mid_output", bytes([32 | two, 4]) + (banner + Q + "c0\r\nr1#" + Q + "c1\r\nhostname r1\r\n").encode())
    write("session", "eof_before_prompt", bytes([32, 0]) + b"\r\nconnecting...\r\n")
    junos = "\r\n--- JUNOS 21.4R3 built 2023-01-01\r\nbackup@fw1> " + Q + "c0\r\nset system host-name fw1\r\n\r\nbackup@fw1> " + Q
    write("session", "junos_regex_prompt", bytes([2, 6]) + junos.encode())
    write("session", "default_prompt", bytes([1 | 128, 1]) + ("\r\nrouter>" + Q + "c0\r\nout\r\nrouter>" + Q).encode())
    write("session", "long_line", bytes([0, 4]) + (banner + Q + "c0\r\n" + "x" * 70000 + "\r\nr1#" + Q).encode())
    write("session", "bare_cr", bytes([3, 8]) + ("\r\rr1>\r" + Q + "c0\r\r\na\rb\r\nr1>" + Q).encode())
    write("session", "prompt_lookalike", bytes([0, 0]) + (banner + Q + "c0\r\nr1#\r\nmore\r\nr1#" + Q).encode())
    write("session", "four_commands", bytes([0x18, 7]) + (banner + Q + "".join("c%d\r\nout %d\r\nr1#%s" % (i, i, Q) for i in range(4))).encode())


# ---- telnet: [split seed] raw -------------------------------------------------------------
def telnet_seeds():
    IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240

    def cmd(c, o):
        return bytes([IAC, c, o])
    greeting = cmd(WILL, 1) + cmd(WILL, 3) + cmd(DO, 31) + b"\r\nUser Access Verification\r\n\r\nUsername: "
    write("telnet", "greeting", b"\x00" + greeting)
    write("telnet", "greeting_chunks", b"\x05" + greeting)
    write("telnet", "repeats", b"\x00" + cmd(WILL, 24) * 2 + cmd(DO, 24) * 2 + cmd(WILL, 1) * 2 + cmd(WONT, 1) + cmd(DONT, 5)
          + cmd(WILL, 1) + cmd(WONT, 1))
    write("telnet", "subneg", b"\x00a" + bytes([IAC, SB, 24]) + b"xyz" + bytes([IAC, IAC, IAC, SE]) + b"b" + bytes([IAC, IAC])
          + b"c\r\x00d\r\ne" + bytes([IAC, 241]) + b"f")
    write("telnet", "unterminated_sb", b"\x03" + bytes([IAC, SB, 31, 0, 80, 0, 24]) + b"lost")
    write("telnet", "every_option", b"\x04" + b"".join(cmd(c, o) for c in (WILL, WONT, DO, DONT) for o in (0, 1, 3, 24, 31, 255)))
    write("telnet", "trailing_iac", b"\x00data" + bytes([IAC]))
    write("telnet", "cr_nul_iac", b"\x00" + b"\r\x00\r" + bytes([IAC, IAC]) + b"\r\r\x00\x00")


# ---- syslog: [split seed][mode] bytes of a TCP stream -----------------------------------
def syslog_seeds():
    ios = "<189>52: *Dec  5 23:01:02.123: %SYS-5-CONFIG_I: Configured from console by alice on vty0 (10.0.0.5)"
    junos = ("<189>1 2026-12-05T23:01:02.123Z r1 mgd 5432 UI_COMMIT [junos@2636.1.1.1.2.18 username=\"alice\" "
             "command=\"commit\"] User 'alice' requested 'commit' operation")
    bsd = "<13>Dec  5 23:01:02 fw1 ConfigAgent: %SYS-5-CONFIG_I: Configured from console by bob"
    forti = ('<189>date=2026-12-05 time=23:01:02 logid="0100044547" type="event" subtype="system" '
             'level="information" vd="root" logdesc="Object attribute configured" user="alice" action="Edit"')
    write("syslog", "datagram_ios", "\x00\x00" + ios)
    write("syslog", "octet_counted", "\x00\x00" + "".join("%d %s" % (len(m), m) for m in (ios, junos, forti)))
    write("syslog", "lines", "\x07\x00" + ios + "\n" + bsd + "\r\n\n" + junos + "\n")
    write("syslog", "mixed_small", "\x05\x01" + "10 0123456789" + "<1>short\n" + "99 too long for the small limit")
    write("syslog", "bad_count", "\x00\x00" + "12x34 hello\n")
    write("syslog", "routeros", "\x03\x00<30>Dec  5 23:01:02 system,info address changed by admin\n")


if __name__ == "__main__":
    http_seeds()
    multipart_seeds()
    inventory_seeds()
    cron_seeds()
    event_seeds()
    session_seeds()
    telnet_seeds()
    syslog_seeds()
