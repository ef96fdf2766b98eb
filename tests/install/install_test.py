#!/usr/bin/env python3
"""`meson install` into a temporary DESTDIR installs exactly the files it should.

Usage: install_test.py MESON BUILD_DIR SOURCE_DIR PREFIX BINDIR MANDIR DATADIR UNIT_DIR

Expected: the three programs (executable) in BINDIR, the three man pages in MANDIR, the
two systemd units in UNIT_DIR, README.md and every docs/*.md in DATADIR/doc/netkeep.
Anything else (tools/fake-device, benchmarks, test programs, llhttp) fails the test, as
does a missing file.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile


def expected_files(source, prefix, bindir, mandir, datadir, unit_dir):
    def under(d):  # meson: a relative directory is under the prefix, an absolute one not
        return pathlib.PurePosixPath(prefix) / d

    binaries = {str(under(bindir) / b) for b in ("netkeepd", "netkeep-worker", "netkeepctl")}
    files = set(binaries)
    files |= {str(under(mandir) / "man8" / p) for p in ("netkeepd.8", "netkeep-worker.8")}
    files.add(str(under(mandir) / "man1" / "netkeepctl.1"))
    files |= {str(under(unit_dir) / u) for u in ("netkeepd.service", "netkeep-worker.service")}
    doc = under(datadir) / "doc" / "netkeep"
    files.add(str(doc / "README.md"))
    files |= {str(doc / p.name) for p in (pathlib.Path(source) / "docs").glob("*.md")}
    return files, binaries


def installed_files(destdir):
    root = pathlib.Path(destdir)
    return {"/" + str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


def check(destdir, expected, binaries):
    got = installed_files(destdir)
    errors = [f"not installed: {f}" for f in sorted(expected - got)]
    errors += [f"installed but not expected: {f}" for f in sorted(got - expected)]
    for b in sorted(binaries & got):
        if not os.access(destdir + b, os.X_OK):
            errors.append(f"not executable: {b}")
    for f in sorted((got & expected) - binaries):
        mode = os.stat(destdir + f).st_mode & 0o777
        if mode & 0o111 or not mode & 0o004:
            errors.append(f"{f}: mode {mode:o}, expected a world-readable data file")
    return errors, got


def main():
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    meson, build, source, prefix, bindir, mandir, datadir, unit_dir = sys.argv[1:]
    expected, binaries = expected_files(source, prefix, bindir, mandir, datadir, unit_dir)
    tmp = tempfile.mkdtemp(prefix="netkeep-install-")
    try:
        destdir = os.path.join(tmp, "root")
        run = subprocess.run(
            [meson, "install", "-C", build, "--destdir", destdir, "--no-rebuild", "--quiet"],
            capture_output=True, text=True, timeout=300)
        if run.returncode != 0:
            print(run.stdout, run.stderr, sep="\n")
            sys.exit(f"meson install exited {run.returncode}")
        errors, got = check(destdir, expected, binaries)
    finally:
        shutil.rmtree(tmp)
    for e in errors:
        print(e)
    print(f"{len(got)} files installed, {len(expected)} expected, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
