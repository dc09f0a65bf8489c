#!/usr/bin/env bash
# One-shot sync benchmark: pail against rclone copy, rclone bisync and aws s3 sync, all on the same
# local Ceph RGW (see bench/README.md). Lines:
#   1. initial upload of 10,000 files of 4 KiB (100 dirs x 100 files, random content)
#   2. upload of one 1 GiB file
#   3. no-change re-sync of the 10,000 files: time, S3 requests by kind (from the RGW's access
#      log, for every tool), and for pail its own request count and the files of the folder it
#      opens or reads (strace; must be 0)
#
#   bench/run.sh [--quick] [--only pail|rclone|aws[,...]] [--shared] [--keep]
#     --quick    1,000 files and 100 MiB
#     --only     run only these tools (rclone = copy and bisync); may be repeated
#     --shared   use the test servers' Ceph (tests/servers/start.sh ceph, started if not running)
#                instead of a private one (default: a private bluestore Ceph on 127.0.0.1:18480,
#                started and stopped here: no other test's traffic in the timings or the request
#                counts, and no 1 GiB uploads filling the test servers' 4 GiB memstore)
#     --keep     keep the scratch dir (logs, strace output) and print its path
# Environment: PAIL (binary; default target/release/pail), BENCH_BIG_MB, BENCH_FILES,
#   RCLONE_TRANSFERS / RCLONE_CHECKERS (rclone's own), BENCH_AWS_CONCURRENCY (aws s3
#   max_concurrent_requests). Tools run with their default settings otherwise.
# Not part of the test run: figures depend on the machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tests/servers/lib.sh disable=SC1091
. "$ROOT/tests/servers/lib.sh"   # clean_env, PAIL_TS_VENV, log

FILES=10000 BIG_MB=1024 SHARED=0 KEEP=0 ONLY=()
usage() { sed -n '2,22p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --quick) FILES=1000 BIG_MB=100; shift ;;
    --only) [ $# -ge 2 ] || usage; IFS=, read -ra o <<<"$2"; ONLY+=("${o[@]}"); shift 2 ;;
    --only=*) IFS=, read -ra o <<<"${1#--only=}"; ONLY+=("${o[@]}"); shift ;;
    --shared) SHARED=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
FILES=${BENCH_FILES:-$FILES} BIG_MB=${BENCH_BIG_MB:-$BIG_MB}
[ ${#ONLY[@]} -gt 0 ] || ONLY=(pail rclone aws)
TOOLS=()
for t in "${ONLY[@]}"; do
  case $t in
    pail) TOOLS+=(pail) ;;
    rclone) TOOLS+=(rclone_copy rclone_bisync) ;;
    aws) TOOLS+=(aws) ;;
    *) echo "--only takes pail, rclone or aws, not '$t'" >&2; exit 2 ;;
  esac
done
has() { local x; for x in "${TOOLS[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

# ---- prerequisites ------------------------------------------------------------------------------
VENV=$PAIL_TS_VENV
if has pail; then
  PAIL=${PAIL:-$ROOT/target/release/pail}
  [ -x "$PAIL" ] || { echo "no pail binary at $PAIL: cargo build --release -p pail (or set PAIL=...)" >&2; exit 1; }
  case $PAIL in *debug*) echo "WARNING: $PAIL looks like a debug build; its timings mean little" >&2 ;; esac
fi
if has rclone_copy && ! command -v rclone >/dev/null; then
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
if [ "$SHARED" = 1 ]; then
  export PAIL_TEST_SERVERS_DIR=${PAIL_TEST_SERVERS_DIR:-/tmp/pail-test-servers}
  if [ ! -f "$PAIL_TEST_SERVERS_DIR/env" ]; then
    bash "$ROOT/tests/servers/start.sh" ceph >&2
    STARTED_SHARED=1
  fi
  # shellcheck disable=SC1091
  . "$PAIL_TEST_SERVERS_DIR/env"
  [ -n "${PAIL_TEST_CEPH_ENDPOINT:-}" ] || { echo "the running test servers have no ceph" >&2; exit 1; }
  EP=$PAIL_TEST_CEPH_ENDPOINT AK=$PAIL_TEST_CEPH_ACCESS_KEY SK=$PAIL_TEST_CEPH_SECRET_KEY
  RGWLOG=$PAIL_TEST_SERVERS_DIR/ceph/log/client.rgw.a.log
