#!/usr/bin/env python3
"""Checks the built-in platform definitions (src/platforms/defs/*.json) against their
fixtures (tests/platforms/<name>/), without netkeepd: a stand-in for the C++ redaction
engine while it is being written, and a quick loop for whoever edits a definition.

    tests/platforms/check_fixtures.py [NAME...]      (default: every definition)

For each platform it
  - checks the definition's shape (contract: required fields, channel, command sets,
    regexes limited to what RE2 and Python's `re` read the same way);
  - applies the redact rules (replace / delete_line / block, docs/platforms.md) and the
    noise drop rules to config.txt and compares with expected.txt, both with the fake
    device's placeholders ({{gen}}, {{run}}, {{prompt}}) filled in;
  - checks that no line of secrets.txt is left, and that each planted secret was in
    config.txt to begin with (a secret that is not planted tests nothing);
  - checks that every line holding {{run}} is matched by a noise rule, that drop lines
    are gone and ignore lines kept;
  - checks that redacting the expected text again changes nothing (a rule must not eat
    its own <removed> marker or the text around it);
  - runs the cases of snippets.txt, when there is one: short inputs with the lines
    expected after redaction and noise (what must change, what must stay, the facts
    sets' noise, the variants the fixture does not show);
  - matches the prompt regex against every prompt form of the platform (contract §7),
    the pager regex against its pager text, the expect rules against the login extras,
    enable's when_prompt against the unprivileged prompt only; the prompt must match no
    other line of the config, the pager text or a login extra.
Exits 1 when anything fails, printing each failure.

Python's `re` stands in for RE2: the rules avoid look-around, back-references,
possessive and atomic groups (rejected here), where the two differ. Compiled with
re.ASCII, as RE2's \\w, \\d, \\s are ASCII. The real engine is tested by the C++ tests.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFS = os.path.join(ROOT, "src", "platforms", "defs")
FIXTURES = os.path.join(ROOT, "tests", "platforms")

NAME = "edge-1"
USER = "netkeep"
GEN = "7"
RUN = "42"

# Contract §7: the prompt forms the regex must accept (the privileged one first: what
# {{prompt}} stands for, trailing spaces included), the unprivileged one (None when the
# platform has none), the pager text, and the login extras with the answer expected.
FORMS = {
    "ios": (["{N}#", "{N}(config)#", "{N}(config-if)#", "{N}(config-router)#", "{N}>"],
            "{N}>", " --More-- ", []),
    "nxos": (["{N}#", "{N}(config)#", "{N}(config-if)#"], None, "--More--", []),
    "iosxr": (["RP/0/RSP0/CPU0:{N}#", "RP/0/RP0/CPU0:{N}(config)#",
               "RP/0/RP0/CPU0:{N}(config-if)#"], None, " --More-- ", []),
    "asa": (["{N}#", "{N}/context#", "{N}(config)#", "{N}/pri/act#", "{N}>"],
            "{N}>", "<--- More --->", []),
    "junos": (["{U}@{N}> ", "{U}@{N}# "], None, None, []),
    "eos": (["{N}#", "{N}(config)#", "{N}(config-if-Et1)#", "{N}>"], "{N}>", " --More-- ", []),
    "fortios": (["{N} # ", "{N} (global) # ", "{N} (vdom) # ", "{N} (root) # ", "{N} $ "],
                None, "--More-- ", [("(Press 'a' to accept):", "a")]),
    "panos": (["{U}@{N}> ", "{U}@{N}(active)> ", "{U}@{N}# ", "{U}@{N}(passive)# "],
              None, "lines 1-20 ", []),
    "routeros": (["[{U}@{N}] > ", "[{U}@{N}] /ip> ", "[{U}@{N}] /ip address> "], None, None, []),
    "procurve": (["{N}# ", "{N}(config)# ", "{N}(vlan-10)# ", "{N}> "], "{N}> ",
                 "-- MORE --, next page: Space, next line: Enter, quit: Control-C",
                 [("Press any key to continue", " ")]),
    "aoscx": (["{N}# ", "{N}(config)# ", "{N}(config-if)# "], None, "--MORE--", []),
    "vrp": (["<{N}>", "[{N}]", "[~{N}]", "[*{N}]", "[~{N}-GigabitEthernet0/0/1]",
             "HRP_M<{N}>"], None, "  ---- More ----", []),
    "comware": (["<{N}>", "[{N}]", "[{N}-GigabitEthernet1/0/1]"], None, "---- More ----", []),
    "os10": (["{N}# ", "{N}(config)# ", "{N}(conf-if-eth1/1/1)# "], None, "--more--", []),
}

# What RE2 rejects or reads differently from Python's `re`.
UNPORTABLE = re.compile(r"\(\?[=!<>]|\(\?P=|\\[1-9]|[*+?}][+]|\\[AZz]")


class Failures:
    def __init__(self):
        self.items = []

    def add(self, platform, text):
        self.items.append(f"{platform}: {text}")


def compile_re(fails, platform, where, pattern):
    if not isinstance(pattern, str) or not pattern:
        fails.add(platform, f"{where}: regex must be a non-empty string")
        return None
    if len(pattern) > 1024:
        fails.add(platform, f"{where}: regex longer than 1,024 characters")
    if UNPORTABLE.search(pattern):
        fails.add(platform, f"{where}: {pattern!r} uses a feature RE2 lacks or reads differently")
    try:
        return re.compile(pattern, re.ASCII)
    except re.error as e:
        fails.add(platform, f"{where}: {pattern!r} does not compile: {e}")
        return None


def expand(replacement, m):
    """netkeep's replacement syntax (docs/jobs.md#redact): $1..$99, $&, $`, $', $$."""
    out = []
    i = 0
    s = m.string
    while i < len(replacement):
        c = replacement[i]
        if c != "$" or i + 1 == len(replacement):
            out.append(c)
            i += 1
            continue
        n = replacement[i + 1]
        if n.isdigit():
            j = i + 2 if not (i + 2 < len(replacement) and replacement[i + 2].isdigit()) else i + 3
            group = int(replacement[i + 1:j])
            if 0 < group <= (m.re.groups or 0):
                out.append(m.group(group) or "")
            elif group == 0:
                out.append(replacement[i:j])
            i = j
        elif n == "&":
            out.append(m.group(0))
            i += 2
        elif n == "`":
            out.append(s[: m.start()])
            i += 2
        elif n == "'":
            out.append(s[m.end():])
            i += 2
        elif n == "$":
            out.append("$")
            i += 2
        else:
            out.append("$")
            i += 1
    return "".join(out)


def compile_rules(fails, platform, spec):
    rules = []
    for i, r in enumerate(spec.get("redact", [])):
        where = f"/redact/{i}"
        if "block" in r:
            b = r["block"]
            rules.append(("block", compile_re(fails, platform, where + "/block/begin", b.get("begin")),
                          compile_re(fails, platform, where + "/block/end", b.get("end")),
                          r.get("replace")))
            if not isinstance(r.get("replace"), str):
                fails.add(platform, f"{where}: a block needs \"replace\" (\"\" for none)")
        elif "delete_line" in r:
            rules.append(("delete_line", compile_re(fails, platform, where, r["delete_line"]),
                          None, None))
        else:
            rules.append(("replace", compile_re(fails, platform, where, r.get("regex")), None,
                          r.get("replace")))
            if not isinstance(r.get("replace"), str):
                fails.add(platform, f"{where}: \"replace\" must be a string")
    noise = []
    for i, n in enumerate(spec.get("noise", [])):
        if n.get("action") not in ("drop", "ignore"):
            fails.add(platform, f"/noise/{i}: action must be drop or ignore")
        noise.append((n.get("action"), compile_re(fails, platform, f"/noise/{i}", n.get("regex"))))
    return rules, noise


def redact(rules, text):
    """Contract §1: rules in order on each line outside blocks; the lines inside a block are
    replaced by the block's one stand-in line (written where the first of them was, as the
    git writer streams it: none when the block is empty); output ending inside a block
    loses the rest. A line deleted by delete_line still opens the block an earlier rule
    found on it (fail closed)."""
    out = []
    open_block = None  # [end regex, stand-in, stood in yet]
    for line in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
        if open_block is not None:
            end, stand_in, stood_in = open_block
            if not end.search(line):
                if not stood_in and stand_in:
                    out.append(stand_in)
                open_block[2] = True
                continue
            open_block = None
        deleted = False
        opens = None
        for kind, rx, end, replacement in rules:
            if rx is None:
                continue
            if kind == "replace":
                line = rx.sub(lambda m, r=replacement: expand(r, m), line)
            elif kind == "delete_line":
                if rx.search(line):
                    deleted = True
                    break
            elif kind == "block" and opens is None and end is not None and rx.search(line):
                opens = (end, replacement)
        if not deleted:
            out.append(line)
        if opens is not None:
            open_block = [opens[0], opens[1], False]
    return out


def apply_noise(noise, lines):
    kept, dropped, ignored = [], [], []
    for line in lines:
        action = next((a for a, rx in noise if rx is not None and rx.search(line)), None)
        if action == "drop":
            dropped.append(line)
            continue
        if action == "ignore":
            ignored.append(line)
        kept.append(line)
    return kept, dropped, ignored


def check_snippets(fails, name, rules, noise, path):
    """snippets.txt: cases separated by blank lines; `# ` comment, `< ` an input line,
    `> ` a line expected in git, `~ ` one expected in git and matched by an ignore rule.
    A case without `>`/`~` lines expects everything dropped."""
    if not os.path.exists(path):
        return 0
    cases = []
    current = []
    for number, line in enumerate(read(path).split("\n"), 1):
        if not line.strip():
            if current:
                cases.append(current)
            current = []
        elif line.startswith("#"):
            continue
        elif line[:2] in ("< ", "> ", "~ ") or line in ("<", ">", "~"):
            current.append((number, line[0], line[2:]))
        else:
            fails.add(name, f"snippets.txt:{number}: starts with neither '< ', '> ', '~ ' nor '#'")
    if current:
        cases.append(current)
    for case in cases:
        inputs = [t for _, k, t in case if k == "<"]
        want = [(t, k == "~") for _, k, t in case if k in ">~"]
        kept, _, ignored = apply_noise(noise, redact(rules, "".join(l + "\n" for l in inputs)))
        got = [(l, any(a == "ignore" and rx.search(l) for a, rx in noise if rx)) for l in kept]
        if got != want:
            show = lambda pairs: "\n    ".join(("~ " if i else "> ") + l for l, i in pairs) or "(nothing)"
            fails.add(name, f"snippets.txt:{case[0][0]}: expected\n    {show(want)}\n  got\n    {show(got)}")
    return len(cases)


def fill(text, prompt):
    return text.replace("{{gen}}", GEN).replace("{{run}}", RUN).replace("{{prompt}}", prompt)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def suffix_match(rx_text, line):
    """src/worker/pattern.hpp: (?:RE)$ against the part of the last line after its last \\r."""
    rx = re.compile(f"(?:{rx_text})$", re.ASCII)
    return rx.search(line.rsplit("\r", 1)[-1]) is not None


def check_shape(fails, name, spec):
    if spec.get("name") != name:
        fails.add(name, '"name" must equal the file name')
    for field in ("description", "channel", "commands"):
        if field not in spec:
            fails.add(name, f'missing "{field}"')
    if spec.get("channel") not in ("shell", "exec"):
        fails.add(name, 'channel must be "shell" or "exec"')
    if spec.get("channel") == "shell" and "prompt" not in spec:
        fails.add(name, "a shell platform needs a prompt")
    if spec.get("channel") == "exec":
        for field in ("pager", "enable", "setup", "expect"):
            if spec.get(field):
                fails.add(name, f'an exec platform does not use "{field}"')
    commands = spec.get("commands", {})
    if not isinstance(commands.get("config"), list) or not commands.get("config"):
        fails.add(name, 'commands needs a non-empty "config" set')
    for set_name, cmds in commands.items():
        if not isinstance(cmds, list) or not all(isinstance(c, str) and c for c in cmds):
            fails.add(name, f"commands.{set_name} must be a list of commands")
    # Read-only: no definition may change the device's configuration.
    writes = re.compile(r"^(conf(ig(ure)?)?( t(erminal)?)?|write|copy|commit|save|reload|"
                        r"delete|erase|set (?!cli pager off$)|config |system-view|"
                        r"/(system|ip|interface).* (set|add|remove))\b", re.I)
    for cmd in list(spec.get("setup", [])) + [c for s in commands.values() for c in s]:
        if writes.search(cmd):
            fails.add(name, f"command {cmd!r} may change the device")
    for key in ("prompt", "pager"):
        p = spec.get(key)
        if p is not None:
            compile_re(fails, name, f"/{key}", p.get("regex"))
    # "syslog" (issue 14, docs/syslog.md): config-change message patterns, each with
    # (?P<user>...) unless the message names nobody.
    for i, rx in enumerate(spec.get("syslog", [])):
        compiled = compile_re(fails, name, f"/syslog/{i}", rx)
        if compiled is not None and "user" not in compiled.groupindex and "111005" not in rx:
            fails.add(name, f"/syslog/{i}: no (?P<user>...) group")
    known = {"name", "description", "channel", "pty", "strip_ansi", "prompt", "pager", "expect",
             "enable", "setup", "commands", "redact", "noise", "notes", "syslog"}
    for key in spec:
        if key not in known:
            fails.add(name, f'unknown field "{key}"')


def check_prompts(fails, name, spec, config_lines):
    forms = FORMS.get(name)
    if forms is None:
        fails.add(name, "no prompt forms known to the checker (add them to FORMS)")
        return
    prompts, unpriv, pager, extras = forms
    prompts = [p.format(N=NAME, U=USER) for p in prompts]
    unpriv = unpriv.format(N=NAME, U=USER) if unpriv else None
    rx = spec.get("prompt", {}).get("regex")
    if rx is None:
        return
    for p in prompts:
        if not suffix_match(rx, p):
            fails.add(name, f"prompt regex does not match {p!r}")
    non_prompts = [l for l in config_lines if l.rstrip() not in {p.rstrip() for p in prompts}]
    if pager:
        non_prompts.append(pager)
    non_prompts += [e[0] for e in extras]
    for line in non_prompts:
        if line and suffix_match(rx, line):
            fails.add(name, f"prompt regex also matches {line!r}")
    if pager:
        prx = spec.get("pager", {}).get("regex")
        if prx is None:
            fails.add(name, f"no pager regex for {pager!r}")
        elif not suffix_match(prx, pager):
            fails.add(name, f"pager regex does not match {pager!r}")
        elif any(suffix_match(prx, p) for p in prompts):
            fails.add(name, "pager regex matches a prompt")
    for text, answer in extras:
        rules = [e for e in spec.get("expect", [])
                 if suffix_match(e["pattern"].get("regex") or re.escape(e["pattern"]["ends_with"]),
                                 text)]
        if not rules:
            fails.add(name, f"no expect rule for {text!r}")
        elif rules[0]["answer"] != answer:
            fails.add(name, f"expect answers {text!r} with {rules[0]['answer']!r}, not {answer!r}")
    when = spec.get("enable", {}).get("when_prompt", {}).get("regex")
    if when is not None:
        if unpriv is None or not suffix_match(when, unpriv):
            fails.add(name, f"enable when_prompt does not match the unprivileged prompt {unpriv!r}")
        if suffix_match(when, prompts[0]):
            fails.add(name, "enable when_prompt matches the privileged prompt")
    elif unpriv is not None and unpriv != prompts[0] and "enable" not in spec:
        fails.add(name, "an unprivileged prompt but no enable")


def check_platform(fails, name, stats):
    spec = json.loads(read(os.path.join(DEFS, name + ".json")))
    check_shape(fails, name, spec)
    rules, noise = compile_rules(fails, name, spec)
    if not any(a == "drop" for a, _ in noise):
        fails.add(name, "no drop noise rule")
    fdir = os.path.join(FIXTURES, name)
    try:
        raw = read(os.path.join(fdir, "config.txt"))
        want = read(os.path.join(fdir, "expected.txt"))
        secrets = [s for s in read(os.path.join(fdir, "secrets.txt")).split("\n") if s]
    except OSError as e:
        fails.add(name, f"fixture missing: {e}")
        return
    forms = FORMS.get(name)
    prompt = forms[0][0].format(N=NAME, U=USER).rstrip() if forms else NAME
    n_lines = raw.count("\n")
    if not 30 <= n_lines <= 120:
        fails.add(name, f"config.txt has {n_lines} lines (30..120 wanted)")
    # A line equal to the prompt tests the shell's end-of-output detection; an exec channel
    # has no prompt, and RouterOS's /export cannot print a bare one.
    placeholders = ["{{gen}}"] + (["{{prompt}}"] if spec.get("channel") == "shell" else [])
    for placeholder in placeholders:
        if placeholder not in raw:
            fails.add(name, f"config.txt lacks {placeholder}")
    if not raw.endswith("\n") or not want.endswith("\n"):
        fails.add(name, "config.txt and expected.txt end with a line ending")

    got_lines = redact(rules, fill(raw, prompt))
    kept, dropped, ignored = apply_noise(noise, got_lines)
    got = "".join(l + "\n" for l in kept)
    expected = fill(want, prompt)
    if got != expected:
        import difflib
        diff = difflib.unified_diff(expected.splitlines(), got.splitlines(), "expected.txt",
                                    "rules(config.txt)", lineterm="", n=1)
        fails.add(name, "redact+noise(config.txt) != expected.txt:\n  " + "\n  ".join(diff))
    for s in secrets:
        if s not in fill(raw, prompt):
            fails.add(name, f"secret {s!r} is not in config.txt")
        if s in got:
            fails.add(name, f"secret {s!r} survives redaction")
    again, _, _ = apply_noise(noise, redact(rules, got))
    if again != kept:
        fails.add(name, "redacting the redacted text again changes it")
    run_lines = [l for l in raw.split("\n") if "{{run}}" in l]
    for l in run_lines:
        filled = fill(l, prompt)
        redacted = redact(rules, filled + "\n")
        if redacted and not any(rx is not None and rx.search(redacted[0]) for _, rx in noise):
            fails.add(name, f"noise line {l!r} matches no noise rule")
    for l in dropped:
        if l in expected.split("\n"):
            fails.add(name, f"dropped line {l!r} is in expected.txt")
    check_prompts(fails, name, spec, [fill(l, prompt) for l in raw.split("\n")])
    n_snippets = check_snippets(fails, name, rules, noise, os.path.join(fdir, "snippets.txt"))
    stats.append((name, n_lines, len(secrets), len(dropped), len(ignored),
                  len(spec.get("redact", [])), len(spec.get("noise", [])), n_snippets))


def main(argv):
    names = argv[1:] or sorted(f[:-5] for f in os.listdir(DEFS) if f.endswith(".json"))
    fails = Failures()
    stats = []
    for name in names:
        check_platform(fails, name, stats)
    print(f"{'platform':10} {'lines':>5} {'secrets':>7} {'dropped':>7} {'ignored':>7} "
          f"{'redact':>6} {'noise':>5} {'snippets':>8}")
    for s in stats:
        print(f"{s[0]:10} {s[1]:5} {s[2]:7} {s[3]:7} {s[4]:7} {s[5]:6} {s[6]:5} {s[7]:8}")
    for f in fails.items:
        print("FAIL " + f)
    print(f"{len(names)} platforms, {len(fails.items)} failures")
    return 1 if fails.items else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
