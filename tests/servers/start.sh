#!/usr/bin/env bash
# Start the local S3 servers pail's tests run against, all on 127.0.0.1, in parallel:
#
#   tests/servers/start.sh [all|ceph|moto|garage ...]      (default: all)
#
#   ceph    Ceph RGW 16 (memstore)   S3 127.0.0.1:17480, mon 13300, osd 16800-16899
#           buckets pail-test (versioning Enabled) and pail-test-unversioned
#   moto    moto server (AWS-exact conditional writes)   S3 127.0.0.1:17490
#           buckets pail-test (versioning Enabled) and pail-test-unversioned
#   garage  Garage 2.5 (no versioning, ignores conditional writes)
#           S3 127.0.0.1:17500, rpc 17501, admin 17503; bucket pail-test, region "garage"
#
# State, logs and pid files go to $PAIL_TEST_SERVERS_DIR (default /tmp/pail-test-servers); it is
# wiped at start. $DIR/env holds the export lines for the tests (PAIL_TEST_<CEPH|MOTO|GARAGE>_*,
# PAIL_TEST_SERVERS); `. "$DIR/env"` it. Stop everything with tests/servers/stop.sh.
# If servers of an earlier start are still running there, this refuses (stop them first).
# One set of servers per machine: the ports are fixed, parallel runs are not supported.
# Needs tests/servers/install.sh to have run. PAIL_TEST_SERVERS_TIMEOUT (default 120 s) bounds
# each wait.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
clean_env

DIR=${PAIL_TEST_SERVERS_DIR:-/tmp/pail-test-servers}
TIMEOUT=${PAIL_TEST_SERVERS_TIMEOUT:-120}
ADDR=127.0.0.1
MARK=.pail-test-servers

CEPH_RGW_PORT=17480 CEPH_MON_PORT=13300 CEPH_OSD_PORT_MIN=16800 CEPH_OSD_PORT_MAX=16899
CEPH_ACCESS_KEY=PAILTESTCEPHACCESS01
CEPH_SECRET_KEY=pailtestcephsecret0000000000000000000001
CEPH_OTHER_ACCESS_KEY=PAILTESTCEPHOTHER001  # a second account: "a bucket of someone else"
CEPH_OTHER_SECRET_KEY=pailtestcephother00000000000000000000001
MOTO_PORT=17490
MOTO_ACCESS_KEY=PAILTESTMOTOACCESS01
MOTO_SECRET_KEY=pailtestmotosecret0000000000000000000001
# Ports may be moved (a test can run a private Garage next to the shared one).
GARAGE_S3_PORT=${PAIL_TS_GARAGE_S3_PORT:-17500} GARAGE_RPC_PORT=${PAIL_TS_GARAGE_RPC_PORT:-17501}
GARAGE_ADMIN_PORT=${PAIL_TS_GARAGE_ADMIN_PORT:-17503}
BUCKET=pail-test
UNVERSIONED_BUCKET=pail-test-unversioned

# ---- arguments -------------------------------------------------------------------------------
SERVERS=()
for a in "${@:-all}"; do
  case "$a" in
    all) SERVERS+=(ceph moto garage) ;;
    ceph|moto|garage) SERVERS+=("$a") ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "usage: $0 [all|ceph|moto|garage ...]" >&2; exit 2 ;;
  esac
done
# de-duplicate, keep the order ceph moto garage
want() { local s; for s in "${SERVERS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
ORDERED=(); for s in ceph moto garage; do want "$s" && ORDERED+=("$s"); done
SERVERS=("${ORDERED[@]}")

fail() { log start "ERROR: $*"; exit 1; }

# ---- refuse to clobber a live set, or a directory that is not ours -------------------------------
case "$DIR" in /|"$HOME"|"$HOME/"|/tmp|/tmp/) fail "refusing to use $DIR as the state dir";; esac
if [ -d "$DIR" ]; then
  if any_alive "$DIR"; then
    fail "test servers from an earlier start are still running in $DIR; run tests/servers/stop.sh first"
  fi
  if [ -n "$(ls -A "$DIR")" ] && [ ! -e "$DIR/$MARK" ]; then
    fail "$DIR exists and was not made by this script; remove it or set PAIL_TEST_SERVERS_DIR"
  fi