else
  PRIVATE_CEPH=$WORK/ceph
  PORT=${BENCH_CEPH_RGW_PORT:-18480}
  # the RGW frees deleted data only after rgw_gc_obj_min_wait (2 h): room for every big upload
  BLUESTORE=$(( (4 * BIG_MB + 4096) * 1048576 )); [ $BLUESTORE -ge 10737418240 ] || BLUESTORE=10737418240
  AK=PAILBENCHACCESS00001 SK=pailbenchsecret000000000000000000000001
  log bench "starting a private Ceph RGW (bluestore) on 127.0.0.1:$PORT in $PRIVATE_CEPH"
  CEPH_DIR=$PRIVATE_CEPH CEPH_OSD_BACKEND=bluestore CEPH_RGW_PORT=$PORT \
    CEPH_MON_PORT=${BENCH_CEPH_MON_PORT:-14300} CEPH_OSD_PORT_MIN=18800 CEPH_OSD_PORT_MAX=18899 \
    CEPH_ACCESS_KEY=$AK CEPH_SECRET_KEY=$SK CEPH_BLUESTORE_BYTES=$BLUESTORE \
    bash "$ROOT/tests/servers/ceph.sh" up
  EP=http://127.0.0.1:$PORT
  RGWLOG=$PRIVATE_CEPH/log/client.rgw.a.log
fi
BUCKET=pail-bench

# ---- one environment for every tool: no CA bundle, no profile, no config in $HOME -------------
clean_env
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_STATE_HOME=$WORK/home/.local/state \
  XDG_DATA_HOME=$WORK/home/.local/share XDG_CACHE_HOME=$WORK/home/.cache
mkdir -p "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME"
export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true AWS_PAGER='' \
  AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
: >"$AWS_SHARED_CREDENTIALS_FILE"
{
  printf '[default]\ns3 =\n    addressing_style = path\n'
  [ -z "${BENCH_AWS_CONCURRENCY:-}" ] || printf '    max_concurrent_requests = %s\n' "$BENCH_AWS_CONCURRENCY"
} >"$AWS_CONFIG_FILE"
export RCLONE_CONFIG=$WORK/rclone-none.conf RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Ceph \
  RCLONE_CONFIG_BENCH_ENDPOINT=$EP RCLONE_CONFIG_BENCH_REGION=us-east-1 \
  RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AK RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$SK \
  RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
AWS=("$VENV/bin/aws" --endpoint-url "$EP")

# s3tool.py: bucket setup, verification and version-aware cleanup (boto3 from the test venv)
cat >"$WORK/s3tool.py" <<'PY'
import sys, boto3
from botocore.config import Config
ep, bucket, cmd = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(s3={"addressing_style": "path"}))
if cmd == "setup":
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
elif cmd == "count":  # current objects and bytes under PREFIX/, pail's own .pail/ keys excluded
    prefix = sys.argv[4] + "/"
    n = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            if not o["Key"][len(prefix):].startswith(".pail/"):
                n += 1; size += o["Size"]
    print(n, size)
elif cmd == "rm":  # every version and delete marker under PREFIX/
    prefix = sys.argv[4] + "/"
    batch = []
    def flush():
        if batch:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            batch.clear()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            batch.append({"Key": v["Key"], "VersionId": v["VersionId"]})
            if len(batch) == 1000:
                flush()
    flush()
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for u in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
PY
s3tool() { "$VENV/bin/python" "$WORK/s3tool.py" "$EP" "$BUCKET" "$@"; }
s3tool setup

# ---- data ---------------------------------------------------------------------------------------
log bench "generating $FILES files of 4 KiB and one file of $BIG_MB MiB in $WORK/data"
mkdir -p "$WORK/data/small" "$WORK/data/big" "$WORK/logs"
"$VENV/bin/python" - "$WORK/data/small" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 100:03d}")
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i % 100:03d}.bin"), "wb") as f:
        f.write(os.urandom(4096))
PY
head -c $((BIG_MB * 1048576)) /dev/urandom >"$WORK/data/big/big.bin"
sleep 2  # let the mtimes age past any racy-timestamp window

# ---- measuring ----------------------------------------------------------------------------------
declare -A R   # R[line,tool] = seconds, or FAIL
declare -A Q   # Q[tool] = request counts of the no-change run
now() { date +%s.%N; }
logsize() { stat -c %s "$RGWLOG" 2>/dev/null || echo 0; }

# rgw_requests OFFSET PREFIX: S3 requests logged by the RGW since OFFSET (beast access lines);
# on a shared server only those naming PREFIX (bucket-level requests are then not counted)
rgw_requests() {
  local off=$1 prefix=$2 lines last=-1 cur
  [ -r "$RGWLOG" ] || { echo "n/a (no RGW log)"; return; }
  # the RGW logs asynchronously: wait until the log stops growing
  for _ in 1 2 3 4 5 6 7 8 9 10; do cur=$(logsize); [ "$cur" = "$last" ] && break; last=$cur; sleep 0.3; done
  lines=$(tail -c +$((off + 1)) "$RGWLOG" | grep ' beast: ' | grep -o '"[A-Z]* /[^ ]* HTTP' || true)
  [ "$SHARED" = 1 ] && lines=$(grep -F "$prefix" <<<"$lines" || true)
  awk '
    { m = substr($1, 2); u = $2; total++ }
    # a GET on the bucket itself, plain or with listing parameters, is a LIST (v1, v2 or versions)
    m == "GET" && u ~ /^\/[^\/?]+\/?(\?|$)/ && (u !~ /\?/ || u ~ /[?&](list-type|prefix|delimiter|marker|max-keys|versions|encoding-type|continuation-token|key-marker)/) { list++; next }
    { op[m]++ }
    END {
      printf "%d LIST, %d HEAD, %d GET, %d PUT/POST, %d DELETE, %d total\n",
        list, op["HEAD"], op["GET"], op["PUT"] + op["POST"], op["DELETE"], total
    }' <<<"$lines"
}

