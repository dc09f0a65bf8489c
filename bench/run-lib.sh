# shellcheck shell=bash
# Helpers of bench/run.sh (sourced, not run): the S3 set-up and clean-up tool, request counts
# from the RGW's access log, timing with CPU, medians and ratios. Uses WORK, EP, REGION, BUCKET,
# VERSIONED, VENV, RGWLOG, SHARED, ROUND, ROUNDS and PEERS from run.sh.

declare -A R C M # R[line,tool,round] = wall seconds or FAIL; C[...] = CPU seconds; M[...] = the
                 # rest of the machine's CPU seconds meanwhile (the S3 server, mostly)

# s3tool.py: bucket setup, verification and clean-up (boto3 from the test venv)
write_s3tool() {
  cat >"$WORK/s3tool.py" <<'PY'
import sys, boto3
from botocore.config import Config
ep, region, bucket, versioned, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5]
s3 = boto3.client("s3", endpoint_url=ep, region_name=region, config=Config(s3={"addressing_style": "path"}))
if cmd == "setup":
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:
        s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
elif cmd == "count":  # current objects and bytes under PREFIX/, pail's own .pail/ keys excluded
    prefix = sys.argv[6] + "/"
    n = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            if not o["Key"][len(prefix):].startswith(".pail/"):
                n += 1; size += o["Size"]
    print(n, size)
elif cmd == "rm":  # every version and delete marker (or object) under PREFIX/
    prefix = sys.argv[6] + "/"
    batch = []
    def flush():
        if batch:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            batch.clear()
    def add(o):
        batch.append(o)
        if len(batch) == 1000:
            flush()
    if versioned:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                add({"Key": v["Key"], "VersionId": v["VersionId"]})
    else:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                add({"Key": o["Key"]})
    flush()
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for u in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
PY
}
s3tool() { "$VENV/bin/python" "$WORK/s3tool.py" "$EP" "$REGION" "$BUCKET" "$VERSIONED" "$@"; }

now() { date +%s.%N; }
logsize() { if [ -n "$RGWLOG" ]; then stat -c %s "$RGWLOG" 2>/dev/null || echo 0; else echo 0; fi; }

# rgw_requests OFFSET PREFIX: S3 requests logged by the RGW since OFFSET (beast access lines);
# on a shared server only those naming PREFIX (bucket-level requests are then not counted)
rgw_requests() {
  local off=$1 prefix=$2 lines last=-1 cur
  if [ -z "$RGWLOG" ] || [ ! -r "$RGWLOG" ]; then echo "n/a (no RGW log)"; return; fi
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

# busy_cpu: the machine's busy CPU seconds since boot (user, nice, system, irq, softirq; not
# idle, iowait or the hypervisor's steal), from /proc/stat
busy_cpu() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz; exit }' /proc/stat; }

# settle: waits, up to a minute, until the machine is quiet (under a fifth of one core busy over
# half a second, twice in a row). A server still digesting the previous line's writes (Garage
# works through the clean-up of 40,000 objects in the background) would slow whichever tool
# came next; every timed line starts from the same quiet server.
settle() {
  local t0 a b quiet=0 i
  t0=$(now)
  for ((i = 0; i < 120 && quiet < 2; i++)); do
    a=$(busy_cpu)
    sleep 0.5
    b=$(busy_cpu)
    if awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.1) }'; then quiet=$((quiet + 1)); else quiet=0; fi
  done
  local waited
  waited=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
  if [ "$quiet" -lt 2 ]; then log bench "the machine was still busy after $waited s; timing anyway"
  elif [ "$waited" -gt 2 ]; then log bench "waited $waited s for the machine to go quiet"; fi
  return 0
}

# timed LINE TOOL PREFIX CMD...: runs CMD; R[LINE,TOOL,ROUND] = wall seconds (or FAIL),
# C[LINE,TOOL,ROUND] = CPU seconds (user + system) of CMD and everything it waited for, from
# the `times` of a subshell that ran only CMD
timed() {
  local line=$1 tool=$2 prefix=$3; shift 3
  local out=$WORK/logs/$line-$tool-r$ROUND.log t0 t1 b0 b1 rc=0
  settle
  b0=$(busy_cpu) t0=$(now)
  ( "$@" >"$out" 2>&1 && r=0 || r=$?; times >"$out.times"; exit "$r" ) || rc=$?
  t1=$(now) b1=$(busy_cpu)
  # second line of `times`: the children's user and system time, as 0m1.234s 0m0.567s
  C[$line,$tool,$ROUND]=$(sed -n 2p "$out.times" | awk '{
    s = 0
    for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
    printf "%.2f", s }')
  M[$line,$tool,$ROUND]=$(awk -v a="$b0" -v b="$b1" -v c="${C[$line,$tool,$ROUND]}" 'BEGIN { m = b - a - c; printf "%.2f", m < 0 ? 0 : m }')
  if [ $rc = 0 ]; then
    R[$line,$tool,$ROUND]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  else
    R[$line,$tool,$ROUND]=FAIL
    log bench "ERROR: $tool ($line, s3://$BUCKET/$prefix) exited $rc; last lines of $out:"
    tail -n 15 "$out" >&2
  fi
  log bench "round $ROUND $line $tool: ${R[$line,$tool,$ROUND]} s, CPU ${C[$line,$tool,$ROUND]} s, rest of the machine ${M[$line,$tool,$ROUND]} s"
  return $rc
}

