#!/usr/bin/env bash
# First benchmark of one-shot sync (issue 2), against the local Ceph RGW of the test suite:
#
#   1. initial upload of 10,000 files of 4 KiB
#   2. upload of one 1 GiB file
#   3. no-change re-sync of the 10,000 files
#
# each timed for pail, rclone copy, rclone bisync (Debian's rclone) and aws s3 sync (awscli from
# the test venv), printed as a table with pail's ratio to the fastest other tool. For pail's
# no-change line it also counts the S3 requests (from pail's `pail::requests` debug events) and
# the files opened for reading (strace), which must be 0.
#
#   bench/sync.sh [--quick]      --quick: 1,000 files and 100 MiB (a fast check)
#
# Not part of the test run: figures depend on the machine. Needs: the test servers' install
# (tests/servers/install.sh), strace, a release build (built here if missing).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=10000 BIG_MB=1024
[ "${1:-}" = --quick ] && FILES=1000 BIG_MB=100

export PAIL_TEST_SERVERS_DIR=${PAIL_TEST_SERVERS_DIR:-/tmp/pail-test-servers}
STARTED=0
if [ ! -f "$PAIL_TEST_SERVERS_DIR/env" ]; then
  bash "$ROOT/tests/servers/install.sh" >&2
  bash "$ROOT/tests/servers/start.sh" ceph >&2
  STARTED=1
fi
# shellcheck disable=SC1091
. "$PAIL_TEST_SERVERS_DIR/env"
WORK=$(mktemp -d /tmp/pail-bench.XXXXXX)
cleanup() {
  rm -rf "$WORK"
  [ "$STARTED" = 1 ] && bash "$ROOT/tests/servers/stop.sh" >&2 || true
}
trap cleanup EXIT
for t in strace bc; do command -v $t >/dev/null || apt-get install -y --no-install-recommends $t >/dev/null; done
[ -x "$ROOT/target/release/pail" ] || (cd "$ROOT" && cargo build --release -p pail >&2)
PAIL=$ROOT/target/release/pail
VENV=${PAIL_TEST_VENV:-$HOME/.cache/pail-test-servers/venv}

unset AWS_CA_BUNDLE REQUESTS_CA_BUNDLE SSL_CERT_FILE CURL_CA_BUNDLE AWS_PROFILE
export AWS_ACCESS_KEY_ID=$PAIL_TEST_CEPH_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$PAIL_TEST_CEPH_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
EP=$PAIL_TEST_CEPH_ENDPOINT BUCKET=$PAIL_TEST_CEPH_BUCKET
export AWS_CONFIG_FILE=$WORK/aws-config
printf '[default]\ns3 =\n    addressing_style = path\n    max_concurrent_requests = 16\n' >"$AWS_CONFIG_FILE"
# rclone from environment variables only (no config file in $HOME).
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_CEPH_TYPE=s3 RCLONE_CONFIG_CEPH_PROVIDER=Ceph \
  RCLONE_CONFIG_CEPH_ENDPOINT=$EP RCLONE_CONFIG_CEPH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
  RCLONE_CONFIG_CEPH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY RCLONE_CONFIG_CEPH_FORCE_PATH_STYLE=true
RCLONE_FLAGS=(--transfers 16 --checkers 16 -q)

echo "generating $FILES files of 4 KiB and one file of $BIG_MB MiB in $WORK" >&2
mkdir -p "$WORK/small" "$WORK/big"
python3 - "$WORK/small" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(4096))
PY
head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$WORK/big/big.bin"
sleep 3  # let the files age past pail's racy-timestamp window

now() { date +%s.%N; }
timed() { local t0; t0=$(now); "$@" >/dev/null; echo "$(now) - $t0" | bc -l | xargs printf '%.2f'; }
cleanprefix() { "$VENV/bin/aws" --endpoint-url "$EP" s3 rm --recursive --quiet "s3://$BUCKET/$1" >/dev/null 2>&1 || true; }