# timed LINE TOOL PREFIX CMD...: runs CMD, stores its wall time in R[LINE,TOOL]
timed() {
  local line=$1 tool=$2 prefix=$3; shift 3
  local out=$WORK/logs/$line-$tool.log t0 t1 rc=0
  t0=$(now)
  "$@" >"$out" 2>&1 || rc=$?
  t1=$(now)
  if [ $rc = 0 ]; then
    R[$line,$tool]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  else
    R[$line,$tool]=FAIL
    log bench "ERROR: $tool ($line, s3://$BUCKET/$prefix) exited $rc; last lines of $out:"
    tail -n 15 "$out" >&2
  fi
  log bench "$line $tool: ${R[$line,$tool]} s"
  return $rc
}

# verify PREFIX N BYTES: the tool really uploaded what it should have
verify() {
  local got
  got=$(s3tool count "$1")
  [ "$got" = "$2 $3" ] || log bench "WARNING: s3://$BUCKET/$1 holds '$got' (objects bytes), expected '$2 $3'"
}

# sync_cmd TOOL DIR PREFIX [first]: the command that syncs DIR into PREFIX
sync_cmd() {
  local tool=$1 dir=$2 prefix=$3 first=${4:-}
  case $tool in
    pail) CMD=(env PAIL_CONFIG="$WORK/pail/$prefix/config.toml" PAIL_STATE_DIR="$WORK/pail/$prefix/state" "$PAIL" sync) ;;
    rclone_copy) CMD=(rclone copy -q "$dir" "bench:$BUCKET/$prefix") ;;
    rclone_bisync)
      CMD=(rclone bisync -q --workdir "$WORK/bisync/$prefix" "$dir" "bench:$BUCKET/$prefix")
      if [ -n "$first" ]; then CMD+=(--resync); fi ;;
    aws) CMD=("${AWS[@]}" s3 sync --quiet --no-progress "$dir" "s3://$BUCKET/$prefix") ;;
  esac
}

pail_init() {  # DIR PREFIX
  mkdir -p "$WORK/pail/$2"
  PAIL_CONFIG="$WORK/pail/$2/config.toml" PAIL_STATE_DIR="$WORK/pail/$2/state" \
    "$PAIL" init "$1" "s3://$BUCKET/$2" --endpoint "$EP" --region us-east-1 --device bench \
    >"$WORK/logs/init-$2.log" 2>&1 || { log bench "ERROR: pail init failed:"; cat "$WORK/logs/init-$2.log" >&2; return 1; }
}

PAIL_SELF='' PAIL_OPENS='' PAIL_READS=''
# pail_nochange_checks PREFIX DIR: pail's own request count, then file opens/reads under strace
pail_nochange_checks() {
  local prefix=$1 dir=$2 st=$WORK/logs/nochange-pail.strace
  local env=(env PAIL_CONFIG="$WORK/pail/$prefix/config.toml" PAIL_STATE_DIR="$WORK/pail/$prefix/state")
  if "${env[@]}" PAIL_LOG=pail::requests=debug "$PAIL" sync >"$WORK/logs/nochange-pail-requests.log" 2>&1; then
    local all lists
    all=$(grep -c 's3 request' "$WORK/logs/nochange-pail-requests.log" || true)
    lists=$(grep 's3 request' "$WORK/logs/nochange-pail-requests.log" | grep -c 'ListObject' || true)
    if [ "$all" = 0 ]; then PAIL_SELF="n/a (no pail::requests events in this build)"
    else PAIL_SELF="$lists LIST of $all requests (by op: $(grep -o 'op="\?[A-Za-z0-9]*' "$WORK/logs/nochange-pail-requests.log" | tr -d '"' | sort | uniq -c | awk '{printf "%s%s %s", s, $1, substr($2, 4); s = ", "}'))"
    fi
  else
    PAIL_SELF="n/a (pail sync with PAIL_LOG failed)"
  fi
  # -y prints the path behind every fd: opens whose result is a regular file under DIR, and
  # reads on such fds
  if strace -f -qq -y -e trace=open,openat,openat2,read,pread64,readv,preadv,preadv2 -o "$st" \
      "${env[@]}" "$PAIL" sync >/dev/null 2>&1; then
    PAIL_OPENS=$(grep -E '^[0-9]+ +open' "$st" | grep -F "= " | grep -F "<$dir/" | grep -F ">" \
      | grep -E "= [0-9]+<$dir/" | grep -vcE 'O_DIRECTORY|O_PATH|O_WRONLY' || true)
    PAIL_READS=$(grep -cE '^[0-9]+ +(read|readv|pread64|preadv|preadv2)\([0-9]+<'"$dir"'/' "$st" || true)
  else
    PAIL_OPENS="n/a (strace run failed)" PAIL_READS=
  fi
}

