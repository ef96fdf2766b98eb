#!/usr/bin/env python3
"""Structural check of Dockerfile.netkeepd and Dockerfile.worker, for machines without a
container engine (hadolint is not packaged in Debian).

Usage: dockerfile_check.py SOURCE_DIR

For each file: every instruction is a known one and exec-form arguments are valid JSON;
it is multi-stage, every FROM is Debian 12 (bookworm) with an explicit tag, the first
stage is "build" and builds the packages with tools/package, and the runtime stage takes
only its own .deb files from it (COPY --from=build); each apt-get install has
--no-install-recommends and the same RUN removes /var/lib/apt/lists; no ADD, no curl|sh;
the runtime stage runs as the package's non-root user, declares its volumes, and (for
netkeepd) EXPOSEs the port and has a HEALTHCHECK on /healthz. Both files share the same
build stage, so one build serves both images.

A self-test first checks that a broken Dockerfile is reported.
"""
import json
import pathlib
import re
import sys

KNOWN = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
         "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
EXEC_FORM = {"CMD", "ENTRYPOINT", "VOLUME", "SHELL"}

EXPECT = {
    "Dockerfile.netkeepd": {
        "user": "netkeep", "debs": ["netkeepd", "netkeepctl"],
        "volumes": ["/var/lib/netkeep", "/etc/netkeep"], "expose": "8080", "healthz": True,
        "entrypoint": "/usr/bin/netkeepd",
    },
    "Dockerfile.worker": {
        "user": "netkeep-worker", "debs": ["netkeep-worker"],
        "volumes": ["/var/lib/netkeep-worker", "/etc/netkeep-worker"], "expose": None,
        "healthz": False, "entrypoint": "/usr/bin/netkeep-worker",
    },
}


def instructions(text):
    """[(line number, INSTRUCTION, arguments)], continuation lines joined."""
    out, pending, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        word, _, args = full.partition(" ")
        out.append((start, word.upper(), args.strip()))
    if pending:
        out.append((start, "", "unterminated continuation"))
    return out


def stages(instrs):
    """[{"name", "from", "body": [(n, instr, args)]}] in order."""
    result = []
    for n, instr, args in instrs:
        if instr == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append({"name": name, "from": words[0], "line": n, "body": []})
        elif result:
            result[-1]["body"].append((n, instr, args))
    return result


def check_syntax(instrs, errors):
    for n, instr, args in instrs:
        if instr not in KNOWN:
            errors.append(f"line {n}: unknown instruction {instr or '?'} ({args})")
        if instr in EXEC_FORM and args.startswith("["):
            try:
                value = json.loads(args)
                if not all(isinstance(v, str) for v in value):
                    raise ValueError
            except ValueError:
                errors.append(f"line {n}: {instr} is not a JSON array of strings")
        if instr in ("CMD", "ENTRYPOINT") and not args.startswith("["):
            errors.append(f"line {n}: {instr} in shell form (signals would go to sh, not the program)")
        if instr == "ADD":
            errors.append(f"line {n}: ADD (use COPY; no downloads at build time)")
        if instr == "RUN":
            check_run(n, args, errors)


def check_run(n, args, errors):
    if re.search(r"curl[^|]*\|\s*(ba)?sh|wget[^|]*\|\s*(ba)?sh", args):
        errors.append(f"line {n}: a downloaded script piped into a shell")
    if "apt-get install" in args:
        if "--no-install-recommends" not in args:
            errors.append(f"line {n}: apt-get install without --no-install-recommends")
        if "rm -rf /var/lib/apt/lists" not in args:
            errors.append(f"line {n}: apt-get install without removing /var/lib/apt/lists in the same RUN")
        if "-y" not in args.split():
            errors.append(f"line {n}: apt-get install without -y")


def body_args(stage, instr):
    return [(n, a) for n, i, a in stage["body"] if i == instr]


