#!/usr/bin/env bash
# Install what pail's tests (and scripts/demo) need, on Debian 12, as root. Idempotent: when
# everything is present it only checks and takes about a second.
#
#   Debian packages  ceph-mon ceph-osd radosgw ceph-common (Ceph RGW 16), rclone, curl, python3-venv,
#                    bsdutils (`script`: the progress test's terminal), tzdata (a time-zone test),
#                    ruby (`ruby -c` of the Homebrew formula), man-db (the package's manual pages),
#                    age (pail-crypt's interop tests decrypt pail's objects with the stock tool), ...
#                    (`apt-get update` runs only when something is missing)
#   Python venv      ~/.cache/pail-test-servers/venv with moto[server] and awscli (pinned below)
#   Garage           ~/.cache/pail-test-servers/garage-2.5.0/bin/garage, built with `cargo install`
#                    (about 7.5 min on 2 cores the first time; cached afterwards)
#   Check tools      cargo-machete, cargo-deny, typos under ~/.cache/pail-tools: scripts/install-tools.sh
#
# PAIL_TEST_SERVERS_CACHE overrides ~/.cache/pail-test-servers. PAIL_SKIP_GARAGE=1 skips Garage.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

MOTO_VERSION=5.2.5
AWSCLI_VERSION=1.46.3
APT_PACKAGES=(ceph-mon ceph-osd radosgw ceph-common rclone curl ca-certificates python3 python3-venv
  util-linux bsdutils tzdata iproute2 procps coreutils build-essential pkg-config ruby man-db age)

say() { log install "$*"; }
did=()

# one install at a time (a second one waits instead of building garage twice)
mkdir -p "$PAIL_TS_CACHE"
exec 9>"$PAIL_TS_CACHE/.install.lock"
if ! flock -n 9; then
  say "another install.sh is running; waiting for it"
  flock 9
fi

# ---- Debian packages ---------------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { say "ERROR: missing Debian packages (${missing[*]}) and not root"; exit 1; }
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=120 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  did+=("apt: ${missing[*]}")
else
  say "Debian packages: all present"
fi

# ---- Python venv: moto server + aws CLI --------------------------------------------------------
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
venv_ok() {
  [ -x "$PAIL_TS_VENV/bin/python" ] &&
    "$PAIL_TS_VENV/bin/python" - "$MOTO_VERSION" "$AWSCLI_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
ok = version("moto") == sys.argv[1] and version("awscli") == sys.argv[2]
import flask, moto.server  # noqa: F401  (the [server] extra)
sys.exit(0 if ok else 1)
EOF
}
if venv_ok; then
  say "venv: moto $MOTO_VERSION and awscli $AWSCLI_VERSION present ($PAIL_TS_VENV)"
else
  say "creating venv $PAIL_TS_VENV with moto[server]==$MOTO_VERSION awscli==$AWSCLI_VERSION"
  rm -rf "$PAIL_TS_VENV"
  mkdir -p "$PAIL_TS_CACHE"
  "$PY" -m venv "$PAIL_TS_VENV"
  "$PAIL_TS_VENV/bin/pip" install -q --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "awscli==$AWSCLI_VERSION"
  venv_ok || { say "ERROR: the venv does not import moto/awscli after installing"; exit 1; }
  did+=("venv: moto $MOTO_VERSION, awscli $AWSCLI_VERSION")
fi

# ---- Garage ------------------------------------------------------------------------------------
if [ "${PAIL_SKIP_GARAGE:-0}" = 1 ]; then
  say "garage: skipped (PAIL_SKIP_GARAGE=1)"
elif [ -x "$PAIL_TS_GARAGE_BIN" ] && "$PAIL_TS_GARAGE_BIN" --version >/dev/null 2>&1; then
  say "garage: present ($PAIL_TS_GARAGE_BIN)"
else
  command -v cargo >/dev/null || { say "ERROR: cargo not found (needed to build garage)"; exit 1; }
  glog=$PAIL_TS_CACHE/garage-build.log
  mkdir -p "$PAIL_TS_CACHE"
  say "building garage $PAIL_TS_GARAGE_VERSION with cargo install (takes ~8 min on 2 cores; log: $glog)"
  t=$(date +%s)
  if ! cargo install garage --version "$PAIL_TS_GARAGE_VERSION" --locked --no-default-features \
    --features bundled-libs,sqlite --root "$PAIL_TS_GARAGE_ROOT" >"$glog" 2>&1; then
    say "the build with --no-default-features --features bundled-libs,sqlite failed; retrying with default features"
    tail -n 5 "$glog" >&2
    cargo install garage --version "$PAIL_TS_GARAGE_VERSION" --locked \
      --root "$PAIL_TS_GARAGE_ROOT" >>"$glog" 2>&1 || { tail -n 30 "$glog" >&2; say "ERROR: cargo install garage failed"; exit 1; }
  fi
  say "garage built in $(( $(date +%s) - t )) s"
  did+=("garage $PAIL_TS_GARAGE_VERSION")
fi

# ---- cargo-machete, cargo-deny, typos (for scripts/test) ---------------------------------------
bash "$HERE/../../scripts/install-tools.sh"

if [ ${#did[@]} = 0 ]; then
  say "done: nothing to do"
else
  say "done: installed ${did[*]}"
fi