# line SMALL: initial upload + no-change re-sync; line BIG: upload
for tool in "${TOOLS[@]}"; do
  # -- 1 and 3: the small files
  dir=$WORK/data/small prefix=b$RUN-$tool-small
  prefix=${prefix//_/-}
  if [ "$tool" != pail ] || pail_init "$dir" "$prefix"; then
    sync_cmd "$tool" "$dir" "$prefix" first
    if timed small "$tool" "$prefix" "${CMD[@]}"; then
      verify "$prefix" "$FILES" $((FILES * 4096))
      sync_cmd "$tool" "$dir" "$prefix"
      off=$(logsize)
      timed nochange "$tool" "$prefix" "${CMD[@]}" || true
      Q[$tool]=$(rgw_requests "$off" "$prefix")
      if [ "$tool" = pail ]; then pail_nochange_checks "$prefix" "$dir"; fi
    else
      R[nochange,$tool]=skipped
    fi
  else
    R[small,$tool]=FAIL R[nochange,$tool]=skipped
  fi
  s3tool rm "$prefix" || log bench "WARNING: could not clean s3://$BUCKET/$prefix"

  # -- 2: the big file
  dir=$WORK/data/big prefix=b$RUN-$tool-big
  prefix=${prefix//_/-}
  if [ "$tool" != pail ] || pail_init "$dir" "$prefix"; then
    sync_cmd "$tool" "$dir" "$prefix" first
    if timed big "$tool" "$prefix" "${CMD[@]}"; then verify "$prefix" 1 $((BIG_MB * 1048576)); fi
  else
    R[big,$tool]=FAIL
  fi
  s3tool rm "$prefix" || log bench "WARNING: could not clean s3://$BUCKET/$prefix"
done

# ---- report -------------------------------------------------------------------------------------
echo
echo "pail sync benchmark, $(date -Is), $(nproc) cores, server $EP ($([ "$SHARED" = 1 ] && echo shared test Ceph RGW, memstore || echo private Ceph RGW, bluestore))"
has pail && echo "pail: $PAIL ($("$PAIL" --version 2>/dev/null))"
has rclone_copy && echo "rclone: $(rclone version 2>/dev/null | head -1), transfers=${RCLONE_TRANSFERS:-default 4}, checkers=${RCLONE_CHECKERS:-default 8}"
has aws && echo "aws: $("${AWS[@]}" --version 2>&1), max_concurrent_requests=${BENCH_AWS_CONCURRENCY:-default 10}"
echo
echo "| line | pail s | rclone copy s | rclone bisync s | aws s3 sync s | pail / fastest other |"
echo "|---|---|---|---|---|---|"
for line in small big nochange; do
  case $line in
    small) name="initial upload, $FILES x 4 KiB" ;;
    big) name="upload, 1 x $BIG_MB MiB" ;;
    nochange) name="no-change re-sync, $FILES files" ;;
  esac
  best=
  for t in rclone_copy rclone_bisync aws; do
    v=${R[$line,$t]:--}
    [[ $v =~ ^[0-9.]+$ ]] || continue
    if [ -z "$best" ] || awk -v a="$v" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$v; fi
  done
  p=${R[$line,pail]:--} ratio=-
  if [[ $p =~ ^[0-9.]+$ ]] && [ -n "$best" ]; then
    ratio=$(awk -v a="$p" -v b="$best" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  fi
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$p" "${R[$line,rclone_copy]:--}" \
    "${R[$line,rclone_bisync]:--}" "${R[$line,aws]:--}" "$ratio"
done
echo
echo "S3 requests of the no-change re-sync (from the RGW access log$([ "$SHARED" = 1 ] && echo ', requests naming the prefix only')):"
for t in "${TOOLS[@]}"; do printf '  %-14s %s\n' "$t" "${Q[$t]:-n/a}"; done
if has pail; then
  echo "pail's own count (PAIL_LOG=pail::requests=debug): ${PAIL_SELF:-n/a}"
  echo "files of the folder pail opened for reading / read() calls on them (strace, must be 0): ${PAIL_OPENS:-n/a} / ${PAIL_READS:-n/a}"
fi
