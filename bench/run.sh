#!/usr/bin/env bash
# One-shot sync benchmark: pail against rclone copy (its defaults, and --transfers 16), rclone
# bisync and aws s3 sync, and the raw-SDK ceiling s3-ceiling (crates/pail-ceiling: plain
# aws-sdk-s3 requests, 16 in flight), all on the same S3 server (see bench/README.md). Lines:
#   small     initial upload of 10,000 files of 4 KiB (100 dirs x 100 files, random content)
#   nochange  no-change re-sync of the 10,000 files; also the S3 requests by kind of every tool
#             (RGW access log) and the files of the folder pail opens or reads (strace; must be 0)
#   edits     100 of the 10,000 files rewritten (new content, same size), then synced
#   fresh     a fresh device: the 10,000 files downloaded into an empty folder (pail: init + sync
#             on a new state dir; rclone copy and bisync --resync down; aws s3 sync down)
#   big       upload of one 1 GiB file
# The ceiling of each line: put-dir, list (LIST only: the least a no-change sync asks), put-keys
# of the 100 files, get-prefix, put-file (16 MiB parts, 16 in flight). Printed: wall seconds
# (medians of paired rounds), pail's share of the ceiling (ceiling s / pail s), pail's ratio to
# the fastest peer (pail s / peer s), CPU seconds (user+sys) of every tool and pail's per 10,000
# files, and S3 requests per file.
#
#   bench/run.sh [--quick] [--rounds N] [--server ceph|garage] [--only TOOLS] [--encrypt] [--shared]
#                [--keep]
#     --quick    500 files and 64 MiB
#     --rounds   N paired rounds (default 1): each round runs every tool on every line, the tools
#                in an order that rotates from round to round; times and ratios are medians
#     --server   ceph (default): a private bluestore Ceph RGW on 127.0.0.1:18480, started and
#                stopped here (no other test's traffic in the timings or the request counts);
#                garage: the test servers' Garage, bucket $PAIL_TEST_GARAGE_BUCKET (unversioned:
#                Garage has no versioning; started with tests/servers/start.sh if none runs)
#     --only     pail, rclone (copy, copy x16, bisync), rclone16 (copy x16 alone), aws, ceiling
#                [,...]; may be repeated
#     --encrypt  also pail on an end-to-end encrypted pair (init --encrypt, PAIL_PASSPHRASE, the
#                key in a 0600 file of the state dir), every line, next to plain pail in each
#                round; prints encrypted / plain (time, CPU) against issue 15's 10% ceiling
#     --shared   with --server ceph: the test servers' Ceph instead of a private one
#     --keep     keep the scratch dir (logs, strace output) and print its path
# Environment: PAIL (binary; default target/release/pail), CEILING (default
#   $CARGO_TARGET_DIR/profiling/s3-ceiling, then target/profiling, then target/release),
#   CEILING_CONCURRENCY (16), CEILING_PART_MB (16), BENCH_FILES, BENCH_BIG_MB, BENCH_EDITS (100),
#   RCLONE_TRANSFERS / RCLONE_CHECKERS (rclone's own), BENCH_AWS_CONCURRENCY (aws s3
#   max_concurrent_requests). Tools run with their default settings otherwise.
# Not part of the test run: figures depend on the machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tests/servers/lib.sh disable=SC1091
. "$ROOT/tests/servers/lib.sh"   # clean_env, PAIL_TS_VENV, log
# shellcheck source=run-lib.sh disable=SC1091
. "$ROOT/bench/run-lib.sh"