fi

# ---- prerequisites and ports -------------------------------------------------------------------
need_install=()
[ -x "$PAIL_TS_VENV/bin/aws" ] || need_install+=("aws CLI ($PAIL_TS_VENV)")
want moto && { [ -x "$PAIL_TS_VENV/bin/moto_server" ] || need_install+=("moto_server ($PAIL_TS_VENV)"); }
want garage && { [ -x "$PAIL_TS_GARAGE_BIN" ] || need_install+=("garage ($PAIL_TS_GARAGE_BIN)"); }
want ceph && { command -v radosgw >/dev/null || need_install+=("radosgw (apt)"); }
[ ${#need_install[@]} = 0 ] || fail "missing: ${need_install[*]}; run tests/servers/install.sh"

busy=()
ports=()
want ceph && ports+=("$CEPH_RGW_PORT" "$CEPH_MON_PORT")
want moto && ports+=("$MOTO_PORT")
want garage && ports+=("$GARAGE_S3_PORT" "$GARAGE_RPC_PORT" "$GARAGE_ADMIN_PORT")
for p in "${ports[@]}"; do
  port_free "$p" || busy+=("$p: $(port_owner "$p")")
done
if [ ${#busy[@]} -gt 0 ]; then
  printf '  port %s\n' "${busy[@]}" >&2
  fail "ports needed by the test servers are in use (another start.sh, or another program)"
fi

rm -rf "$DIR"
mkdir -p "$DIR"
touch "$DIR/$MARK"
aws_config_init "$DIR/aws"

# aws_s SERVER ARGS...: the venv aws CLI against one of our servers
aws_s() {
  local s=$1; shift
  case "$s" in
    ceph) pail_aws "$DIR/aws" "$CEPH_ACCESS_KEY" "$CEPH_SECRET_KEY" us-east-1 --endpoint-url "http://$ADDR:$CEPH_RGW_PORT" "$@" ;;
    moto) pail_aws "$DIR/aws" "$MOTO_ACCESS_KEY" "$MOTO_SECRET_KEY" us-east-1 --endpoint-url "http://$ADDR:$MOTO_PORT" "$@" ;;
    garage) pail_aws "$DIR/aws" "$GARAGE_ACCESS_KEY" "$GARAGE_SECRET_KEY" garage --endpoint-url "http://$ADDR:$GARAGE_S3_PORT" "$@" ;;
  esac
}

# until_ok TAG DESCRIPTION PIDFILE CMD...: retry CMD until it succeeds; fail if the daemon dies or on timeout
until_ok() {
  local tag=$1 what=$2 pidf=$3; shift 3
  local deadline=$(( $(date +%s) + TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    ours "$pidf" || { log "$tag" "ERROR: the daemon exited while waiting for $what"; return 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { log "$tag" "ERROR: timed out after ${TIMEOUT}s waiting for $what"; return 1; }
    sleep 0.1
  done
  log "$tag" "$what: ok"
}

env_lines() {  # env_lines NAME ENDPOINT ACCESS SECRET REGION BUCKET [UNVERSIONED_BUCKET]
  local n=$1
  {
    echo "# $2"
    echo "export PAIL_TEST_${n}_ENDPOINT=$2"
    echo "export PAIL_TEST_${n}_ACCESS_KEY=$3"
    echo "export PAIL_TEST_${n}_SECRET_KEY=$4"
    echo "export PAIL_TEST_${n}_REGION=$5"
    echo "export PAIL_TEST_${n}_BUCKET=$6"
    [ -z "${7:-}" ] || echo "export PAIL_TEST_${n}_UNVERSIONED_BUCKET=$7"
  }
}

make_buckets() {  # make_buckets SERVER: pail-test (versioned) and pail-test-unversioned
  local s=$1 st
  aws_s "$s" s3api create-bucket --bucket "$BUCKET" >/dev/null || return 1
  aws_s "$s" s3api put-bucket-versioning --bucket "$BUCKET" \
    --versioning-configuration Status=Enabled || return 1
  aws_s "$s" s3api create-bucket --bucket "$UNVERSIONED_BUCKET" >/dev/null || return 1
  st=$(aws_s "$s" s3api get-bucket-versioning --bucket "$BUCKET" --query Status --output text) || return 1
  [ "$st" = Enabled ] || { log "$s" "ERROR: versioning of $BUCKET is '$st', not Enabled"; return 1; }
  log "$s" "buckets $BUCKET (versioning Enabled) and $UNVERSIONED_BUCKET created"
}

# ---- ceph --------------------------------------------------------------------------------------
start_ceph() {
  CEPH_DIR=$DIR/ceph CEPH_OSD_BACKEND=memstore CEPH_START_TIMEOUT=$TIMEOUT \
    CEPH_RGW_PORT=$CEPH_RGW_PORT CEPH_MON_PORT=$CEPH_MON_PORT \
    CEPH_OSD_PORT_MIN=$CEPH_OSD_PORT_MIN CEPH_OSD_PORT_MAX=$CEPH_OSD_PORT_MAX \
    CEPH_ACCESS_KEY=$CEPH_ACCESS_KEY CEPH_SECRET_KEY=$CEPH_SECRET_KEY \
    CEPH_OTHER_ACCESS_KEY=$CEPH_OTHER_ACCESS_KEY CEPH_OTHER_SECRET_KEY=$CEPH_OTHER_SECRET_KEY \
    _pail_ts_t0=$_pail_ts_t0 "$HERE/ceph.sh" up || return 1
  make_buckets ceph || return 1
  { env_lines CEPH "http://$ADDR:$CEPH_RGW_PORT" "$CEPH_ACCESS_KEY" "$CEPH_SECRET_KEY" us-east-1 \
      "$BUCKET" "$UNVERSIONED_BUCKET"
    echo "export PAIL_TEST_CEPH_OTHER_ACCESS_KEY=$CEPH_OTHER_ACCESS_KEY"
    echo "export PAIL_TEST_CEPH_OTHER_SECRET_KEY=$CEPH_OTHER_SECRET_KEY"
  } >"$DIR/ceph/env"
}

# ---- moto --------------------------------------------------------------------------------------
start_moto() {
  local d=$DIR/moto
  mkdir -p "$d/run" "$d/log"
  # MOTO_ALLOW_NONEXISTENT_REGION: none needed; state is in memory and gone at stop
  spawn "$d/run" "$d/log/moto.log" moto "moto_server -H $ADDR -p $MOTO_PORT" \
    "$PAIL_TS_VENV/bin/moto_server" -H "$ADDR" -p "$MOTO_PORT"
  log moto "started moto_server (pid $(pidfile_pid "$d/run/moto.pid"))"
  until_ok moto "S3 endpoint http://$ADDR:$MOTO_PORT" "$d/run/moto.pid" http_answers "http://$ADDR:$MOTO_PORT/" \
    || { tail_logs "$d/log/moto.log"; return 1; }
  make_buckets moto || { tail_logs "$d/log/moto.log"; return 1; }
  env_lines MOTO "http://$ADDR:$MOTO_PORT" "$MOTO_ACCESS_KEY" "$MOTO_SECRET_KEY" us-east-1 \
    "$BUCKET" "$UNVERSIONED_BUCKET" >"$d/env"
}

# ---- garage ------------------------------------------------------------------------------------
start_garage() {
  local d=$DIR/garage
  mkdir -p "$d/run" "$d/log" "$d/meta" "$d/data"
  local conf=$d/garage.toml
  cat >"$conf" <<EOF
# generated by tests/servers/start.sh
metadata_dir = "$d/meta"
data_dir = "$d/data"
db_engine = "$PAIL_TS_GARAGE_DB"
replication_factor = 1
metadata_fsync = false
data_fsync = false
rpc_bind_addr = "$ADDR:$GARAGE_RPC_PORT"
rpc_public_addr = "$ADDR:$GARAGE_RPC_PORT"
rpc_secret = "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "$ADDR:$GARAGE_S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "$ADDR:$GARAGE_ADMIN_PORT"
admin_token = "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
EOF
  chmod 600 "$conf"
  local g=("$PAIL_TS_GARAGE_BIN" -c "$conf")
  local pidf=$d/run/garage.pid
  RUST_LOG=${PAIL_TEST_GARAGE_LOG:-garage=info} spawn "$d/run" "$d/log/garage.log" garage "$conf" "${g[@]}" server
  log garage "started garage server (pid $(pidfile_pid "$pidf"))"
  gfail() { log garage "ERROR: $*"; tail_logs "$d/log/garage.log" "$d/log/cli.log"; return 1; }
  until_ok garage "rpc (garage status)" "$pidf" "${g[@]}" status || { gfail "garage did not come up"; return 1; }
  local node
  node=$("${g[@]}" node id -q 2>>"$d/log/cli.log") || { gfail "garage node id failed"; return 1; }
  node=${node%%@*}
  { "${g[@]}" layout assign -z dc1 -c 1G "$node" && "${g[@]}" layout apply --version 1; } >>"$d/log/cli.log" 2>&1 \
    || { gfail "layout assign/apply failed"; return 1; }
  log garage "layout applied (node ${node:0:16}…)"
  "${g[@]}" key create pail-test >"$d/key.txt" 2>>"$d/log/cli.log" || { gfail "key create failed"; return 1; }
  GARAGE_ACCESS_KEY=$(awk -F': *' '/^Key ID/ {print $2; exit}' "$d/key.txt")
  GARAGE_SECRET_KEY=$(awk -F': *' '/^Secret key/ {print $2; exit}' "$d/key.txt")
  [ -n "$GARAGE_ACCESS_KEY" ] && [ -n "$GARAGE_SECRET_KEY" ] || { gfail "could not parse $d/key.txt"; return 1; }
  { "${g[@]}" bucket create "$BUCKET" &&
    "${g[@]}" bucket allow --read --write --owner "$BUCKET" --key pail-test; } >>"$d/log/cli.log" 2>&1 \
    || { gfail "bucket create/allow failed"; return 1; }
  until_ok garage "S3 endpoint http://$ADDR:$GARAGE_S3_PORT (bucket $BUCKET usable)" "$pidf" \
    aws_s garage s3api head-bucket --bucket "$BUCKET" || { gfail "S3 API not usable"; return 1; }
  env_lines GARAGE "http://$ADDR:$GARAGE_S3_PORT" "$GARAGE_ACCESS_KEY" "$GARAGE_SECRET_KEY" garage \
    "$BUCKET" >"$d/env"
}

# ---- run them in parallel ----------------------------------------------------------------------
log start "starting ${SERVERS[*]} in $DIR"
declare -A JOB
for s in "${SERVERS[@]}"; do
  "start_$s" &
  JOB[$s]=$!
done
failed=()
for s in "${SERVERS[@]}"; do
  wait "${JOB[$s]}" || failed+=("$s")
done

if [ ${#failed[@]} -gt 0 ]; then
  log start "ERROR: failed to start: ${failed[*]}; stopping everything this run started (logs kept in $DIR)"
  PAIL_TEST_SERVERS_KEEP=1 PAIL_TEST_SERVERS_DIR=$DIR "$HERE/stop.sh" || true
  exit 1
fi

{
  echo "# written by tests/servers/start.sh on $(date -Is); stop with tests/servers/stop.sh"
  for s in "${SERVERS[@]}"; do cat "$DIR/$s/env"; done
  echo "export PAIL_TEST_SERVERS=\"${SERVERS[*]}\""
  echo "export PAIL_TEST_SERVERS_DIR=$DIR"
} >"$DIR/env"
log start "ready: ${SERVERS[*]}; environment in $DIR/env"
