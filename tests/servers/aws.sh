#!/usr/bin/env bash
# The venv's aws CLI pointed at one of the running test servers, for poking at them by hand:
#
#   tests/servers/aws.sh ceph|moto|garage s3api list-object-versions --bucket pail-test
#   tests/servers/aws.sh moto s3 ls s3://pail-test --recursive
#
# Reads $PAIL_TEST_SERVERS_DIR/env (default /tmp/pail-test-servers/env) written by start.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
DIR=${PAIL_TEST_SERVERS_DIR:-/tmp/pail-test-servers}
[ $# -ge 1 ] || { echo "usage: $0 ceph|moto|garage AWS-CLI-ARGS..." >&2; exit 2; }
s=$1; shift
case "$s" in ceph) S=CEPH ;; moto) S=MOTO ;; garage) S=GARAGE ;; *) echo "unknown server $s" >&2; exit 2 ;; esac
[ -r "$DIR/env" ] || { echo "$DIR/env not found: run tests/servers/start.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
. "$DIR/env"
ep=PAIL_TEST_${S}_ENDPOINT ak=PAIL_TEST_${S}_ACCESS_KEY sk=PAIL_TEST_${S}_SECRET_KEY rg=PAIL_TEST_${S}_REGION
[ -n "${!ep:-}" ] || { echo "$s was not started (PAIL_TEST_SERVERS=${PAIL_TEST_SERVERS:-})" >&2; exit 1; }
pail_aws "$DIR/aws" "${!ak}" "${!sk}" "${!rg}" --endpoint-url "${!ep}" "$@"
