# shellcheck shell=bash
# Shared helpers for tests/servers/*.sh and scripts/demo. Source it; do not run it.
#
# Process bookkeeping: every daemon is started by `spawn` into its own session (setsid) with its
# PID *and* its kernel start time (field 22 of /proc/PID/stat) written to RUN_DIR/NAME.pid, plus a
# marker string that must appear in /proc/PID/cmdline. `ours` checks all three before any signal is
# sent, so a recycled PID is never killed.

PAIL_TS_CACHE=${PAIL_TEST_SERVERS_CACHE:-$HOME/.cache/pail-test-servers}
PAIL_TS_VENV=$PAIL_TS_CACHE/venv
PAIL_TS_GARAGE_VERSION=2.5.0
PAIL_TS_GARAGE_ROOT=$PAIL_TS_CACHE/garage-$PAIL_TS_GARAGE_VERSION
# The bench may point these at a Garage built with LMDB (bench/README.md, "Garage with LMDB").
PAIL_TS_GARAGE_BIN=${PAIL_TS_GARAGE_BIN:-$PAIL_TS_GARAGE_ROOT/bin/garage}
PAIL_TS_GARAGE_DB=${PAIL_TS_GARAGE_DB:-sqlite}

_pail_ts_t0=${_pail_ts_t0:-$(date +%s%N)}
# log TAG MESSAGE...   (to stderr, with seconds since the script started)
log() {
  local tag=$1; shift
  local ms=$(( ($(date +%s%N) - _pail_ts_t0) / 1000000 ))
  printf '[%s %3d.%02ds] %s\n' "$tag" $((ms / 1000)) $((ms % 1000 / 10)) "$*" >&2
}

# The machine environment points AWS_CA_BUNDLE & co. at a CA file; the servers and the aws CLI
# talk plain http on 127.0.0.1 and must not pick those up (nor any user AWS profile/credentials).
clean_env() {
  unset AWS_CA_BUNDLE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR \
    HTTPLIB2_CA_CERTS NIX_SSL_CERT_FILE GRPC_DEFAULT_SSL_ROOTS_FILE_PATH \
    AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
    AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_REGION AWS_DEFAULT_REGION \
    AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE \
    http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
}

# starttime PID -> kernel start time (clock ticks since boot), empty if the process is gone.
starttime() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  s=${s##*) }                # drop "pid (comm) " -- comm may contain spaces and parens
  set -- $s                  # field 3 of /proc/PID/stat is now $1, so field 22 is ${20}
  echo "${20}"
}

# spawn RUN_DIR LOG_FILE NAME MARKER CMD...
# Runs CMD in its own session, in the background, stdin from /dev/null, output to LOG_FILE.
# In a non-interactive bash a background job is not a process-group leader, so setsid exec()s in
# place and $! is the daemon itself.
spawn() {
  local run=$1 logf=$2 name=$3 marker=$4; shift 4
  setsid "$@" </dev/null >>"$logf" 2>&1 &
  local pid=$!
  printf '%s %s %s\n' "$pid" "$(starttime "$pid")" "$marker" >"$run/$name.pid"
  # Until the forked shell has exec()ed, its cmdline is still this script's: wait for that
  # (a few ms) so that `ours` does not take a daemon that is still starting for a dead one.
  local i
  for ((i = 0; i < 100; i++)); do
    ours "$run/$name.pid" && return 0
    [ -e "/proc/$pid" ] || return 0
    sleep 0.05
  done
}

# ours PIDFILE -> 0 if the recorded process is alive and still the one we started.
ours() {
  local pid st marker cmd
  read -r pid st marker <"$1" 2>/dev/null || return 1
  [ -n "$pid" ] && [ -n "$st" ] || return 1
  [ "$(starttime "$pid")" = "$st" ] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [ -n "$cmd" ] || return 1  # zombie: exited, only waiting to be reaped
  [[ "$cmd" == *"$marker"* ]]
}

pidfile_pid() { local pid _r; read -r pid _r <"$1"; echo "$pid"; }

# stop_pidfile PIDFILE [GRACE_SECONDS]: TERM, wait, then KILL; removes the pid file.
stop_pidfile() {
  local f=$1 grace=${2:-15} pid name
  name=$(basename "$f" .pid)
  if [ -f "$f" ] && ours "$f"; then
    pid=$(pidfile_pid "$f")
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < grace * 10; i++)); do ours "$f" || break; sleep 0.1; done
    if ours "$f"; then
      echo "  $name (pid $pid) still running after ${grace}s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do ours "$f" || break; sleep 0.1; done
    fi
    echo "  stopped $name (pid $pid)" >&2
  fi
  rm -f "$f"
}

# any_alive DIR... -> 0 if any pid file below the DIRs names a live process of ours
any_alive() {
  local f
  while IFS= read -r f; do
    ours "$f" && return 0
  done < <(find "$@" -name '*.pid' -path '*/run/*' 2>/dev/null)
  return 1
}

# port_free PORT -> 0 if nothing listens on TCP PORT (any address)
port_free() {
  ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# port_owner PORT -> description of the listener, for error messages
port_owner() {
  ss -Hltnp "sport = :$1" 2>/dev/null | head -n 3
}

# http_answers URL -> 0 if an HTTP server answers (any status code)
http_answers() {
  local code
  code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) || true
  [ -n "$code" ] && [ "$code" != 000 ]
}

# tail_logs FILE...: the last lines of each existing file, for failure reports
tail_logs() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 15 "$f" >&2
  done
}

# pail_aws CONFIG_DIR ACCESS SECRET REGION ARGS...: the venv's aws CLI with a private config
pail_aws() {
  local cfg=$1 ak=$2 sk=$3 region=$4; shift 4
  (
    clean_env
    export AWS_CONFIG_FILE=$cfg/config AWS_SHARED_CREDENTIALS_FILE=$cfg/credentials \
      AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk AWS_DEFAULT_REGION=$region \
      AWS_PAGER='' AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=3
    exec "$PAIL_TS_VENV/bin/aws" "$@"
  )
}

# aws_config_init CONFIG_DIR: the private AWS CLI config (the equivalent of
# `aws configure set default.s3.addressing_style path` & co. in a file of our own, never ~/.aws)
aws_config_init() {
  local cfg=$1
  mkdir -p "$cfg"
  : >"$cfg/credentials"
  cat >"$cfg/config" <<'EOF2'
[default]
s3 =
    addressing_style = path
request_checksum_calculation = when_required
response_checksum_validation = when_required
cli_pager =
EOF2
}