FILES=10000 BIG_MB=1024 SHARED=0 KEEP=0 ROUNDS=1 SERVER=ceph ONLY=() ENCRYPT=0
usage() { sed -n '2,38p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --quick) FILES=500 BIG_MB=64; shift ;;
    --rounds) [ $# -ge 2 ] || usage; ROUNDS=$2; shift 2 ;;
    --rounds=*) ROUNDS=${1#--rounds=}; shift ;;
    --server) [ $# -ge 2 ] || usage; SERVER=$2; shift 2 ;;
    --server=*) SERVER=${1#--server=}; shift ;;
    --only) [ $# -ge 2 ] || usage; IFS=, read -ra o <<<"$2"; ONLY+=("${o[@]}"); shift 2 ;;
    --only=*) IFS=, read -ra o <<<"${1#--only=}"; ONLY+=("${o[@]}"); shift ;;
    --encrypt) ENCRYPT=1; shift ;;
    --shared) SHARED=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "--rounds takes a number of rounds, not '$ROUNDS'" >&2; exit 2; }
case $SERVER in
  ceph) ;;
  garage) SHARED=1 ;;   # the test servers' Garage: shared by definition
  *) echo "--server takes ceph or garage, not '$SERVER'" >&2; exit 2 ;;
esac
FILES=${BENCH_FILES:-$FILES} BIG_MB=${BENCH_BIG_MB:-$BIG_MB} EDITS=${BENCH_EDITS:-100}
[ "$EDITS" -le "$FILES" ] || { echo "BENCH_EDITS=$EDITS is more than the $FILES files" >&2; exit 2; }
CC=${CEILING_CONCURRENCY:-16} PART_MB=${CEILING_PART_MB:-16}
[ ${#ONLY[@]} -gt 0 ] || ONLY=(pail rclone aws ceiling)
TOOLS=()
for t in "${ONLY[@]}"; do
  case $t in
    pail) TOOLS+=(pail); [ "$ENCRYPT" = 0 ] || TOOLS+=(pail_enc) ;;
    rclone) TOOLS+=(rclone_copy rclone_copy16 rclone_bisync) ;;
    rclone16) TOOLS+=(rclone_copy16) ;;
    aws) TOOLS+=(aws) ;;
    ceiling) TOOLS+=(ceiling) ;;
    *) echo "--only takes pail, rclone, rclone16, aws or ceiling, not '$t'" >&2; exit 2 ;;
  esac
done
if [ "$ENCRYPT" = 1 ] && [[ " ${TOOLS[*]} " != *" pail_enc "* ]]; then
  echo "--encrypt compares with plain pail: --only must include pail" >&2; exit 2
fi
PEERS=()
for t in rclone_copy rclone_copy16 rclone_bisync aws; do
  for x in "${TOOLS[@]}"; do [ "$x" = "$t" ] && PEERS+=("$t"); done
done
has() { local x; for x in "${TOOLS[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
is_pail() { [ "$1" = pail ] || [ "$1" = pail_enc ]; }
LINES=(small nochange edits fresh big)

# ---- prerequisites ------------------------------------------------------------------------------
VENV=$PAIL_TS_VENV
if has pail; then
  PAIL=${PAIL:-$ROOT/target/release/pail}
  [ -x "$PAIL" ] || { echo "no pail binary at $PAIL: cargo build --release -p pail (or set PAIL=...)" >&2; exit 1; }
  case $PAIL in *debug*) echo "WARNING: $PAIL looks like a debug build; its timings mean little" >&2 ;; esac
fi
if has ceiling; then
  if [ -z "${CEILING:-}" ]; then
    for c in "${CARGO_TARGET_DIR:-$ROOT/target}/profiling/s3-ceiling" "$ROOT/target/profiling/s3-ceiling" \
        "$ROOT/target/release/s3-ceiling"; do
      if [ -x "$c" ]; then CEILING=$c; break; fi
    done
  fi
  [ -x "${CEILING:-}" ] || { echo "no s3-ceiling binary: cargo build --profile profiling -p pail-ceiling (or set CEILING=...)" >&2; exit 1; }
  case $CEILING in *debug*) echo "WARNING: $CEILING looks like a debug build; its timings mean little" >&2 ;; esac
