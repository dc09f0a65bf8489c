#!/usr/bin/env bash
# Daemon benchmark (issues 3 and 11): how fast `pail run` hears remote changes, and what it
# costs when idle, with the adaptive pacing at its defaults (journal polls every 5 s after
# activity backing off to 60 s; full listings within a budget of 60 LISTs an hour). Lines,
# each a median over several samples, each runnable alone with --line:
#
#   active        pail -> pail while device B is active: A's daemon uploads a new file (t0:
#                 the object answers a HEAD), until it is in B's folder. B has just received
#                 the previous sample's file (one unmeasured sample warms it up), so it polls
#                 the journal every 5 s. Target: median <= 5 s.
#   idle          the same with B idle: before each sample, B stays quiet until it polls at the
#                 idle pace (its status says "every 1 min": 4 min after its last activity),
#                 then the write comes at a random moment of its 60 s poll period. Target:
#                 median <= 60 + 1 s. About 5 min a sample.
#                 In both, t0 is after A's upload, which is measured too (change-to-bucket,
#                 target < 1 s, issue 3), and B runs with --full-reconcile 21600 so that only the journal can
#                 bring the file (a listing would too, every minute at this size).
#   other-events  another S3 client's PUT (the aws CLI; t0: the new object answers a HEAD
#                 with its ETag) until the file is in B's folder, with bucket events: on
#                 moto, a fresh bucket and SQS queue, `pail init --setup --notify-queue ARN`;
#                 B with --full-reconcile 21600, so only the event can bring it. Target:
#                 median <= 10 s. Also counts B's SQS long polls (ReceiveMessage) in an idle
#                 window of 120 s.
#   other-plain   the same without events at 1,000 keys (--keys): B's daemon at its defaults
#                 (a full listing every 60 s at 1,000 keys); the PUT overwrites one of the
#                 files (the key count stays 1,000) at a random moment of the listing period.
#                 Target: median <= 90 s.
#   idle-cost     a folder of --files files (100,000) synced, then its daemon idle for
#                 --window seconds: S3 requests per hour (journal polls, observed) plus the
#                 full listings amortised (the LISTs of one listing, counted from a no-change
#                 `pail sync`, times 3600 / the interval that `pail status` reports), target
#                 <= 120; idle CPU (~0), daemon RSS, and the initial `pail sync`'s time and
#                 peak RSS.
#
#   bench/daemon.sh [--line all|active|idle|other-events|other-plain|idle-cost[,...]]
#                   [--samples N] [--files N] [--keys N] [--window SECONDS]
#                   [--server ceph|garage|moto] [--quick] [--keep]
#     defaults: every line; 9 samples (active, other-events), 3 (idle), 5 (other-plain); 100,000
#     files; 1,000 keys; a 300 s idle window; the test suite's Ceph RGW (other-events always
#     uses moto: it needs SQS). --quick: 3 samples, 10,000 files, a 120 s window. --keep
#     keeps the scratch dir (daemon logs, samples). Requests are counted from pail's log
#     (PAIL_LOG=pail::requests=debug, one event per S3 request attempt); SQS requests from the
#     SDK's own debug event per attempt. Daemons run as `pail-bench-daemon run` in the process
#     list. A whole run with the defaults takes about 40 min.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LINES=all SERVER=ceph FILES=100000 KEYS=1000 WINDOW=300 SAMPLES='' KEEP=0
usage() {
  echo "usage: $0 [--line all|active|idle|other-events|other-plain|idle-cost[,...]] [--samples N]" \
    "[--files N] [--keys N] [--window SECONDS] [--server ceph|garage|moto] [--quick] [--keep]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --line) LINES=$2; shift 2 ;;
    --samples) SAMPLES=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --server) SERVER=$2; shift 2 ;;
    --quick) SAMPLES=${SAMPLES:-3} FILES=10000 WINDOW=120; shift ;;
    --keep) KEEP=1; shift ;;
    *) usage ;;
  esac
