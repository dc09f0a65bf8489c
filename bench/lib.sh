# shellcheck shell=bash disable=SC2034 # PAIL, EP, BUCKET, ... are for the scripts that source this
# Shared set-up of bench/daemon.sh and bench/restore.sh (sourced, not run).
#
#   bench_setup "SERVER [SERVER...]" SCRATCH-NAME
#
# uses the test suite's servers (ceph, moto, garage; started here if no test servers run,
# and stopped again by bench_cleanup), makes the scratch dir $WORK, builds the release binary
# if missing ($PAIL; PAIL_BENCH_BIN names another build, for example
# target/profiling/pail from `cargo build --profile profiling -p pail`), and exports the
# first server's credentials (bench_server). The calling script's EXIT trap must call
# bench_cleanup.
#
#   bench_server SERVER
#
# exports SERVER's credentials and sets REGION, EP, BUCKET (another of the servers given to
# bench_setup, for a script that uses several).

bench_setup() {
  local servers=$1 name=$2
  export PAIL_TEST_SERVERS_DIR=${PAIL_TEST_SERVERS_DIR:-/tmp/pail-test-servers}
  STARTED=0
  if [ ! -f "$PAIL_TEST_SERVERS_DIR/env" ]; then
    bash "$ROOT/tests/servers/install.sh" >&2
    # shellcheck disable=SC2086 # one word per server
    bash "$ROOT/tests/servers/start.sh" $servers >&2
    STARTED=1
  fi
  # shellcheck disable=SC1091
  . "$PAIL_TEST_SERVERS_DIR/env"
  WORK=$(mktemp -d "/tmp/pail-$name.XXXXXX")
  command -v bc >/dev/null || apt-get install -y --no-install-recommends bc >/dev/null
  if [ -n "${PAIL_BENCH_BIN:-}" ]; then
    PAIL=$PAIL_BENCH_BIN
  else
    [ -x "$ROOT/target/release/pail" ] || (cd "$ROOT" && cargo build --release -p pail >&2)
    PAIL=$ROOT/target/release/pail
  fi
  unset AWS_CA_BUNDLE REQUESTS_CA_BUNDLE SSL_CERT_FILE CURL_CA_BUNDLE AWS_PROFILE
  bench_server "${servers%% *}"
}

bench_server() {
  local server=$1 s
  s=$(echo "$server" | tr '[:lower:]' '[:upper:]')
  var() { local n="PAIL_TEST_${s}_$1"; echo "${!n:?$n is not set: is the $server test server running?}"; }
  AWS_ACCESS_KEY_ID=$(var ACCESS_KEY) AWS_SECRET_ACCESS_KEY=$(var SECRET_KEY)
  REGION=$(var REGION) EP=$(var ENDPOINT) BUCKET=$(var BUCKET)
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  export AWS_REGION=$REGION AWS_DEFAULT_REGION=$REGION AWS_EC2_METADATA_DISABLED=true
}

bench_cleanup() {
  rm -rf "$WORK"
  if [ "$STARTED" = 1 ]; then bash "$ROOT/tests/servers/stop.sh" >&2 || true; fi
}

now() { date +%s.%N; }