# pail_ops LOG: pail's requests in LOG by operation, "500 HeadObject, 501 PutObject"
pail_ops() {
  grep 's3 request' "$1" | grep -o 'op="\?[A-Za-z0-9]*' | tr -d '"' | sort | uniq -c \
    | awk '{ printf "%s%s %s", s, $1, substr($2, 4); s = ", " }'
}

isnum() { [[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

# median VALUES...: the median of the numeric ones; '-' if none
median() {
  local v=() x
  for x in "$@"; do isnum "$x" && v+=("$x"); done
  [ ${#v[@]} -gt 0 ] || { echo -; return; }
  printf '%s\n' "${v[@]}" | sort -g | awk '{ a[NR] = $1 } END {
    if (NR % 2) printf "%.2f", a[(NR + 1) / 2]; else printf "%.2f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# over_rounds ARRAY LINE TOOL: the values of ARRAY[LINE,TOOL,r] over the rounds, or FAIL if
# every round failed, '-' if the tool did not run
over_rounds() {
  local -n arr=$1
  local r vals=() any=0
  for ((r = 1; r <= ROUNDS; r++)); do
    [ -n "${arr[$2,$3,$r]:-}" ] && any=1
    vals+=("${arr[$2,$3,$r]:-}")
  done
  if [ $any = 0 ]; then echo -; return; fi
  local m; m=$(median "${vals[@]}")
  if [ "$m" = - ]; then echo FAIL; else echo "$m"; fi
}

# per_round_median FN LINE: the median over the rounds of `FN LINE ROUND` (which prints a
# number, or nothing when that round has none): paired rounds compare tools within a round
per_round_median() {
  local fn=$1 line=$2 r vals=()
  for ((r = 1; r <= ROUNDS; r++)); do vals+=("$("$fn" "$line" "$r")"); done
  median "${vals[@]}"
}

# pail's time over the fastest peer's in round R, and the ceiling's time over pail's
ratio_to_best() {
  local line=$1 r=$2 p=${R[$1,pail,$2]:-} best='' t v
  for t in "${PEERS[@]}"; do
    v=${R[$line,$t,$r]:-}
    isnum "$v" || continue
    if [ -z "$best" ] || awk -v a="$v" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$v; fi
  done
  isnum "$p" && [ -n "$best" ] && awk -v a="$p" -v b="$best" 'BEGIN { if (b > 0) printf "%.4f", a / b }'
  return 0
}
share_of_ceiling() {
  local p=${R[$1,pail,$2]:-} c=${R[$1,ceiling,$2]:-}
  isnum "$p" && isnum "$c" && awk -v a="$c" -v b="$p" 'BEGIN { if (b > 0) printf "%.4f", a / b }'
  return 0
}

# encrypted pail over plain pail in round R: wall time (enc_ratio_r), CPU (enc_ratio_c)
enc_ratio() {
  local -n arr=$1
  local e=${arr[$2,pail_enc,$3]:-} p=${arr[$2,pail,$3]:-}
  isnum "$e" && isnum "$p" && awk -v a="$e" -v b="$p" 'BEGIN { if (b > 0) printf "%.4f", a / b }'
  return 0
}
enc_ratio_r() { enc_ratio R "$@"; }
enc_ratio_c() { enc_ratio C "$@"; }

# ratio_range FN LINE: the lowest and highest of `FN LINE ROUND` over the rounds, "lo-hi"
ratio_range() {
  local fn=$1 line=$2 r v vals=()
  for ((r = 1; r <= ROUNDS; r++)); do v=$("$fn" "$line" "$r"); isnum "$v" && vals+=("$v"); done
  [ ${#vals[@]} -gt 0 ] || { echo -; return; }
  printf '%s\n' "${vals[@]}" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }'
}