# pail: a fresh config and state per line, a copy of the data (pail pairs a folder).
pail_env() { export PAIL_CONFIG=$WORK/pail-$1/config.toml PAIL_STATE_DIR=$WORK/pail-$1/state; }
pail_init() {  # NAME DIR
  pail_env "$1"
  "$PAIL" init "$2" "s3://$BUCKET/bench/$1" --endpoint "$EP" --region us-east-1 --device bench >/dev/null
}

declare -A R
run_line() {  # LINE DATA_DIR
  local line=$1 dir=$2 p
  p="pail-$line-$RANDOM"
  pail_init "$p" "$dir"
  R[$line,pail]=$(timed "$PAIL" sync)
  if [ "$line" = small ]; then
    # the no-change re-sync of the same pair, with requests and file reads counted
    R[nochange,pail]=$(timed "$PAIL" sync)
    PAIL_LOG=pail::requests=debug "$PAIL" sync 2>"$WORK/requests.log" >/dev/null
    NOCHANGE_LISTS=$(grep -c 'ListObjectsV2' "$WORK/requests.log" || true)
    NOCHANGE_OTHER=$(grep 's3 request' "$WORK/requests.log" | grep -vc 'ListObjectsV2' || true)
    strace -f -qq -e trace=openat -o "$WORK/strace.log" "$PAIL" sync >/dev/null
    NOCHANGE_READS=$(grep -c "$dir/.*O_RDONLY" "$WORK/strace.log" || true)
  fi
  cleanprefix "bench/$p"

  p="rclone-copy-$line-$RANDOM"
  R[$line,rclone_copy]=$(timed rclone copy "${RCLONE_FLAGS[@]}" "$dir" "ceph:$BUCKET/bench/$p")
  [ "$line" = small ] && R[nochange,rclone_copy]=$(timed rclone copy "${RCLONE_FLAGS[@]}" "$dir" "ceph:$BUCKET/bench/$p")
  cleanprefix "bench/$p"

  p="rclone-bisync-$line-$RANDOM"
  R[$line,rclone_bisync]=$(timed rclone bisync "${RCLONE_FLAGS[@]}" --resync --workdir "$WORK/bisync-$p" "$dir" "ceph:$BUCKET/bench/$p")
  [ "$line" = small ] && R[nochange,rclone_bisync]=$(timed rclone bisync "${RCLONE_FLAGS[@]}" --workdir "$WORK/bisync-$p" "$dir" "ceph:$BUCKET/bench/$p")
  cleanprefix "bench/$p"

  p="aws-$line-$RANDOM"
  R[$line,aws]=$(timed "$VENV/bin/aws" --endpoint-url "$EP" s3 sync --quiet "$dir" "s3://$BUCKET/bench/$p")
  [ "$line" = small ] && R[nochange,aws]=$(timed "$VENV/bin/aws" --endpoint-url "$EP" s3 sync --quiet "$dir" "s3://$BUCKET/bench/$p")
  cleanprefix "bench/$p"
}

run_line small "$WORK/small"
run_line big "$WORK/big"

printf '\n| line | pail s | rclone copy s | rclone bisync s | aws s3 sync s | pail / fastest other |\n|---|---|---|---|---|---|\n'
for line in small big nochange; do
  case $line in
    small) name="upload $FILES x 4 KiB" ;;
    big) name="upload 1 x $BIG_MB MiB" ;;
    nochange) name="no-change re-sync of $FILES" ;;
  esac
  best=$(printf '%s\n' "${R[$line,rclone_copy]}" "${R[$line,rclone_bisync]}" "${R[$line,aws]}" | sort -g | head -1)
  ratio=$(echo "${R[$line,pail]} / $best" | bc -l | xargs printf '%.2f')
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "${R[$line,pail]}" "${R[$line,rclone_copy]}" "${R[$line,rclone_bisync]}" "${R[$line,aws]}" "$ratio"
done
printf '\npail no-change re-sync: %s LIST request(s), %s other request(s), %s file(s) of the folder opened for reading\n' \
  "$NOCHANGE_LISTS" "$NOCHANGE_OTHER" "$NOCHANGE_READS"
