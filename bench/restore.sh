#!/usr/bin/env bash
# Folder-restore benchmark (issue 4: "fast on 10,000 files"): N files synced, every one edited
# and synced again, then `pail restore FOLDER --at <between the two>` times the restore of all
# N and counts its S3 requests by kind (one paged ListObjectVersions for the folder, then one
# HEAD + one CopyObject per file, `transfers` at a time). Also times `--dry-run` (the listing
# alone) and checks that every file came back.
#
#   bench/restore.sh [--files N] [--server ceph|garage|moto]
#     defaults: 10,000 files of 4 KiB, the test suite's Ceph RGW (started if not running)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=10000 SERVER=ceph
while [ $# -gt 0 ]; do
  case $1 in
    --files) FILES=$2; shift 2 ;;
    --server) SERVER=$2; shift 2 ;;
    *) echo "usage: $0 [--files N] [--server ceph|garage|moto]" >&2; exit 2 ;;
  esac
done
# shellcheck source=lib.sh
. "$ROOT/bench/lib.sh"
bench_setup "$SERVER" rbench
trap bench_cleanup EXIT
PREFIX=rbench-$RANDOM
export PAIL_CONFIG=$WORK/config.toml PAIL_STATE_DIR=$WORK/state

echo "generating $FILES files of 4 KiB" >&2
python3 - "$WORK/folder/docs" "$FILES" 1 <<'PY'
import os, sys
root, n, v = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    d = os.path.join(root, f"d{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.txt"), "w") as f:
        f.write((f"version {v} of file {i}\n" * 200)[:4096])
PY
"$PAIL" init "$WORK/folder" "s3://$BUCKET/$PREFIX" --endpoint "$EP" --region "$REGION" --device bench >/dev/null
"$PAIL" sync >/dev/null
sleep 1.1
MOMENT=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
sleep 1.1
python3 - "$WORK/folder/docs" "$FILES" 2 <<'PY'
import os, sys
root, n, v = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    with open(os.path.join(root, f"d{i // 100:03d}", f"f{i:05d}.txt"), "w") as f:
        f.write((f"version {v} of file {i}, edited\n" * 200)[:4096])
PY
"$PAIL" sync >/dev/null

t0=$(now)
PAIL_LOG=pail::requests=debug "$PAIL" restore "$WORK/folder/docs" --at "$MOMENT" --dry-run >"$WORK/plan.txt" 2>"$WORK/dry.log"
dry=$(echo "$(now) - $t0" | bc)
t0=$(now)
PAIL_LOG=pail::requests=debug "$PAIL" restore "$WORK/folder/docs" --at "$MOMENT" >"$WORK/out.txt" 2>"$WORK/restore.log"
took=$(echo "$(now) - $t0" | bc)
back=$(grep -rl "^version 1 of file" "$WORK/folder/docs" | wc -l)
count() { grep -c "op=\"$1\"" "$2" || true; }

printf '\n| folder restore of %s files (%s) | result |\n|---|---|\n' "$FILES" "$SERVER"
printf '| plan only (`--dry-run`) | %.2f s, %s ListObjectVersions |\n' "$dry" "$(count ListObjectVersions "$WORK/dry.log")"
printf '| restore, then sync back into the folder | %.2f s (%.0f files/s) |\n' "$took" "$(echo "$FILES / $took" | bc -l)"
printf '| requests | %s ListObjectVersions, %s HeadObject, %s CopyObject, %s ListObjectsV2, %s GetObject |\n' \
  "$(count ListObjectVersions "$WORK/restore.log")" "$(count HeadObject "$WORK/restore.log")" \
  "$(count CopyObject "$WORK/restore.log")" "$(count ListObjectsV2 "$WORK/restore.log")" \
  "$(count GetObject "$WORK/restore.log")"
# The copies' share of the time, from the request log's timestamps.
copies=$(python3 - "$WORK/restore.log" <<'PY'
import re, sys, datetime
def t(line):
    m = re.match(r"(\S+Z)", line)
    return datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() if m else None
lines = [l for l in open(sys.argv[1]) if "s3 request" in l]
first = t(lines[0]); last_copy = max(t(l) for l in lines if 'op="CopyObject"' in l)
print(f"{last_copy - first:.2f}")
PY
)
printf '| of which listing + server-side copies | %s s |\n' "$copies"
printf '| files back at their old content | %s of %s |\n' "$back" "$FILES"
"$ROOT/tests/servers/aws.sh" "$SERVER" s3 rm --recursive --quiet "s3://$BUCKET/$PREFIX" >/dev/null 2>&1 || true