fi
if { has rclone_copy || has rclone_copy16; } && ! command -v rclone >/dev/null; then
  apt-get install -y --no-install-recommends rclone >/dev/null
fi
if has pail && ! command -v strace >/dev/null; then
  apt-get install -y --no-install-recommends strace >/dev/null
fi
if [ ! -x "$VENV/bin/aws" ] || ! command -v radosgw >/dev/null; then
  bash "$ROOT/tests/servers/install.sh" >&2
fi

WORK=$(mktemp -d /tmp/pail-bench.XXXXXX)
RUN=$(date +%H%M%S)$RANDOM   # makes every prefix of this run unique
STARTED_SHARED=0 PRIVATE_CEPH=''
cleanup() {
  local rc=$?
  set +e
  if [ -n "$PRIVATE_CEPH" ]; then
    CEPH_DIR=$PRIVATE_CEPH CEPH_KEEP=$KEEP bash "$ROOT/tests/servers/ceph.sh" down >/dev/null 2>&1
  fi
  [ "$STARTED_SHARED" = 1 ] && bash "$ROOT/tests/servers/stop.sh" >&2
  if [ "$KEEP" = 1 ]; then echo "scratch dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the S3 server ------------------------------------------------------------------------------
VERSIONED=1 RGWLOG='' REGION=us-east-1 RCLONE_PROVIDER=Ceph BUCKET=pail-bench
if [ "$SHARED" = 1 ]; then
  export PAIL_TEST_SERVERS_DIR=${PAIL_TEST_SERVERS_DIR:-/tmp/pail-test-servers}
  if [ ! -f "$PAIL_TEST_SERVERS_DIR/env" ]; then
    bash "$ROOT/tests/servers/start.sh" "$SERVER" >&2
    STARTED_SHARED=1
  fi
  # shellcheck disable=SC1091
  . "$PAIL_TEST_SERVERS_DIR/env"
  if [ "$SERVER" = garage ]; then
    [ -n "${PAIL_TEST_GARAGE_ENDPOINT:-}" ] || { echo "the running test servers have no garage" >&2; exit 1; }
    EP=$PAIL_TEST_GARAGE_ENDPOINT AK=$PAIL_TEST_GARAGE_ACCESS_KEY SK=$PAIL_TEST_GARAGE_SECRET_KEY
    REGION=$PAIL_TEST_GARAGE_REGION BUCKET=$PAIL_TEST_GARAGE_BUCKET VERSIONED=0 RCLONE_PROVIDER=Other
  else
    [ -n "${PAIL_TEST_CEPH_ENDPOINT:-}" ] || { echo "the running test servers have no ceph" >&2; exit 1; }
    EP=$PAIL_TEST_CEPH_ENDPOINT AK=$PAIL_TEST_CEPH_ACCESS_KEY SK=$PAIL_TEST_CEPH_SECRET_KEY
    RGWLOG=$PAIL_TEST_SERVERS_DIR/ceph/log/client.rgw.a.log
  fi
else
  PRIVATE_CEPH=$WORK/ceph
  PORT=${BENCH_CEPH_RGW_PORT:-18480}
  # the RGW frees deleted data only after rgw_gc_obj_min_wait (2 h): room for every big upload
  # (and the warm-up's)
  BLUESTORE=$(( ((ROUNDS * ${#TOOLS[@]} + 1) * BIG_MB + 4096) * 1048576 ))
  [ $BLUESTORE -ge 10737418240 ] || BLUESTORE=10737418240
  AK=PAILBENCHACCESS00001 SK=pailbenchsecret000000000000000000000001
  log bench "starting a private Ceph RGW (bluestore) on 127.0.0.1:$PORT in $PRIVATE_CEPH"
  CEPH_DIR=$PRIVATE_CEPH CEPH_OSD_BACKEND=bluestore CEPH_RGW_PORT=$PORT \
    CEPH_MON_PORT=${BENCH_CEPH_MON_PORT:-14300} CEPH_OSD_PORT_MIN=18800 CEPH_OSD_PORT_MAX=18899 \
    CEPH_ACCESS_KEY=$AK CEPH_SECRET_KEY=$SK CEPH_BLUESTORE_BYTES=$BLUESTORE \
    bash "$ROOT/tests/servers/ceph.sh" up
  EP=http://127.0.0.1:$PORT
  RGWLOG=$PRIVATE_CEPH/log/client.rgw.a.log
fi

# ---- one environment for every tool: no CA bundle, no profile, no config in $HOME -------------
clean_env
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_STATE_HOME=$WORK/home/.local/state \
  XDG_DATA_HOME=$WORK/home/.local/share XDG_CACHE_HOME=$WORK/home/.cache
mkdir -p "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME"
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=$REGION AWS_REGION=$REGION \
  AWS_EC2_METADATA_DISABLED=true AWS_PAGER='' \
  AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
: >"$AWS_SHARED_CREDENTIALS_FILE"
{
  printf '[default]\ns3 =\n    addressing_style = path\n'
  [ -z "${BENCH_AWS_CONCURRENCY:-}" ] || printf '    max_concurrent_requests = %s\n' "$BENCH_AWS_CONCURRENCY"
} >"$AWS_CONFIG_FILE"
export RCLONE_CONFIG=$WORK/rclone-none.conf RCLONE_CONFIG_BENCH_TYPE=s3 \
  RCLONE_CONFIG_BENCH_PROVIDER=$RCLONE_PROVIDER RCLONE_CONFIG_BENCH_ENDPOINT=$EP \
  RCLONE_CONFIG_BENCH_REGION=$REGION RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AK \
  RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$SK RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
AWS=("$VENV/bin/aws" --endpoint-url "$EP")
CEIL=("${CEILING:-}" --endpoint "$EP" --region "$REGION" --concurrency "$CC")
# the encrypted pair's passphrase (read by init only), and its key kept in the state dir's 0600
# file: the scratch HOME has no keyring
[ "$ENCRYPT" = 0 ] || export PAIL_PASSPHRASE=pail-bench-passphrase PAIL_NO_KEYRING=1
# pail's timed runs log one line per S3 request attempt (requests per file), warnings as usual
PAIL_LOG_REQUESTS='error,pail=warn,pail::requests=debug'

write_s3tool
s3tool setup

# ---- data ---------------------------------------------------------------------------------------
log bench "generating $FILES files of 4 KiB and one file of $BIG_MB MiB in $WORK/data"
mkdir -p "$WORK/data/small" "$WORK/data/big" "$WORK/logs" "$WORK/dirs"
"$VENV/bin/python" - "$WORK/data/small" "$FILES" "$EDITS" "$WORK/edits.txt" <<'PY'
import os, sys
root, n, edits, listing = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rel = lambda i: f"d{i // 100:03d}/f{i % 100:03d}.bin"
for i in range(n):
    d = os.path.join(root, f"d{i // 100:03d}")
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(root, rel(i)), "wb") as f:
        f.write(os.urandom(4096))
# the edited files: spread evenly over the folder
with open(listing, "w") as f:
    f.write("".join(rel(k * n // edits) + "\n" for k in range(edits)))
PY
head -c $((BIG_MB * 1048576)) /dev/urandom >"$WORK/data/big/big.bin"
# On disk before anything is timed: the kernel's writeback of 1 GiB of fresh data would
# otherwise run during round 1's first line (that line was 10-20% slower than the others)
sync
sleep 3  # past the index's 2 s racy-timestamp window (pail-index scan.rs), with a margin
# A fresh server's first writes are slower: on a new Garage, round 1's first line took 10-25%
# longer than the same tool's later rounds, whichever tool it was, and the first big file
# 20-50%. One untimed upload of the small files and of the big one (the ceiling's), removed
# again, puts every timed line on a warm server.
if [ -x "${CEILING:-}" ]; then
  log bench "warming the server up: one untimed upload of the small files and the big one, then their removal"
  { "${CEIL[@]}" put-dir "$WORK/data/small" "s3://$BUCKET/b$RUN-warmup" \
      && "${CEIL[@]}" put-file "$WORK/data/big/big.bin" "s3://$BUCKET/b$RUN-warmup/big.bin" --part-size "$PART_MB"; } \
    >"$WORK/logs/warmup.log" 2>&1 || log bench "WARNING: the warm-up upload failed (see $WORK/logs/warmup.log)"
  s3tool rm "b$RUN-warmup" || log bench "WARNING: could not clean s3://$BUCKET/b$RUN-warmup"
fi

# ---- measuring ----------------------------------------------------------------------------------
declare -A Q     # Q[line,tool] = S3 requests by kind, from the RGW log (round 1)
declare -A P     # P[line,tool] = pail's own request count (round 1, plain or encrypted)
declare -A K PO  # K[line] = the ceiling's; PO[line,tool]: pail's requests by operation
ROUND=1

# obj_bytes TOOL SIZE: the object size of a file of SIZE bytes as TOOL stores it: the age file
# of doc/ENCRYPTION.md (168-byte header, 16-byte nonce, a 16-byte tag per 64 KiB chunk) for
# the encrypted pair
obj_bytes() {
  if [ "$1" = pail_enc ]; then echo $(( 184 + $2 + 16 * ($2 > 0 ? ($2 + 65535) / 65536 : 1) ))
  else echo "$2"; fi
}

# verify PREFIX N BYTES: the tool really uploaded what it should have
verify() {
  local got
  got=$(s3tool count "$1")
  [ "$got" = "$2 $3" ] || log bench "WARNING: s3://$BUCKET/$1 holds '$got' (objects bytes), expected '$2 $3'"
}
# verify_dir DIR N BYTES: the tool really downloaded it
verify_dir() {
  local got
  got=$(find "$1" -type f -printf '%s\n' | awk '{ n++; s += $1 } END { printf "%d %d", n, s }')
  [ "$got" = "$2 $3" ] || log bench "WARNING: $1 holds '$got' (files bytes), expected '$2 $3'"
}

pail_env() { PENV=(env PAIL_CONFIG="$WORK/pail/$1/config.toml" PAIL_STATE_DIR="$WORK/pail/$1/state"); }
pail_init() {  # DIR PREFIX STATE-NAME DEVICE TOOL (pail_enc: an encrypted pair)
  local enc=()
  [ "$5" = pail ] || enc=(--encrypt)
  mkdir -p "$WORK/pail/$3"
  pail_env "$3"
  "${PENV[@]}" "$PAIL" init "$1" "s3://$BUCKET/$2" --endpoint "$EP" --region "$REGION" --device "$4" \
    "${enc[@]}" >"$WORK/logs/init-$3.log" 2>&1 || { log bench "ERROR: pail init failed:"; cat "$WORK/logs/init-$3.log" >&2; return 1; }
}

# cmd_for LINE TOOL DIR PREFIX: sets CMD, the tool's natural command for LINE between DIR and
# s3://BUCKET/PREFIX (fresh: PREFIX into the empty DIR)
cmd_for() {
  local line=$1 tool=$2 dir=$3 prefix=$4 url=s3://$BUCKET/$4
  case $tool in
    pail|pail_enc)
      if [ "$line" = fresh ]; then pail_env "$prefix-fresh"; else pail_env "$prefix"; fi
      CMD=("${PENV[@]}" PAIL_LOG="$PAIL_LOG_REQUESTS" "$PAIL" sync) ;;
    rclone_copy|rclone_copy16)
      if [ "$line" = fresh ]; then CMD=(rclone copy -q "bench:$BUCKET/$prefix" "$dir")
      else CMD=(rclone copy -q "$dir" "bench:$BUCKET/$prefix"); fi
      [ "$tool" = rclone_copy ] || CMD+=(--transfers 16) ;;
    rclone_bisync)
      CMD=(rclone bisync -q --workdir "$WORK/bisync/$prefix" "$dir" "bench:$BUCKET/$prefix")
      # a first run (and a new device) needs --resync; the others must do without
      if [ "$line" = small ] || [ "$line" = big ]; then CMD+=(--resync); fi
      if [ "$line" = fresh ]; then CMD=(rclone bisync -q --workdir "$WORK/bisync/$prefix-fresh" \
        "$dir" "bench:$BUCKET/$prefix" --resync); fi ;;
    aws)
      if [ "$line" = fresh ]; then CMD=("${AWS[@]}" s3 sync --quiet --no-progress "$url" "$dir")
      else CMD=("${AWS[@]}" s3 sync --quiet --no-progress "$dir" "$url"); fi ;;
    ceiling)
      case $line in
        small) CMD=("${CEIL[@]}" put-dir "$dir" "$url") ;;
        nochange) CMD=("${CEIL[@]}" list "$url") ;;
        edits) CMD=("${CEIL[@]}" put-keys "$dir" "$url" --only "$WORK/edits.txt") ;;
        fresh) CMD=("${CEIL[@]}" get-prefix "$url" "$dir") ;;
        big) CMD=("${CEIL[@]}" put-file "$dir/big.bin" "$url/big.bin" --part-size "$PART_MB") ;;
      esac ;;
  esac
}

