#!/usr/bin/env bash
# Daemon benchmark (issue 3), against the local Ceph RGW of the test suite. Prints:
#   - change-to-bucket latency: a small file dropped into a folder of N files, until the
#     object is in the bucket (median of 5; target < 1 s at 100,000 files)
#   - bucket-change-to-folder latency: another device syncs a new file, until it is in the
#     daemon's folder (median of 3; target: poll interval + 1 s)
#   - S3 requests during an idle window, per hour (target <= 120 at 100,000 files), plus the
#     LISTs of one full reconcile, amortised over its 6-hour period
#   - idle CPU (seconds of CPU per idle minute) and RSS of the daemon
#
#   bench/daemon.sh [--files N] [--idle SECONDS] [--poll SECONDS] [--server ceph|garage]
#                   [--skip-peer]
#     defaults: 100000 files, 120 s idle window, 10 s poll (the default poll is 60 s), the
#     test suite's Ceph RGW (garage: the one in $PAIL_TEST_SERVERS_DIR). --skip-peer leaves
#     out the second device and the bucket-to-folder latency (its first sync downloads
#     every file: long at 1,000,000).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=100000 IDLE=120 POLL=10 SERVER=ceph PEER=1
while [ $# -gt 0 ]; do
  case $1 in
    --server) SERVER=$2; shift 2 ;;
    --skip-peer) PEER=0; shift ;;
    --files) FILES=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --poll) POLL=$2; shift 2 ;;
    *) echo "usage: $0 [--files N] [--idle SECONDS] [--poll SECONDS] [--server ceph|garage] [--skip-peer]" >&2; exit 2 ;;
  esac
done
# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"
bench_setup "$SERVER" dbench
DAEMON=
cleanup() {
  [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  bench_cleanup
}
trap cleanup EXIT
VENV=${PAIL_TEST_VENV:-$HOME/.cache/pail-test-servers/venv}
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
export AWS_CONFIG_FILE=$WORK/aws-config
printf '[default]\ns3 =\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
PREFIX=dbench-$RANDOM
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
dev() {  # NAME: environment of one device
  export PAIL_CONFIG=$WORK/$1/config.toml PAIL_STATE_DIR=$WORK/$1/state
}

echo "generating $FILES small files" >&2
python3 - "$WORK/a/folder" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:04d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:07d}.txt"), "w") as f:
        f.write(f"file {i}\n")
PY
dev a
"$PAIL" init "$WORK/a/folder" "s3://$BUCKET/$PREFIX" --endpoint "$EP" --region "$REGION" --device alpha >/dev/null
# Peak RSS of a child, from getrusage (kB on Linux).
peak_rss() { python3 -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$@"; }
t0=$(now); SYNC_PEAK=$(peak_rss "$PAIL" sync)
echo "initial sync of $FILES files: $(echo "$(now) - $t0" | bc) s, peak RSS $((SYNC_PEAK / 1024)) MB" >&2
PAIL_LOG=pail::requests=debug "$PAIL" sync 2>"$WORK/full.log" >/dev/null
FULL_LISTS=$(grep -c ListObjectsV2 "$WORK/full.log" || true)
if [ "$PEER" = 1 ]; then
  mkdir -p "$WORK/b/folder"
  dev b
  "$PAIL" init "$WORK/b/folder" "s3://$BUCKET/$PREFIX" --endpoint "$EP" --region "$REGION" --device beta >/dev/null
  "$PAIL" sync >/dev/null
fi

dev a
PAIL_LOG=pail::requests=debug,pail_daemon=info "$PAIL" run --poll-interval "$POLL" 2>"$WORK/daemon.log" &
DAEMON=$!
until "$PAIL" status --json 2>/dev/null | grep -q '"live": true'; do sleep 0.2; done
until "$PAIL" status --json | grep -q '"state": "idle"'; do sleep 0.2; done

echo "change-to-bucket latency" >&2
: >"$WORK/up.txt"
for i in 1 2 3 4 5; do
  t0=$(now)
  echo "new $i" >"$WORK/a/folder/new-$i.txt"
  # curl signs a HEAD in a few ms; the aws CLI would add most of a second per attempt.
  until curl -sfI -o /dev/null --aws-sigv4 "aws:amz:$REGION:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$EP/$BUCKET/$PREFIX/new-$i.txt"; do
    sleep 0.02
  done
  echo "$(now) - $t0" | bc >>"$WORK/up.txt"
done
echo "bucket-change-to-folder latency" >&2
: >"$WORK/down.txt"
for i in $(seq 1 $((3 * PEER))); do
  dev b
  echo "from beta $i" >"$WORK/b/folder/beta-$i.txt"
  "$PAIL" sync >/dev/null
  t0=$(now)
  until [ -f "$WORK/a/folder/beta-$i.txt" ]; do sleep 0.05; done
  echo "$(now) - $t0" | bc >>"$WORK/down.txt"
done
dev a
until "$PAIL" status --json | grep -q '"state": "idle"'; do sleep 0.2; done

echo "idle window of $IDLE s" >&2
before_req=$(grep -c 's3 request' "$WORK/daemon.log" || true)
cpu0=$(awk '{print $14 + $15}' "/proc/$DAEMON/stat")
sleep "$IDLE"
cpu1=$(awk '{print $14 + $15}' "/proc/$DAEMON/stat")
after_req=$(grep -c 's3 request' "$WORK/daemon.log" || true)
ticks=$(getconf CLK_TCK)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$DAEMON/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON/status")
idle_req=$((after_req - before_req))
per_hour=$(echo "$idle_req * 3600 / $IDLE" | bc)
per_hour_default=$(echo "3600 / 60 + $FULL_LISTS / 6" | bc)

printf '\n| measure (%s files, poll %s s) | result | target |\n|---|---|---|\n' "$FILES" "$POLL"
printf '| change-to-bucket latency, median of 5 | %.2f s | < 1 s |\n' "$(median <"$WORK/up.txt")"
[ "$PEER" = 1 ] && printf '| bucket-change-to-folder latency, median of 3 | %.2f s | poll + 1 s = %s s |\n' "$(median <"$WORK/down.txt")" "$((POLL + 1))"
printf '| S3 requests in %s s idle | %s (%s/h at this poll) | |\n' "$IDLE" "$idle_req" "$per_hour"
printf '| requests per idle hour at the default 60 s poll | %s (60 journal LISTs + %s LISTs per 6-hourly full reconcile / 6) | <= 120 |\n' "$per_hour_default" "$FULL_LISTS"
printf '| idle CPU | %s s per %s s | ~0 |\n' "$(echo "($cpu1 - $cpu0) / $ticks" | bc -l | xargs printf '%.2f')" "$IDLE"
printf '| daemon RSS when idle (peak since start, incl. its full rescan) | %s MB (%s MB) | < 100 MB at 1,000,000 files |\n' "$((rss / 1024))" "$((hwm / 1024))"
printf '| peak RSS of the initial one-shot sync | %s MB | |\n' "$((SYNC_PEAK / 1024))"
kill "$DAEMON" && wait "$DAEMON" 2>/dev/null || true; DAEMON=
"$VENV/bin/aws" --endpoint-url "$EP" s3 rm --recursive --quiet "s3://$BUCKET/$PREFIX" >/dev/null 2>&1 || true