def check_stages(name, stage_list, errors):
    expect = EXPECT[name]
    if len(stage_list) < 2:
        errors.append("not multi-stage (one FROM)")
        return
    for s in stage_list:
        image, _, tag = s["from"].partition(":")
        if image != "debian" or not re.match(r"^(12|bookworm)([.-]|$)", tag):
            errors.append(f"line {s['line']}: FROM {s['from']}: not Debian 12 with an explicit tag")
    build, runtime = stage_list[0], stage_list[-1]
    if build["name"] != "build":
        errors.append("the first stage is not named build")
    if not any("tools/package" in a for _, a in body_args(build, "RUN")):
        errors.append("the build stage does not run tools/package")
    copies = [a for _, a in body_args(runtime, "COPY") if a.startswith("--from=")]
    taken = set()
    for args in copies:
        words = args.split()
        if words[0] != "--from=build":
            errors.append(f"COPY {args}: not from the build stage")
        taken |= {re.sub(r"_\*\.deb$", "", pathlib.PurePath(w).name) for w in words[1:-1]}
    if taken != set(expect["debs"]):
        errors.append(f"the runtime stage takes {sorted(taken)} from the build, expected {expect['debs']}")
    users = [a for _, a in body_args(runtime, "USER")]
    if not users or users[-1] != expect["user"]:
        errors.append(f"the runtime stage does not run as {expect['user']} (USER {users})")
    volumes = [v for _, a in body_args(runtime, "VOLUME") for v in json.loads(a)]
    if sorted(volumes) != sorted(expect["volumes"]):
        errors.append(f"VOLUME {volumes}, expected {expect['volumes']}")
    exposed = [a for _, a in body_args(runtime, "EXPOSE")]
    if expect["expose"] and expect["expose"] not in " ".join(exposed):
        errors.append(f"no EXPOSE {expect['expose']}")
    health = body_args(runtime, "HEALTHCHECK")
    if expect["healthz"]:
        env = " ".join(a for _, a in body_args(runtime, "ENV"))
        if not health or "/healthz" not in health[-1][1] + env:
            errors.append("no HEALTHCHECK on /healthz")
    entry = body_args(runtime, "ENTRYPOINT")
    if not entry or json.loads(entry[-1][1])[0] != expect["entrypoint"]:
        errors.append(f"ENTRYPOINT does not start {expect['entrypoint']}")


def check(name, text):
    errors = []
    instrs = instructions(text)
    check_syntax(instrs, errors)
    if not errors:
        check_stages(name, stages(instrs), errors)
    return errors


def build_stage(text):
    """The build stage's instructions, without line numbers."""
    return [(i, a) for _, i, a in stages(instructions(text))[0]["body"]]


def self_test(good):
    """The reports a broken copy of GOOD must get: [(what was broken, expected text)]."""
    variants = [
        (good.replace("--no-install-recommends", ""), "--no-install-recommends"),
        (good.replace("USER netkeep", "USER root"), "does not run as netkeep"),
        (good.replace('"/usr/bin/netkeepd",', '"/usr/bin/netkeepd"'), "JSON array"),
        (good.replace("FROM debian:12-slim\n", "FROM debian\n"), "not Debian 12"),
        (good.replace("/healthz", "/"), "HEALTHCHECK"),
    ]
    return [want for text, want in variants
            if not any(want in e for e in check("Dockerfile.netkeepd", text))]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    source = pathlib.Path(sys.argv[1])
    texts = {name: (source / name).read_text() for name in EXPECT}
    failed = 0
    missing = self_test(texts["Dockerfile.netkeepd"])
    if missing:
        print(f"FAIL self-test: a broken Dockerfile was not reported for {missing}")
        failed += 1
    for name, text in texts.items():
        errors = check(name, text)
        for e in errors:
            print(f"FAIL {name}: {e}")
        if not errors:
            print(f"ok: {name}")
        failed += len(errors)
    if build_stage(texts["Dockerfile.netkeepd"]) != build_stage(texts["Dockerfile.worker"]):
        print("FAIL the two build stages differ (one build should serve both images)")
        failed += 1
    if not (source / ".dockerignore").exists() or ".git" not in (source / ".dockerignore").read_text().split():
        print("FAIL .dockerignore missing or does not leave out .git")
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
