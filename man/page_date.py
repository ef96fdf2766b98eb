#!/usr/bin/env python3
"""Prints the date (YYYY-MM-DD) the man pages carry in their .TH line.

Usage: page_date.py SOURCE_DIR

A reproducible date, not the time of the build: SOURCE_DATE_EPOCH when set (Debian's
dpkg-buildpackage sets it from debian/changelog), else the date of the last commit that
touched man/ in a git checkout, else today's date (a tarball without git, no
SOURCE_DATE_EPOCH).
"""
import datetime
import os
import subprocess
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
        print(when.strftime("%Y-%m-%d"))
        return
    try:
        run = subprocess.run(["git", "-C", sys.argv[1], "log", "-1", "--format=%cs", "--", "man"],
                             capture_output=True, text=True, timeout=30)
        if run.returncode == 0 and len(run.stdout.strip()) == 10:
            print(run.stdout.strip())
            return
    except (OSError, subprocess.TimeoutExpired):
        pass
    print(datetime.date.today().isoformat())


if __name__ == "__main__":
    main()
