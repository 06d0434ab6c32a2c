#!/usr/bin/env bash
# POST a payload to /invocations of the server serve_local.sh started.
# Usage: predict.sh PAYLOAD_FILE [CONTENT_TYPE] [ACCEPT]
# CONTENT_TYPE defaults by suffix: .json application/json, .csv text/csv,
# .jsonl application/jsonlines. ACCEPT defaults to application/json. PORT=8080.
# An HTTP error prints the server's JSON error and exits non-zero.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

(($# >= 1 && $# <= 3)) || die "usage: predict.sh PAYLOAD_FILE [CONTENT_TYPE] [ACCEPT]"
PAYLOAD=$1
[[ -f "$PAYLOAD" ]] || die "no such payload file: $PAYLOAD"
case "$PAYLOAD" in
    *.json) default_type=application/json ;;
    *.csv) default_type=text/csv ;;
    *.jsonl) default_type=application/jsonlines ;;
    *) default_type="" ;;
esac
CONTENT_TYPE="${2:-$default_type}"
[[ -n "$CONTENT_TYPE" ]] || die "cannot tell the content type of $PAYLOAD from its suffix: pass it as the second argument"
ACCEPT="${3:-application/json}"
URL="http://localhost:$PORT"

curl --silent --max-time 10 --output /dev/null "$URL/ping" \
    || die "no server answers on $URL: start it with serve_local.sh (PORT=$PORT)"

status=0
curl --silent --show-error --fail-with-body --max-time 60 \
    -H "Content-Type: $CONTENT_TYPE" -H "Accept: $ACCEPT" \
    --data-binary "@$PAYLOAD" "$URL/invocations" || status=$?
echo
((status == 0)) || die "POST $URL/invocations failed (curl exit $status)"
