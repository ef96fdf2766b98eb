#!/usr/bin/env python3
"""The Debian packages, built from the tree, installed, used and purged like an operator.

Usage: package_test.py SOURCE_DIR BUILD_DIR VERSION FAKE_DEVICE

1. tools/package builds netkeepd, netkeep-worker and netkeepctl .debs with
   NETKEEP_PREBUILT_DIR=BUILD_DIR: debian/rules takes the three programs from this build
   instead of compiling them a second time (the full build is `tools/package` alone,
   about 10 minutes on 2 cores; docs/contributing.md). Everything else is the real
   package build: meson setup with prefix /usr, the generated units and man pages, the
   dh sequence, maintainer scripts, conffiles.
2. A clean root: a copy-on-write overlay of this machine's / (upper layer on a tmpfs), in
   a private mount and network namespace. `dpkg -i` there changes nothing on the machine,
   and the private loopback lets the packages' default ports (127.0.0.1:8080) be used
   while other tests run.
3. Checks what the packages set up: users, directory owners and modes, conffiles, units
   enabled with ExecStart=/usr/bin/..., nothing started, man page version.
4. Configures an inventory with one fake device (tools/fake-device), a secret in
   /etc/netkeep/netkeepd.env and the worker token, then starts netkeepd and the worker as
   their units would (no systemd here): ExecStart with the units' EnvironmentFile= values,
   User=/Group=, UMask=, StateDirectory= and LoadCredential= (%d). Waits for the backup
   in /var/lib/netkeep/repo.git.
5. Installs the same packages again over the configured ones (the upgrade path of the
   maintainer scripts): edited conffiles, modes and data stay.
6. Stops both, purges the packages, and lists what the overlay's upper layer still
   holds: only the users (Debian policy keeps them), dpkg's own records and caches.

NETKEEP_PACKAGE_DEBS=DIR: check the .debs in DIR (e.g. a full `tools/package --out DIR`
build) instead of building them.

Exit 77 (skipped) when not root or when overlay mounts are impossible here.
"""
import ctypes
import gzip
import os
import pathlib
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
PACKAGES = ["netkeepd", "netkeep-worker", "netkeepctl"]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
failures = []


def fail(message):
    print("FAIL", message)
    failures.append(message)


def run(argv, timeout=300, check=True, **kwargs):
    # stdin /dev/null: a dpkg conffile prompt fails instead of waiting.
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, **kwargs)
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def skip(reason):
    print(f"skipped: {reason}")
    sys.exit(77)


def build_packages(source, build, out):
    given = os.environ.get("NETKEEP_PACKAGE_DEBS")
    if given:  # packages of a full `tools/package` build, to check them the same way
        debs = sorted(str(p) for p in pathlib.Path(given).glob("*.deb") if "-dbgsym_" not in p.name)
        print(f"ok: using the packages in {given}")
        return debs
    env = dict(os.environ, NETKEEP_PREBUILT_DIR=build, DEB_BUILD_OPTIONS="nocheck noautodbgsym")
    started = time.monotonic()
    result = run([os.path.join(source, "tools", "package"), "--no-deps", "--out", out],
                 timeout=600, check=False, env=env)
    if result.returncode != 0:
        sys.exit(f"tools/package failed:\n{result.stdout}{result.stderr}")
    debs = sorted(str(p) for p in pathlib.Path(out).glob("*.deb"))
    names = sorted(os.path.basename(d).split("_")[0] for d in debs)
    if names != sorted(PACKAGES):
        sys.exit(f"tools/package built {names}, expected {sorted(PACKAGES)}")
    print(f"ok: built {len(debs)} packages in {time.monotonic() - started:.0f} s")
    return debs


def enter_namespaces():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        skip(f"unshare: {os.strerror(ctypes.get_errno())}")
    run(["mount", "--make-rprivate", "/"])
    run(["ip", "link", "set", "lo", "up"])


