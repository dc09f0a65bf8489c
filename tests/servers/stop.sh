#!/usr/bin/env bash
# Stop the servers tests/servers/start.sh started and delete its state dir.
# Only processes recorded in $DIR/*/run/*.pid are signalled, and only while /proc/PID still shows
# the same start time and a cmdline naming this state dir's config (a recycled PID is left alone).
# SIGTERM, then SIGKILL after PAIL_TEST_SERVERS_STOP_GRACE seconds (default 15).
# PAIL_TEST_SERVERS_KEEP=1 keeps the directory (logs) instead of deleting it.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

DIR=${PAIL_TEST_SERVERS_DIR:-/tmp/pail-test-servers}
GRACE=${PAIL_TEST_SERVERS_STOP_GRACE:-15}

if [ ! -d "$DIR" ]; then
  log stop "nothing to stop ($DIR does not exist)"
  exit 0
fi
if [ ! -e "$DIR/.pail-test-servers" ]; then
  log stop "ERROR: $DIR was not made by tests/servers/start.sh; not touching it"
  exit 1
fi

# garage and moto in parallel with ceph (rgw, osd, mon in that order)
pids=()
for s in garage moto; do
  for f in "$DIR/$s"/run/*.pid; do
    [ -e "$f" ] || continue
    stop_pidfile "$f" "$GRACE" &
    pids+=($!)
  done
done
if [ -d "$DIR/ceph" ]; then
  CEPH_DIR=$DIR/ceph CEPH_KEEP=1 CEPH_STOP_GRACE=$GRACE "$HERE/ceph.sh" down &
  pids+=($!)
fi
for p in "${pids[@]}"; do wait "$p"; done

# anything else recorded (should be nothing)
while IFS= read -r f; do
  stop_pidfile "$f" "$GRACE"
done < <(find "$DIR" -name '*.pid' -path '*/run/*' 2>/dev/null)

rc=0
if any_alive "$DIR"; then
  log stop "ERROR: some recorded processes are still alive"
  rc=1
fi
if [ "${PAIL_TEST_SERVERS_KEEP:-0}" = 1 ]; then
  log stop "stopped; kept $DIR"
else
  rm -rf "$DIR"
  log stop "stopped; removed $DIR"
fi
exit $rc
