#!/usr/bin/env bash
# Install the check tools that scripts/test runs besides cargo, cached under ~/.cache/pail-tools,
# each version in its own folder and linked into ~/.cache/pail-tools/bin (scripts/test puts that
# on PATH). Idempotent: when everything is present it only checks versions (well under a second).
# Called by tests/servers/install.sh, so that scripts/test has one install phase.
#
#   cargo-machete  unused dependencies       cargo install (about 2.5 min on 2 cores the first time)
#   cargo-deny     licenses, bans, sources   cargo install (about 2 min on 2 cores the first time)
#   cargo-deb      the Debian package        cargo install (about MEASURE min on 2 cores the first time)
#   typos          spell check               PyPI wheel with the binary, in a venv (about 20 s)
#
# None of them is packaged in Debian 12. PAIL_TOOLS_CACHE overrides ~/.cache/pail-tools.
set -euo pipefail

MACHETE_VERSION=0.9.2
DENY_VERSION=0.20.2
DEB_VERSION=3.8.0
TYPOS_VERSION=1.52.0
TOOLS=${PAIL_TOOLS_CACHE:-$HOME/.cache/pail-tools}
BIN=$TOOLS/bin

t0=$(date +%s%N)
say() {
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '[tools %3d.%02ds] %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$*" >&2
}
did=()

# one install at a time (a second one waits instead of building the same tool twice)
mkdir -p "$BIN"
exec 8>"$TOOLS/.install.lock"
if ! flock -n 8; then
  say "another install-tools.sh is running; waiting for it"
  flock 8
fi

# runs_as EXE VERSION: EXE runs and prints VERSION as a word of its --version line
runs_as() {
  [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qw -- "$2"
}
has() { runs_as "$BIN/$1" "$2"; }

# cargo_tool CRATE VERSION: cargo install CRATE into its own root, linked into $BIN
cargo_tool() {
  local crate=$1 version=$2
  if has "$crate" "$version"; then
    say "$crate $version: present"
    return
  fi
  command -v cargo >/dev/null || { say "ERROR: cargo not found (needed to build $crate)"; exit 1; }
  local root=$TOOLS/$crate-$version log=$TOOLS/$crate-$version.log t
  if runs_as "$root/bin/$crate" "$version"; then  # built, but the link is missing
    ln -sfn "$root/bin/$crate" "$BIN/$crate"
    say "$crate $version: present (linked)"
    return
  fi
  say "building $crate $version with cargo install (log: $log)"
  t=$(date +%s)
  # without CARGO_TARGET_DIR cargo install builds in a temporary dir and removes it afterwards
  if ! env -u CARGO_TARGET_DIR cargo install "$crate" --version "$version" --locked \
    --root "$root" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    say "ERROR: cargo install $crate $version failed"
    exit 1
  fi
  ln -sfn "$root/bin/$crate" "$BIN/$crate"
  has "$crate" "$version" || { say "ERROR: $BIN/$crate does not report version $version"; exit 1; }
  say "$crate $version built in $(( $(date +%s) - t )) s"
  did+=("$crate $version")
}

cargo_tool cargo-machete "$MACHETE_VERSION"
cargo_tool cargo-deny "$DENY_VERSION"
cargo_tool cargo-deb "$DEB_VERSION"

if has typos "$TYPOS_VERSION"; then
  say "typos $TYPOS_VERSION: present"
else
  PY=/usr/bin/python3
  [ -x "$PY" ] || PY=$(command -v python3)
  venv=$TOOLS/typos-$TYPOS_VERSION
  say "installing typos $TYPOS_VERSION from PyPI into $venv"
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "typos==$TYPOS_VERSION"
  ln -sfn "$venv/bin/typos" "$BIN/typos"
  has typos "$TYPOS_VERSION" || { say "ERROR: $BIN/typos does not report version $TYPOS_VERSION"; exit 1; }
  did+=("typos $TYPOS_VERSION")
fi

if [ ${#did[@]} = 0 ]; then
  say "done: nothing to do"
else
  say "done: installed ${did[*]}"
fi