def make_root(tmp):
    """An overlay of / with its upper layer on a tmpfs; returns (root, upper)."""
    layers, root = os.path.join(tmp, "layers"), os.path.join(tmp, "root")
    os.makedirs(layers)
    os.makedirs(root)
    run(["mount", "-t", "tmpfs", "-o", "size=2g,mode=0755", "tmpfs", layers])
    upper, work = os.path.join(layers, "upper"), os.path.join(layers, "work")
    os.makedirs(upper)
    os.makedirs(work)
    mounted = run(["mount", "-t", "overlay", "overlay", "-o",
                   f"lowerdir=/,upperdir={upper},workdir={work}", root], check=False)
    if mounted.returncode != 0:
        skip(f"overlay mount: {mounted.stderr.strip()}")
    run(["mount", "-t", "proc", "proc", os.path.join(root, "proc")])
    run(["mount", "--rbind", "/dev", os.path.join(root, "dev")])
    for d in ("run", "tmp"):
        run(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", os.path.join(root, d)])
    return root, upper


def in_root(root, argv, **kwargs):
    return run(["chroot", root, "/usr/bin/env", "-i", f"PATH={PATH}",
                "DEBIAN_FRONTEND=noninteractive"] + argv, **kwargs)


def account(root, name):
    """(uid, gid, home) of NAME in the root's /etc/passwd, or None."""
    for line in pathlib.Path(root, "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3]), fields[5], fields[6]
    return None


def group_id(root, name):
    for line in pathlib.Path(root, "etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    return None


def expect_dir(root, path, owner, group, mode):
    st = os.stat(root + path)
    want = (account(root, owner)[0] if owner != "root" else 0, group_id(root, group), mode)
    got = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    if got != want:
        fail(f"{path}: uid/gid/mode {got[0]}/{got[1]}/{got[2]:o}, expected "
             f"{owner}/{group}/{mode:o} ({want[0]}/{want[1]})")


def check_installed(root, version):
    for user, home in (("netkeep", "/var/lib/netkeep"), ("netkeep-worker", "/var/lib/netkeep-worker")):
        entry = account(root, user)
        if entry is None:
            fail(f"no user {user}")
        elif entry[2] != home or entry[3] != "/usr/sbin/nologin" or entry[0] >= 1000:
            fail(f"user {user}: {entry}, expected a system user with home {home}, no login")
    expect_dir(root, "/var/lib/netkeep", "netkeep", "netkeep", 0o700)
    expect_dir(root, "/etc/netkeep", "root", "netkeep", 0o750)
    expect_dir(root, "/etc/netkeep/private", "netkeep", "netkeep", 0o700)
    expect_dir(root, "/var/lib/netkeep-worker", "netkeep-worker", "netkeep-worker", 0o700)
    expect_dir(root, "/etc/netkeep-worker", "root", "netkeep-worker", 0o750)
    conffiles = {
        "netkeepd": {"/etc/default/netkeepd", "/etc/netkeep/inventory/devices.json",
                     "/etc/netkeep/inventory/jobs.json"},
        "netkeep-worker": {"/etc/default/netkeep-worker"},
    }
    for package, want in conffiles.items():
        out = in_root(root, ["dpkg-query", "-W", "-f=${Conffiles}", package]).stdout
        got = {line.split()[0] for line in out.splitlines() if line.strip()}
        if got != want:
            fail(f"{package} conffiles {sorted(got)}, expected {sorted(want)}")
    for unit, program in (("netkeepd.service", "netkeepd"), ("netkeep-worker.service", "netkeep-worker")):
        text = pathlib.Path(root, "lib/systemd/system", unit).read_text()
        if f"\nExecStart=/usr/bin/{program} " not in text:
            fail(f"{unit}: ExecStart does not start /usr/bin/{program}")
        link = pathlib.Path(root, "etc/systemd/system/multi-user.target.wants", unit)
        if not link.is_symlink() or os.readlink(link) != f"/lib/systemd/system/{unit}":
            fail(f"{unit} not enabled (no {link.relative_to(root)})")
    if running_from(root):
        fail(f"started by the installation: {running_from(root)}")
    for page in ("man8/netkeepd.8.gz", "man8/netkeep-worker.8.gz", "man1/netkeepctl.1.gz"):
        with gzip.open(os.path.join(root, "usr/share/man", page), "rt") as f:
            if f'"netkeep {version}"' not in f.read():
                fail(f"{page}: .TH does not name netkeep {version}")


def running_from(root):
    """Processes whose program is one of the packages' (i.e. started inside ROOT)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if exe.startswith(root + "/usr/bin/netkeep"):
            found.append(f"{pid} {exe}")
    return found


def start_fake_device(fake_device, tmp):
    out = open(os.path.join(tmp, "fake-device.out"), "w+")
    proc = subprocess.Popen([fake_device, "--listen", "127.0.0.1:0",
                             "--host-key", os.path.join(tmp, "fake-device.key")],
                            stdout=out, stderr=open(os.path.join(tmp, "fake-device.log"), "w"))
    line = wait_for_line(out.name, "ssh listening on ", 20)
    return proc, int(line.rsplit(":", 1)[1])


def wait_for_line(path, text, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in pathlib.Path(path).read_text().splitlines():
            if text in line:
                return line
        time.sleep(0.1)
    sys.exit(f"'{text}' not in {path} after {seconds} s")


def write_file(path, text, mode, uid=0, gid=0):
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


def configure(root, ssh_port):
    """What an operator does after installing (docs/operations.md "Packages")."""
    gid = group_id(root, "netkeep")
    inventory = os.path.join(root, "etc/netkeep/inventory")
    # The password comes from /etc/netkeep/netkeepd.env: the second EnvironmentFile.
    write_file(os.path.join(inventory, "devices.json"), (
        '{"devices": [{"name": "core-sw-1", "host": "127.0.0.1",'
        f' "protocol": {{"type": "ssh", "ssh": {{"port": {ssh_port}}}}},'
        ' "credentials": {"user": "core-sw-1", "pass": {"env": "NETKEEP_FAKE_PASS"},'
        ' "prompt": {"ends_with": "#"}}}]}\n'), 0o640, 0, gid)
    write_file(os.path.join(inventory, "jobs.json"), (
        '{"jobs": [{"name": "show_run", "schedule": {"interval": 3600},'
        ' "command": {"inline": ["terminal length 0", "show running-config"]},'
        ' "prompt": {"ends_with": "#"}, "timeout": 60}]}\n'), 0o640, 0, gid)
    write_file(os.path.join(root, "etc/netkeep/netkeepd.env"), "NETKEEP_FAKE_PASS=netkeep\n", 0o600)
    # netkeepd runs without --auth (the default: loopback only), so any token will do.
    write_file(os.path.join(root, "etc/netkeep-worker/token"), "package-test-token\n", 0o600)


def parse_unit(path):
    """[Service] of a unit file: key -> list of values (continuation lines joined)."""
    service, section, pending = {}, None, ""
    for raw in pathlib.Path(path).read_text().splitlines():
        line = (pending + " " + raw.strip()) if pending else raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, value = line.split("=", 1)
            service.setdefault(key, []).append(value)
    return service


def read_environment_files(root, specs):
    env = {}
    for spec in specs:
        optional = spec.startswith("-")
        path = root + spec.lstrip("-")
        if not os.path.exists(path):
            if not optional:
                sys.exit(f"EnvironmentFile {spec} missing")
            continue
        for line in pathlib.Path(path).read_text().splitlines():
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            key, value = line.split("=", 1)
            words = shlex.split(value)  # systemd's quoting: "a b" is one value
            env[key.strip()] = " ".join(words)
    return env


def expand(words, env, specifiers):
    """ExecStart's words as systemd expands them: %x, $NAME split, ${NAME} whole."""
    argv = []
    for word in words:
        for spec, value in specifiers.items():
            word = word.replace(spec, value)
        if word.startswith("$") and not word.startswith("${") and word[1:] in env:
            argv += env[word[1:]].split()
        elif word.startswith("$") and word[1:] not in env and not word.startswith("${"):
            continue  # unset: no word at all
        else:
            for key, value in env.items():
                word = word.replace("${" + key + "}", value)
            argv.append(word)
    return argv


def start_unit(root, unit, tmp):
    """Runs UNIT's ExecStart inside ROOT the way systemd would; returns (proc, stdout)."""
    service = parse_unit(os.path.join(root, "lib/systemd/system", unit))
    user = service["User"][-1]
    uid, gid, home, shell = account(root, user)
    gid = group_id(root, service.get("Group", [user])[-1])
    for name in service.get("StateDirectory", []):
        state = os.path.join(root, "var/lib", name)
        os.makedirs(state, exist_ok=True)
        os.chown(state, uid, gid)
        os.chmod(state, int(service.get("StateDirectoryMode", ["0755"])[-1], 8))
    env = {"PATH": PATH, "HOME": home, "USER": user, "LOGNAME": user, "SHELL": shell}
    env.update(read_environment_files(root, service.get("EnvironmentFile", [])))
    creds = f"/run/credentials/{unit}"
    for spec in service.get("LoadCredential", []):
        name, source = spec.split(":", 1)
        os.makedirs(root + creds, mode=0o500, exist_ok=True)
        os.chown(root + creds, uid, gid)
        shutil.copyfile(root + source, f"{root}{creds}/{name}")
        os.chown(f"{root}{creds}/{name}", uid, gid)
        os.chmod(f"{root}{creds}/{name}", 0o400)
        env["CREDENTIALS_DIRECTORY"] = creds
    argv = expand(shlex.split(service["ExecStart"][-1]), env,
                  {"%d": creds, "%H": socket.gethostname(), "%%": "%"})
    umask = int(service.get("UMask", ["0022"])[-1], 8)
    out_path = os.path.join(tmp, unit + ".out")
    print(f"start {unit}: {' '.join(argv)} (uid {uid}, gid {gid}, umask {umask:04o})")
    proc = subprocess.Popen(
        ["chroot", f"--userspec={uid}:{gid}", f"--groups={gid}", root, "/usr/bin/env", "-i"]
        + [f"{k}={v}" for k, v in sorted(env.items())] + argv,
        stdout=open(out_path, "w"), stderr=open(os.path.join(tmp, unit + ".log"), "w"),
        preexec_fn=lambda: os.umask(umask))
    return proc, out_path


def wait_for_backup(root, fake_device, procs, seconds=120):
    repo = os.path.join(root, "var/lib/netkeep/repo.git")
    expected = run([fake_device, "--print-config", "core-sw-1"]).stdout
    hostname = next(l for l in expected.splitlines() if l.startswith("hostname "))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                sys.exit(f"{name} exited {proc.returncode} before the backup")
        shown = run(["git", "-c", "safe.directory=*", "--git-dir", repo, "show",
                     "main:core-sw-1/show_run"], check=False)
        if shown.returncode == 0:
            if hostname not in shown.stdout:
                fail(f"the backup in git lacks '{hostname}'")
            return
        time.sleep(0.5)
    sys.exit(f"no backup of core-sw-1 in {repo} after {seconds} s")


def check_state_owned(root):
    """Everything netkeepd and the worker wrote belongs to their users, private (UMask)."""
    for state, user in (("var/lib/netkeep", "netkeep"), ("var/lib/netkeep-worker", "netkeep-worker")):
        uid = account(root, user)[0]
        for path in pathlib.Path(root, state).rglob("*"):
            st = path.lstat()
            if st.st_uid != uid:
                fail(f"/{path.relative_to(root)} owned by uid {st.st_uid}, not {user}")
                return
            if path.is_file() and stat.S_IMODE(st.st_mode) & 0o077:
                fail(f"/{path.relative_to(root)} mode {stat.S_IMODE(st.st_mode):o}: group/others")
                return
    if not pathlib.Path(root, "var/lib/netkeep-worker/known_hosts").exists():
        fail("the worker did not pin the device's host key in /var/lib/netkeep-worker/known_hosts")


def reinstall(root, debs):
    """The upgrade path (postinst configure with the old version): installing the same
    packages again over the configured ones keeps the edited conffiles without a prompt,
    the users, the directory modes, and the data."""
    inventory = pathlib.Path(root, "etc/netkeep/inventory/devices.json")
    before = inventory.read_text()
    in_root(root, ["dpkg", "-i"] + [f"/tmp/{os.path.basename(d)}" for d in debs])
    if inventory.read_text() != before:
        fail("reinstalling replaced the edited /etc/netkeep/inventory/devices.json")
    expect_dir(root, "/var/lib/netkeep", "netkeep", "netkeep", 0o700)
    expect_dir(root, "/etc/netkeep/private", "netkeep", "netkeep", 0o700)
    if not pathlib.Path(root, "var/lib/netkeep/repo.git").is_dir():
        fail("reinstalling lost /var/lib/netkeep/repo.git")
    print("ok: installed again over the configured packages: conffiles, modes and data kept")


def stop(procs):
    for name, proc in procs.items():
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            fail(f"{name} did not stop within 60 s of SIGTERM")
            continue
        if code != 0:
            fail(f"{name} exited {code} on SIGTERM")


# What may stay in the upper layer after the purge: the users (Debian policy) and the
# shadow lock file adduser leaves (as any useradd does), dpkg's and man-db's records.
# Directories that exist on the machine are copied up, not new.
KEPT_PREFIXES = ("etc/.pwd.lock", "etc/passwd", "etc/group", "etc/shadow", "etc/gshadow",
                 "var/lib/dpkg/", "var/log/dpkg.log", "var/cache/man/", "var/cache/debconf/",
                 "var/lib/systemd/deb-systemd-helper-enabled/")


def leftovers(upper):
    left = []
    for path in sorted(pathlib.Path(upper).rglob("*")):
        rel = str(path.relative_to(upper))
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode):
            if not os.path.isdir("/" + rel):
                left.append(rel + "/")
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            left.append(rel + " (deleted from the machine's root)")
            continue
        if rel.startswith(KEPT_PREFIXES) and "netkeep" not in rel:
            continue
        left.append(rel)
    return left


def purge(root, upper):
    result = in_root(root, ["dpkg", "--purge"] + PACKAGES, check=False)
    if result.returncode != 0 or "warning" in result.stdout + result.stderr:
        fail(f"dpkg --purge exited {result.returncode}:\n{result.stdout}{result.stderr}")
    for user in ("netkeep", "netkeep-worker"):
        if account(root, user) is None:
            fail(f"purge removed the user {user} (policy: keep it)")
    overrides = pathlib.Path(root, "var/lib/dpkg/statoverride").read_text()
    if "netkeep" in overrides:
        fail(f"dpkg-statoverride entries left:\n{overrides}")
    enabled = pathlib.Path(root, "var/lib/systemd/deb-systemd-helper-enabled")
    if enabled.exists():
        for path in enabled.rglob("*netkeep*"):
            fail(f"deb-systemd-helper state left: /{path.relative_to(root)}")
    left = leftovers(upper)
    for entry in left:
        fail(f"left after purge: /{entry}")
    if not left:
        print("ok: after the purge only the users and dpkg's records remain")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    source, build, version, fake_device = sys.argv[1:]
    if os.geteuid() != 0:
        skip("needs root (dpkg -i, mounts)")
    changelog = run(["dpkg-parsechangelog", "-l", os.path.join(source, "debian/changelog"),
                     "-S", "Version"]).stdout.strip()
    if changelog.split("-")[0] != version:
        fail(f"debian/changelog is at {changelog}, meson.build at {version}")
    tmp = tempfile.mkdtemp(prefix="netkeep-package-")
    procs = {}
    try:
        debs = build_packages(source, build, os.path.join(tmp, "debs"))
        enter_namespaces()
        root, upper = make_root(tmp)
        for deb in debs:
            shutil.copy(deb, os.path.join(root, "tmp"))
        in_root(root, ["dpkg", "-i"] + [f"/tmp/{os.path.basename(d)}" for d in debs])
        check_installed(root, version)
        fake, ssh_port = start_fake_device(fake_device, tmp)
        procs["fake-device"] = fake
        configure(root, ssh_port)
        netkeepd, out = start_unit(root, "netkeepd.service", tmp)
        procs["netkeepd"] = netkeepd
        wait_for_line(out, "listening on 127.0.0.1:8080", 60)
        procs["netkeep-worker"], _ = start_unit(root, "netkeep-worker.service", tmp)
        wait_for_backup(root, fake_device, {k: v for k, v in procs.items() if k != "fake-device"})
        print("ok: the installed netkeepd and worker backed up core-sw-1 into /var/lib/netkeep/repo.git")
        check_state_owned(root)
        reinstall(root, debs)
        stop({"netkeep-worker": procs.pop("netkeep-worker"), "netkeepd": procs.pop("netkeepd")})
        purge(root, upper)
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
        if failures:
            for name in ("netkeepd.service", "netkeep-worker.service"):
                log = os.path.join(tmp, name + ".log")
                if os.path.exists(log):
                    print(f"--- {name} stderr (last 20 lines)")
                    print("\n".join(pathlib.Path(log).read_text().splitlines()[-20:]))
        # The mounts live in this process's namespace and go with it; the tmpfs under
        # tmp/layers must be unmounted before the directory can be removed.
        subprocess.run(["umount", "-R", os.path.join(tmp, "root")], capture_output=True)
        subprocess.run(["umount", os.path.join(tmp, "layers")], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
