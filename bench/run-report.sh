# shellcheck shell=bash
# The tables of bench/run.sh (sourced at its end): times, pail's share of the ceiling and ratio
# to the best peer, CPU, requests per file; with --encrypt, encrypted pail over plain pail.

COLS=(pail ceiling rclone_copy rclone_copy16 rclone_bisync aws)
has pail_enc && COLS=(pail pail_enc "${COLS[@]:1}")
declare -A COLNAME=([pail]=pail [pail_enc]="pail encrypted" [ceiling]=s3-ceiling [rclone_copy]="rclone copy"
  [rclone_copy16]="rclone copy x16" [rclone_bisync]="rclone bisync" [aws]="aws s3 sync")
line_name() {
  case $1 in
    small) echo "initial upload, $FILES x 4 KiB" ;;
    nochange) echo "no-change re-sync, $FILES files" ;;
    edits) echo "$EDITS edits of $FILES files" ;;
    fresh) echo "fresh device, $FILES x 4 KiB down" ;;
    big) echo "upload, 1 x $BIG_MB MiB" ;;
  esac
}
header() {  # FIRST-COLUMN SUFFIX-OF-TOOL-COLUMNS EXTRA-COLUMNS-AFTER-THEM...
  local t out="| $1 |" sep="|---|"
  shift
  local suffix=$1; shift
  for t in "${COLS[@]}"; do out+=" ${COLNAME[$t]}$suffix |"; sep+="---|"; done
  for t in "$@"; do out+=" $t |"; sep+="---|"; done
  echo "$out"; echo "$sep"
}

echo
if [ "$SERVER" = garage ]; then desc="test servers' Garage"
elif [ "$SHARED" = 1 ]; then desc="shared test Ceph RGW, memstore"
else desc="private Ceph RGW, bluestore"; fi
echo "pail sync benchmark, $(date -Is), $(nproc) cores, server $EP ($desc), bucket $BUCKET," \
  "$ROUNDS paired round(s)$([ "$ROUNDS" -gt 1 ] && echo ', medians')"
has pail && echo "pail: $PAIL ($("$PAIL" --version 2>/dev/null))"
has ceiling && echo "s3-ceiling: $CEILING (raw aws-sdk-s3, $CC requests in flight, $PART_MB MiB parts)"
has rclone_copy && echo "rclone: $(rclone version 2>/dev/null | head -1), transfers=${RCLONE_TRANSFERS:-default 4} (x16: 16), checkers=${RCLONE_CHECKERS:-default 8}"
has aws && echo "aws: $("${AWS[@]}" --version 2>&1), max_concurrent_requests=${BENCH_AWS_CONCURRENCY:-default 10}"
[ "$VERSIONED" = 1 ] || echo "The bucket is unversioned (Garage has no versioning): pail copies every object it overwrites to .pail/trash/ first (the edits line)."
echo
echo "Wall seconds; share of ceiling = s3-ceiling s / pail s; pail / best peer = pail s / fastest of rclone copy (x1, x16), bisync and aws (below 1: pail is faster); ratios are medians of the per-round ratios."
header line " s" "pail share of ceiling" "pail / best peer"
for line in "${LINES[@]}"; do
  share=$(per_round_median share_of_ceiling "$line") ratio=$(per_round_median ratio_to_best "$line")
  [ "$share" = - ] || share=$(awk -v s="$share" 'BEGIN { printf "%d%%", s * 100 + 0.5 }')
  row="| $(line_name "$line") |"
  for t in "${COLS[@]}"; do row+=" $(over_rounds R "$line" "$t") |"; done
  echo "$row $share | $ratio |"
done
echo "The no-change ceiling is one listing of the prefix (LIST only): a sync also has to look at every file of the folder, so the share there is a floor to compare against, not a target."
echo
echo "CPU seconds (user + system of the process and its children), medians; pail's also per 10,000 files of the folder."
header line " CPU s" "pail CPU s per 10,000 files"
for line in "${LINES[@]}"; do
  p=$(over_rounds C "$line" pail) per=-
  if [ "$line" != big ] && isnum "$p"; then per=$(awk -v c="$p" -v n="$FILES" 'BEGIN { printf "%.2f", c * 10000 / n }'); fi
  row="| $(line_name "$line") |"
  for t in "${COLS[@]}"; do row+=" $(over_rounds C "$line" "$t") |"; done
  echo "$row $per |"