done
[ "$LINES" = all ] && LINES=active,idle,other-events,other-plain,idle-cost
want() { [[ ",$LINES," == *",$1,"* ]]; }
for l in ${LINES//,/ }; do
  case $l in active | idle | other-events | other-plain | idle-cost) ;; *) usage ;; esac
done
SERVERS=$SERVER
want other-events && [ "$SERVER" != moto ] && SERVERS="$SERVER moto"

# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"
bench_setup "$SERVERS" dbench
declare -A DAEMON=()
PURGE=()
cleanup() {
  local d
  for d in "${!DAEMON[@]}"; do stop_daemon "$d"; done
  for d in "${PURGE[@]}"; do eval "$d" || true; done
  if [ "$KEEP" = 1 ]; then echo "scratch dir kept: $WORK" >&2; WORK=/nonexistent; fi
  bench_cleanup
}
trap cleanup EXIT
VENV=${PAIL_TEST_VENV:-$HOME/.cache/pail-test-servers/venv}
AWS=$VENV/bin/aws
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
export AWS_CONFIG_FILE=$WORK/aws-config
printf '[default]\ns3 =\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"
RUN=dbench-$RANDOM$RANDOM
ROWS=$WORK/rows.md
: >"$ROWS"
log() { echo "[$(date +%T)] $*" >&2; }

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
spread() { sort -g | awk '{a[NR]=$1} END {printf "%.2f-%.2f", a[1], a[NR]}'; }
since() { echo "$(now) - $1" | bc; }
# Sleeps a uniformly random time in [0, $1) seconds: the next write lands at a random moment
# of the period of whatever should pick it up.
rand_sleep() { sleep "$(echo "scale=3; $RANDOM * $1 / 32768" | bc)"; }
dev() {  # NAME: the environment of one device
  export PAIL_CONFIG=$WORK/$1/config.toml PAIL_STATE_DIR=$WORK/$1/state
}
# A field of the first pair in `pail status --json` of the current device ("" if none).
pst() {
  "$PAIL" status --json 2>/dev/null | python3 -c 'import json, sys
try:
    v = json.load(sys.stdin)["pairs"][0].get(sys.argv[1])
except Exception:
    v = None
print("" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$1"
}
wait_until() {  # SECONDS DESCRIPTION COMMAND...: polls the command until it succeeds
  local limit=$1 what=$2 t0
  shift 2
  t0=$(now)
  until "$@"; do
    daemons_alive
    if [ "$(echo "$(now) - $t0 > $limit" | bc)" = 1 ]; then
      echo "gave up after $limit s waiting for $what" >&2
      return 1
    fi
    sleep 0.05
  done
}
# Fails the run if a daemon started here has exited (a broad kill from outside, a crash).
daemons_alive() {
  local d
  for d in "${!DAEMON[@]}"; do
    if ! kill -0 "${DAEMON[$d]}" 2>/dev/null; then
      echo "the daemon of $d exited: see $WORK/$d/daemon.log" >&2
      unset "DAEMON[$d]"
      exit 1
    fi
  done
}
status_has() { [[ $("$PAIL" status --json 2>/dev/null) == *"$1"* ]]; }
is_live_idle() { [ "$(pst live)" = true ] && [ "$(pst state)" = idle ]; }
start_daemon() {  # NAME LOG-FILTER ARGS...: `pail run` of device NAME, until it is idle
  local name=$1 filter=$2
  shift 2
  dev "$name"
  # Named apart in the process list: a `pkill -f "pail run"` of other work on a shared
  # machine should not end it.
  (PAIL_LOG=$filter exec -a pail-bench-daemon "$PAIL" run "$@" 2>>"$WORK/$name/daemon.log") &
  DAEMON[$name]=$!
  wait_until 600 "the daemon of $name to be idle" is_live_idle
}
stop_daemon() {  # NAME: SIGTERM, and SIGKILL if it has not exited 30 s later (noted)
  local pid=${DAEMON[$1]:-} i
  [ -n "$pid" ] || return 0
  unset "DAEMON[$1]"
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "the daemon of $1 did not exit within 30 s of SIGTERM: killed"
    row "| NOTE: the daemon of $1 did not exit within 30 s of SIGTERM (killed) | | | | | |"
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
# Whether KEY of the current server's bucket answers a HEAD (curl signs one in a few ms; the
# aws CLI would add most of a second per attempt).
head_ok() {
  curl -sfI -o /dev/null --aws-sigv4 "aws:amz:$REGION:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$EP/$BUCKET/$1"
}
has() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
init_dev() {  # NAME PREFIX [INIT-ARGS...]
  local name=$1 prefix=$2
  shift 2
  mkdir -p "$WORK/$name/folder"
  dev "$name"
  "$PAIL" init "$WORK/$name/folder" "s3://$BUCKET/$prefix" --endpoint "$EP" --region "$REGION" \
    --device "$name" "$@" >/dev/null
}
# Deletes every version under PREFIX of the current server's bucket (at exit).
purge_later() {
  PURGE+=("EP=$EP BUCKET=$1 AWS_REGION=$REGION AWS_DEFAULT_REGION=$REGION AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY purge $2 ${3:-}")
}
purge() {  # PREFIX [drop-bucket]
  "$VENV/bin/python3" - "$EP" "$BUCKET" "$1" "${2:-}" <<'PY' >&2
import sys, boto3
from botocore.config import Config
ep, bucket, prefix, drop = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(s3={"addressing_style": "path"}))
def pages():
    try:  # every version; a server without versions (Garage) may not list them
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix + "/"):
            yield [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    except Exception:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            yield [{"Key": o["Key"]} for o in page.get("Contents", [])]
for objs in pages():
    for i in range(0, len(objs), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": objs[i:i + 1000], "Quiet": True})
if drop:
    s3.delete_bucket(Bucket=bucket)
PY
}
# "100 ListObjectsV2, 1 HeadObject": the request events on stdin, by kind.
by_op() {
  { grep -o 'op="[A-Za-z0-9]*"' || true; } | sort | uniq -c | sort -rn |
    awk '{gsub(/op=|"/, "", $2); printf "%s%s %s", sep, $1, $2; sep=", "}'
}
row() { printf '%s\n' "$*" >>"$ROWS"; }
# Appends the row of a latency line: NAME SETTING SAMPLES-FILE TARGET-SECONDS TARGET-TEXT.
latency_row() {
  local m n s met
  m=$(median <"$3") n=$(wc -l <"$3") s=$(spread <"$3")
  met=$([ "$(echo "$m <= $4" | bc)" = 1 ] && echo yes || echo NO)
  row "| $1 | $2 | $(printf %.2f "$m") s (range $s) | $n | $5 | $met |"
}

# Lines active and idle: two pail devices on one prefix, both running `pail run`.
pail_to_pail() {
  bench_server "$SERVER"
  local prefix=$RUN-pp i name t_write t0 poll
  purge_later "$BUCKET" "$prefix"
  init_dev a "$prefix"
  echo seed >"$WORK/a/folder/seed.txt"
  "$PAIL" sync >/dev/null
  init_dev b "$prefix"
  "$PAIL" sync >/dev/null
  start_daemon a pail_daemon=info
  # One file from A to B; appends the latency to $WORK/MODE.txt (and A's upload time).
  sample() {  # MODE I
    name=$1-$2.txt
    poll=$(dev b && pst remote_changes)
    t_write=$(now)
    echo "$1 $2" >"$WORK/a/folder/$name"
    wait_until 60 "$name in the bucket" head_ok "$prefix/$name"
    t0=$(now)
    wait_until 300 "$name in B's folder" has "$WORK/b/folder/$name" "$1 $2"
    since "$t0" >>"$WORK/$1.txt"
    echo "$t0 - $t_write" | bc >>"$WORK/upload.txt"
    log "$1 sample $2: $(tail -1 "$WORK/$1.txt") s (B: ${poll%%;*})"
    if [[ $poll == *"$3"* ]]; then echo 1 >>"$WORK/$1-paced.txt"; fi
  }
  if want active; then
    log "line active: $N_ACTIVE samples"
    : >"$WORK/active.txt"
    : >"$WORK/active-paced.txt"
    start_daemon b pail_daemon=info --full-reconcile 21600
    # A local change makes B active at once; the warm-up sample keeps it so.
    echo poke >"$WORK/b/folder/poke.txt"
    sample warmup 0 ""
    for i in $(seq 1 "$N_ACTIVE"); do
      rand_sleep 5
      sample active "$i" "every 5 s"
    done
    latency_row "pail -> pail, B active ($SERVER)" "journal poll every 5 s" "$WORK/active.txt" 5 "<= 5 s"
    row "| (of which B's status said \"every 5 s\" at the write) | | $(wc -l <"$WORK/active-paced.txt") of $N_ACTIVE | | | |"
    stop_daemon b
  fi
  if want idle; then
    log "line idle: $N_IDLE samples, each about 5 min (4 min of quiet first)"
    : >"$WORK/idle.txt"
    : >"$WORK/idle-paced.txt"
    start_daemon b pail_daemon=info --full-reconcile 21600
    # Its first poll, at once, takes the last 5 min of the journal as new (activity); until
    # then a fresh daemon's status says "every 1 min" too.
    sleep 10
    for i in $(seq 1 "$N_IDLE"); do
      # Quiet until B polls at the idle pace (4 min after its last activity; a restart would
      # not do: its first poll takes the last 5 min of the journal as new, which is activity).
      wait_until 400 "B to back off to the idle poll" status_has "journal every 1 min"
      rand_sleep 60
      sample idle "$i" "every 1 min"
    done
    stop_daemon b
    latency_row "pail -> pail, B idle ($SERVER)" "journal poll every 60 s" "$WORK/idle.txt" 61 "<= 61 s"
    row "| (of which B's status said \"every 1 min\" at the write) | | $(wc -l <"$WORK/idle-paced.txt") of $N_IDLE | | | |"
  fi
  row "| by-product: change-to-bucket (A's upload of a new file) | watcher | $(printf %.2f "$(median <"$WORK/upload.txt")") s (range $(spread <"$WORK/upload.txt")) | $(wc -l <"$WORK/upload.txt") | < 1 s | $([ "$(echo "$(median <"$WORK/upload.txt") < 1" | bc)" = 1 ] && echo yes || echo NO) |"
  stop_daemon a
}

# Whether KEY's current object has ETag MD5 (a single-part PUT's ETag is its MD5).
etag_is() {
  curl -sfI --aws-sigv4 "aws:amz:$REGION:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$EP/$BUCKET/$1" | grep -qi "^etag: *\"$2\""
}
# Another client's PUT (the aws CLI, in the background: it takes most of a second to exit),
# from the moment the new object answers a HEAD until the file is in B's folder; appends to
# $WORK/LINE.txt.
put_sample() {  # LINE KEY-IN-PREFIX PREFIX CONTENT
  local body=$WORK/body.txt t0 cli md5
  printf '%s' "$4" >"$body"
  md5=$(md5sum <"$body" | cut -d' ' -f1)
  "$AWS" --endpoint-url "$EP" s3api put-object --bucket "$BUCKET" --key "$3/$2" --body "$body" >/dev/null &
  cli=$!
  wait_until 60 "$2 in the bucket" etag_is "$3/$2" "$md5"
  t0=$(now)
  wait_until 600 "$2 in B's folder" has "$WORK/b/folder/$2" "$4"
  since "$t0" >>"$WORK/$1.txt"
  wait "$cli"
  log "$1: $2 $(tail -1 "$WORK/$1.txt") s"
}

other_events() {
  bench_server moto
  local queue url arn prefix=events i before after reqs sqs
  BUCKET=pail-bench-$RUN queue=pail-bench-$RUN
  url=$("$AWS" --endpoint-url "$EP" sqs create-queue --queue-name "$queue" --query QueueUrl --output text)
  arn=$("$AWS" --endpoint-url "$EP" sqs get-queue-attributes --queue-url "$url" \
    --attribute-names QueueArn --query Attributes.QueueArn --output text)
  PURGE+=("'$AWS' --endpoint-url '$EP' sqs delete-queue --queue-url '$url'")
  purge_later "$BUCKET" "$prefix" drop
  log "line other-events: $N_EVENTS samples (moto, queue $queue)"
  rm -rf "$WORK/b"
  init_dev b "$prefix" --setup --notify-queue "$arn"
  echo seed >"$WORK/b/folder/seed.txt"
  "$PAIL" sync >/dev/null
  start_daemon b pail::requests=debug,pail_daemon=info,aws_sdk_sqs=debug,aws_smithy_runtime::client::orchestrator=debug \
    --full-reconcile 21600
  wait_until 60 "B to hear the queue" status_has "bucket events"
  : >"$WORK/other-events.txt"
  for i in $(seq 1 "$N_EVENTS"); do
    rand_sleep 3
    put_sample other-events "other-$i.txt" "$prefix" "another client's file $i"
  done
  latency_row "another client -> B, bucket events (moto)" "SQS long poll, 20 s waits" \
    "$WORK/other-events.txt" 10 "<= 10 s"
  sleep 5
  log "line other-events: idle window of 120 s for the queue's long polls"
  before=$(grep -c 'SQS.ReceiveMessage.*beginning attempt' "$WORK/b/daemon.log" || true)
  reqs=$(grep -c 's3 request' "$WORK/b/daemon.log" || true)
  sleep 120
  after=$(grep -c 'SQS.ReceiveMessage.*beginning attempt' "$WORK/b/daemon.log" || true)
  sqs=$((after - before))
  reqs=$(($(grep -c 's3 request' "$WORK/b/daemon.log" || true) - reqs))
  row "| SQS long polls when idle (moto) | ReceiveMessage, 20 s waits | $((sqs * 30))/h ($sqs in 120 s; S3 requests meanwhile: $reqs, journal polls backing off after the samples) | 1 window | counted apart from the 120 | - |"
  stop_daemon b
}

other_plain() {
  bench_server "$SERVER"
  local prefix=$RUN-plain i k
  purge_later "$BUCKET" "$prefix"
  log "line other-plain: $KEYS files, $N_PLAIN samples, each up to a minute and more"
  rm -rf "$WORK/b"
  mkdir -p "$WORK/b/folder"
  python3 - "$WORK/b/folder" "$KEYS" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(root, f"f{i:05d}.txt"), "w") as f:
        f.write(f"file {i}\n")
PY
  init_dev b "$prefix"
  "$PAIL" sync >/dev/null
  start_daemon b pail::requests=debug,pail_daemon=info
  log "B: $(pst remote_changes)"
  row "| (B's status: $(pst remote_changes)) | | | | | |"
  : >"$WORK/other-plain.txt"
  for i in $(seq 1 "$N_PLAIN"); do
    rand_sleep 60
    k=$(printf 'f%05d.txt' $((i - 1)))
    put_sample other-plain "$k" "$prefix" "edited by another client, $i"
  done
  latency_row "another client -> B, no events, $KEYS keys ($SERVER)" "full listing every 60 s" \
    "$WORK/other-plain.txt" 90 "<= 90 s"
  stop_daemon b
}

idle_cost() {
  bench_server "$SERVER"
  local prefix=$RUN-idle t0 sync_peak full_lists full_ops desc keys interval lists_h
  local before after cpu0 cpu1 idle_req polls_h ticks rss hwm total ops
  purge_later "$BUCKET" "$prefix"
  log "line idle-cost: generating $FILES small files"
  mkdir -p "$WORK/c/folder"
  python3 - "$WORK/c/folder" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:04d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:07d}.txt"), "w") as f:
        f.write(f"file {i}\n")
PY
  init_dev c "$prefix"
  t0=$(now)
  # Peak RSS of a child, from getrusage (kB on Linux).
  sync_peak=$(python3 -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$PAIL" sync 2>"$WORK/c/sync.log")
  row "| initial \`pail sync\` of $FILES files ($SERVER) | one-shot | $(printf %.0f "$(since "$t0")") s, peak RSS $((sync_peak / 1024)) MB | 1 | - | - |"
  PAIL_LOG=pail::requests=debug "$PAIL" sync 2>"$WORK/full.log" >/dev/null
  full_lists=$(grep -c 'op="ListObjectsV2"' "$WORK/full.log" || true)
  full_ops=$(by_op <"$WORK/full.log")
  log "line idle-cost: starting the daemon (its start pass lists and scans everything)"
  start_daemon c pail::requests=debug,pail_daemon=info
  desc=$(pst remote_changes)
  log "daemon: $desc"
  # "a full listing every 1 h 40 min (100000 keys)": the keys the interval follows.
  keys=$(sed -n 's/.*(\([0-9]*\) keys).*/\1/p' <<<"$desc")
  keys=${keys:-$FILES}
  # shellcheck disable=SC2017 # whole pages, as pace.rs counts them
  interval=$(((keys + 999) / 1000 * 3600 / 60)) # pages * 3600 / listing_budget
  [ "$interval" -lt 60 ] && interval=60
  log "line idle-cost: idle window of $WINDOW s"
  pid=${DAEMON[c]}
  ticks=$(getconf CLK_TCK)
  before=$(grep -c 's3 request' "$WORK/c/daemon.log" || true)
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  # CPU seconds of each minute of the window: a start still settling shows as a first slice.
  local slices='' c=$cpu0 c1 left=$WINDOW step
  while [ "$left" -gt 0 ]; do
    step=$((left < 60 ? left : 60))
    sleep "$step"
    left=$((left - step))
    c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    slices+="${slices:+, }$(echo "($c1 - $c) / $ticks" | bc -l | xargs printf '%.2f')"
    c=$c1
  done
  cpu1=$c
  after=$(grep -c 's3 request' "$WORK/c/daemon.log" || true)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  ops=$(grep 's3 request' "$WORK/c/daemon.log" | tail -n "+$((before + 1))" | by_op)
  idle_req=$((after - before))
  polls_h=$(echo "$idle_req * 3600 / $WINDOW" | bc)
  lists_h=$(echo "scale=1; $full_lists * 3600 / $interval" | bc)
  total=$(echo "$polls_h + $lists_h" | bc)
  row "| idle S3 requests at $FILES files ($SERVER) | journal polls observed + listings amortised | $total/h = $polls_h/h polls ($idle_req in $WINDOW s: ${ops:-none}) + $lists_h/h listings ($full_lists LISTs per listing every $interval s; one listing: $full_ops) | 1 window | <= 120/h | $([ "$(echo "$total <= 120" | bc)" = 1 ] && echo yes || echo NO) |"
  row "| (the daemon's status: $desc) | | | | | |"
  row "| idle CPU of the daemon | $FILES files | $(echo "($cpu1 - $cpu0) / $ticks" | bc -l | xargs printf '%.2f') s in $WINDOW s (per minute: $slices) | 1 window | ~0 | $([ "$(echo "($cpu1 - $cpu0) / $ticks < 0.01 * $WINDOW" | bc)" = 1 ] && echo yes || echo NO) |"
  row "| daemon RSS idle (peak since start) | $FILES files | $((rss / 1024)) MB ($((hwm / 1024)) MB) | 1 | - | - |"
  stop_daemon c
}

N_ACTIVE=${SAMPLES:-9} N_IDLE=${SAMPLES:-3} N_EVENTS=${SAMPLES:-9} N_PLAIN=${SAMPLES:-5}
T_START=$(now)
if want active || want idle; then pail_to_pail; fi
want other-events && other_events
want other-plain && other_plain
want idle-cost && idle_cost
printf '\n| line | setting | median (range) | samples | target | met? |\n|---|---|---|---|---|---|\n'
cat "$ROWS"
printf '\n%s; binary %s; %.0f s in all\n' "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" \
  "$PAIL" "$(since "$T_START")"