# measure LINE TOOL DIR PREFIX: times the line; in round 1 also its requests
measure() {
  local line=$1 tool=$2 off rc=0 log
  cmd_for "$@"
  off=$(logsize)
  timed "$line" "$tool" "$4" "${CMD[@]}" || rc=$?
  if [ "$ROUND" = 1 ]; then
    Q[$line,$tool]=$(rgw_requests "$off" "$4")
    log=$WORK/logs/$line-$tool-r$ROUND.log
    case $tool in
      pail|pail_enc) P[$line,$tool]=$(grep -c 's3 request' "$log" || true) PO[$line,$tool]=$(pail_ops "$log") ;;
      ceiling) K[$line]=$(grep -o '"requests":[0-9]*' "$log" | cut -d: -f2 || true) ;;
    esac
  fi
  return $rc
}

PAIL_SELF='' PAIL_OPENS='' PAIL_READS=''
# pail_nochange_checks PREFIX DIR: pail's request count by kind, and the files of the folder
# it opens or reads under strace
pail_nochange_checks() {
  local prefix=$1 dir=$2 st=$WORK/logs/nochange-pail.strace log=$WORK/logs/nochange-pail-r1.log
  local all lists
  all=$(grep -c 's3 request' "$log" || true)
  lists=$(grep 's3 request' "$log" | grep -c 'ListObject' || true)
  if [ "$all" = 0 ]; then PAIL_SELF="n/a (no pail::requests events in this build)"
  else PAIL_SELF="$lists LIST of $all requests (by op: $(pail_ops "$log"))"
  fi
  pail_env "$prefix"
  # -y prints the path behind every fd: opens whose result is a regular file under DIR, and
  # reads on such fds
  if strace -f -qq -y -e trace=open,openat,openat2,read,pread64,readv,preadv,preadv2 -o "$st" \
      "${PENV[@]}" "$PAIL" sync >/dev/null 2>&1; then
    PAIL_OPENS=$(grep -E '^[0-9]+ +open' "$st" | grep -F "= " | grep -F "<$dir/" | grep -F ">" \
      | grep -E "= [0-9]+<$dir/" | grep -vcE 'O_DIRECTORY|O_PATH|O_WRONLY' || true)
    PAIL_READS=$(grep -cE '^[0-9]+ +(read|readv|pread64|preadv|preadv2)\([0-9]+<'"$dir"'/' "$st" || true)
  else
    PAIL_OPENS="n/a (strace run failed)" PAIL_READS=
  fi
}

