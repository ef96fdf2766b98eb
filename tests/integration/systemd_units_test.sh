#!/usr/bin/env bash
# The units the build generates from dist/systemd/*.service.in: the hardening issue 10
# asks for is there, ExecStart names BINDIR, and `systemd-analyze verify` accepts both
# units without a word.
#
# What verify needs, found out on Debian 12 (systemd 252) in a container where systemd
# is not PID 1: nothing running, but every Exec*= program must exist and be executable,
# or it fails. It exits 0 on an unknown key or a value it cannot parse (it only warns),
# so the test also requires its output to be empty, and checks that a broken copy is
# reported. The units name BINDIR/... (<prefix>/<bindir>); a temporary copy names this
# build's binaries instead.
#
# usage: systemd_units_test.sh UNITS_DIR BINDIR NETKEEPD NETKEEP_WORKER
set -euo pipefail
units=$1 bindir=$2 netkeepd=$(realpath "$3") worker=$(realpath "$4")

if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found (Debian package systemd; tools/setup-deps installs it): skipped"
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

copy() {  # UNIT PROGRAM_NAME BUILD_BINARY
  local unit=$1 name=$2 binary=$3
  grep -q "^ExecStart=$bindir/$name " "$units/$unit" ||
    { echo "FAIL $unit: ExecStart does not start $bindir/$name"; fail=1; }
  sed "s#^ExecStart=$bindir/$name #ExecStart=$binary #" "$units/$unit" > "$tmp/$unit"
}
copy netkeepd.service netkeepd "$netkeepd"
copy netkeep-worker.service netkeep-worker "$worker"

required=(
  'UMask=0077' 'StateDirectoryMode=0700' 'LimitCORE=0' 'NoNewPrivileges=yes' 'ProtectSystem=strict'
  'PrivateTmp=yes' 'CapabilityBoundingSet=' 'SystemCallFilter=@system-service'
  'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'ProtectHome=yes' 'PrivateDevices=yes'
  'Restart=on-failure'
)
for unit in netkeepd.service netkeep-worker.service; do
  for line in "${required[@]}"; do
    grep -qxF -- "$line" "$units/$unit" || { echo "FAIL $unit: no line '$line'"; fail=1; }
  done
  grep -q '^User=' "$units/$unit" || { echo "FAIL $unit: no dedicated User="; fail=1; }
  grep -q '^ReadWritePaths=/var/lib/' "$units/$unit" || { echo "FAIL $unit: no ReadWritePaths= for its state"; fail=1; }
done
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$units/netkeepd.service" ||
  { echo "FAIL netkeepd.service: no ExecReload sending SIGHUP"; fail=1; }
# The worker's token reaches it as a credential, never on the command line.
grep -q '^LoadCredential=token:' "$units/netkeep-worker.service" &&
  grep -q -- '--token-file %d/token' "$units/netkeep-worker.service" ||
  { echo "FAIL netkeep-worker.service: token not passed with LoadCredential= and --token-file"; fail=1; }

verify() {  # UNIT...: prints what verify said; fails when it said anything or failed
  local out rc=0
  out=$(cd "$tmp" && systemd-analyze verify "$@" 2>&1) || rc=$?
  [ -z "$out" ] && [ "$rc" -eq 0 ] && return 0
  printf '%s\n' "$out"
  return 1
}
if verify ./netkeepd.service ./netkeep-worker.service; then
  echo "ok: systemd-analyze verify accepts both units"
else
  echo "FAIL: systemd-analyze verify"
  fail=1
fi

# The check can fail: a misspelt key, and a program that does not exist.
sed 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' "$tmp/netkeepd.service" > "$tmp/broken-key.service"
sed "s#^ExecStart=$netkeepd #ExecStart=/nonexistent/netkeepd #" "$tmp/netkeepd.service" > "$tmp/broken-exec.service"
for broken in broken-key.service broken-exec.service; do
  if verify "./$broken" >/dev/null; then
    echo "FAIL: verify did not report $broken"
    fail=1
  fi
done

exit $fail
