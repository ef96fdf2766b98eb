#!/usr/bin/env python3
"""Fails when a flag of a program's --help is missing from its man page's OPTIONS.

Usage: check_man_flags.py PROGRAM PAGE

The pages are written by hand (man/); this keeps them honest as flags are added: every
--flag (and -h) that `PROGRAM --help` prints must start an entry of the page's OPTIONS
section, and every entry there must name a flag --help knows (a removed flag fails too).
"""
import re
import subprocess
import sys

FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-h)\b")
# An option line of --help: the flag first (`  --data-dir DIR   ...`, `  -h, --help ...`);
# a flag named inside a description (`netkeepd's default --max-upload`) is not an option.
HELP_OPTION = re.compile(r"^\s+((?:-h, )?--[a-z][a-z0-9-]*)")


def help_flags(program):
    out = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        sys.exit(f"{program} --help exited {out.returncode}: {out.stderr}")
    flags = set()
    for line in out.stdout.splitlines():
        m = HELP_OPTION.match(line)
        if m:
            flags.update(FLAG.findall(m.group(1)))
    return flags


def page_option_flags(page):
    """The flags that begin a .TP entry inside the OPTIONS section (roff escapes removed)."""
    with open(page, encoding="utf-8") as f:
        lines = f.read().splitlines()
    flags, in_options, after_tp = set(), False, False
    for line in lines:
        if line.startswith(".SH "):
            in_options = line[4:].strip().strip('"') == "OPTIONS"
            continue
        if not in_options:
            continue
        if line.startswith(".TP"):
            after_tp = True
            continue
        if after_tp:
            # The tag line: `.BI \-\-data\-dir " DIR"`, `.BR \-h ", " \-\-help`.
            text = re.sub(r"\\f[BIRP]", "", line).replace("\\-", "-")
            flags.update(FLAG.findall(text))
            after_tp = False
    return flags


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    program, page = sys.argv[1], sys.argv[2]
    in_help, in_page = help_flags(program), page_option_flags(page)
    if not in_help:
        sys.exit(f"{program} --help printed no flags")
    ok = True
    for flag in sorted(in_help - in_page):
        print(f"{page}: {flag} is in `{program} --help` but has no entry in OPTIONS")
        ok = False
    for flag in sorted(in_page - in_help):
        print(f"{page}: OPTIONS documents {flag}, which `{program} --help` does not know")
        ok = False
    print(f"{page}: {len(in_help)} flags of --help, {len(in_page)} in OPTIONS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
