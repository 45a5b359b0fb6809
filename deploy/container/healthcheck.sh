#!/bin/bash
# Container health check: carrier-node answers GET /metrics on
# $CARRIER_METRICS (default 127.0.0.1:9100) with its session gauge.  bash's
# /dev/tcp keeps curl out of the image.
addr=${CARRIER_METRICS:-127.0.0.1:9100}
exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}" || exit 1
printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" >&3
timeout 3 grep -q '^carrier_node_sessions ' <&3