# edit_files DIR: new random content, same size, for every file of edits.txt
edit_files() {
  "$VENV/bin/python" - "$1" "$WORK/edits.txt" <<'PY'
import os, sys
for rel in open(sys.argv[2]).read().split():
    with open(os.path.join(sys.argv[1], rel), "wb") as f:
        f.write(os.urandom(4096))
PY
}

# one_tool TOOL: every line for TOOL, each into a fresh prefix, cleaned up after
one_tool() {
  local tool=$1 dir prefix fresh small_bytes big_bytes
  small_bytes=$((FILES * $(obj_bytes "$tool" 4096))) big_bytes=$(obj_bytes "$tool" $((BIG_MB * 1048576)))
  dir=$WORK/dirs/$tool prefix=b$RUN-r$ROUND-$tool-small
  prefix=${prefix//_/-}
  rm -rf "$dir" && cp -a "$WORK/data/small" "$dir"   # this tool's copy: the edits change it
  sync  # the copy's writeback done before the timing, as after generating the data
  # The copy's ctimes are now: a stat recorded within 2 s of them is not trusted (the index's
  # racy-timestamp window), so a quick upload would leave files for the no-change line to read
  sleep 3
  if is_pail "$tool" && ! pail_init "$dir" "$prefix" "$prefix" bench "$tool"; then
    for l in small nochange edits fresh; do R[$l,$tool,$ROUND]=FAIL; done
  elif measure small "$tool" "$dir" "$prefix"; then
    verify "$prefix" "$FILES" "$small_bytes"
    measure nochange "$tool" "$dir" "$prefix" || true
    if [ "$tool" = pail ] && [ "$ROUND" = 1 ]; then pail_nochange_checks "$prefix" "$dir"; fi
    edit_files "$dir"
    sleep 3  # as after generating the data: the edits' mtimes age past any racy window
    measure edits "$tool" "$dir" "$prefix" && verify "$prefix" "$FILES" "$small_bytes"
    fresh=$WORK/dirs/$tool-fresh
    rm -rf "$fresh" && mkdir -p "$fresh"
    if ! is_pail "$tool" || pail_init "$fresh" "$prefix" "$prefix-fresh" bench-fresh "$tool"; then
      measure fresh "$tool" "$fresh" "$prefix" && verify_dir "$fresh" "$FILES" $((FILES * 4096))
    else
      R[fresh,$tool,$ROUND]=FAIL
    fi
    rm -rf "$fresh"
  else
    for l in nochange edits fresh; do R[$l,$tool,$ROUND]=skipped; done
  fi
  rm -rf "$dir" "$WORK/pail/$prefix" "$WORK/pail/$prefix-fresh"
  s3tool rm "$prefix" || log bench "WARNING: could not clean s3://$BUCKET/$prefix"

  dir=$WORK/data/big prefix=b$RUN-r$ROUND-$tool-big
  prefix=${prefix//_/-}
  if ! is_pail "$tool" || pail_init "$dir" "$prefix" "$prefix" bench "$tool"; then
    if measure big "$tool" "$dir" "$prefix"; then verify "$prefix" 1 "$big_bytes"; fi
  else
    R[big,$tool,$ROUND]=FAIL
  fi
  rm -rf "$WORK/pail/$prefix"
  s3tool rm "$prefix" || log bench "WARNING: could not clean s3://$BUCKET/$prefix"
}

NT=${#TOOLS[@]}
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  for ((i = 0; i < NT; i++)); do
    one_tool "${TOOLS[$(( (i + ROUND - 1) % NT ))]}"
  done
done

# ---- report -------------------------------------------------------------------------------------
# shellcheck source=run-report.sh disable=SC1091
. "$ROOT/bench/run-report.sh"