done
echo
echo "The rest of the machine's CPU seconds while each tool ran (all busy CPU but the tool's own: the S3 server, mostly), medians. Every line starts on a quiet machine (bench/run-lib.sh settle)."
header line ""
for line in "${LINES[@]}"; do
  row="| $(line_name "$line") |"
  for t in "${COLS[@]}"; do row+=" $(over_rounds M "$line" "$t") |"; done
  echo "$row"
done
echo
echo "S3 requests per file (total) in round 1: pail's and s3-ceiling's own counts (one per attempt), the others' from the RGW access log$([ "$SHARED" = 1 ] && [ -n "$RGWLOG" ] && echo ', requests naming the prefix only'); per edited file on the edits line, for the whole file on the big line."
header line ""
for line in "${LINES[@]}"; do
  case $line in edits) n=$EDITS ;; big) n=1 ;; *) n=$FILES ;; esac
  row="| $(line_name "$line") |"
  for t in "${COLS[@]}"; do
    case $t in
      pail|pail_enc) c=${P[$line,$t]:-} ;;
      ceiling) c=${K[$line]:-} ;;
      *) c=$(sed -n 's/.* \([0-9][0-9]*\) total$/\1/p' <<<"${Q[$line,$t]:-}") ;;
    esac
    if has "$t" && isnum "$c"; then row+=" $(awk -v c="$c" -v n="$n" 'BEGIN { printf "%.3f (%d)", c / n, c }') |"
    else row+=" - |"; fi
  done
  echo "$row"
done
if has pail; then
  echo "pail's requests by operation (round 1):"
  for line in "${LINES[@]}"; do printf '  %-34s %s\n' "$(line_name "$line")" "${PO[$line,pail]:-n/a}"; done
fi
if has pail_enc; then
  echo "encrypted pail's requests by operation (round 1):"
  for line in "${LINES[@]}"; do printf '  %-34s %s\n' "$(line_name "$line")" "${PO[$line,pail_enc]:-n/a}"; done
fi
echo
echo "S3 requests of the no-change re-sync (from the RGW access log$([ "$SHARED" = 1 ] && echo ', requests naming the prefix only')):"
for t in "${TOOLS[@]}"; do printf '  %-14s %s\n' "$t" "${Q[nochange,$t]:-n/a}"; done
if has pail; then
  echo "pail's own count (PAIL_LOG=pail::requests=debug): ${PAIL_SELF:-n/a}"
  echo "files of the folder pail opened for reading / read() calls on them (strace, must be 0): ${PAIL_OPENS:-n/a} / ${PAIL_READS:-n/a}"
fi

if has pail_enc; then
  echo
  echo "End-to-end encryption (issue 15): encrypted pail / plain pail, the same line in the same round (wall seconds, and CPU seconds user+sys), medians of the per-round ratios (range); target: at most 1.10 on the initial upload of the small files and on the big file."
  echo "| line | plain s | encrypted s | time ratio (range) | plain CPU s | encrypted CPU s | CPU ratio (range) | target met? |"
  echo "|---|---|---|---|---|---|---|---|"
  for line in "${LINES[@]}"; do
    tr=$(per_round_median enc_ratio_r "$line") cr=$(per_round_median enc_ratio_c "$line")
    met=-
    if [ "$line" = small ] || [ "$line" = big ]; then
      met=n/a
      isnum "$tr" && met=$(awk -v r="$tr" 'BEGIN { print (r <= 1.10 ? "yes" : "no") }')
    fi
    echo "| $(line_name "$line") | $(over_rounds R "$line" pail) | $(over_rounds R "$line" pail_enc) |" \
      "$tr ($(ratio_range enc_ratio_r "$line")) | $(over_rounds C "$line" pail) |" \
      "$(over_rounds C "$line" pail_enc) | $cr ($(ratio_range enc_ratio_c "$line")) | $met |"
  done
fi
