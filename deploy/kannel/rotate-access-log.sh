#!/bin/bash
# Rotate bearerbox's access log once: LOG -> LOG.1 -> ... -> LOG.<keep>; the previous
# LOG.<keep> goes (KEEP rotated files are kept besides the current one).
# A new, empty LOG is made (mode 0640, group GID: the notifications service reads it), then
# SIGHUP makes bearerbox (PID) reopen it.
# Usage: rotate-access-log.sh LOG KEEP GID PID
set -euo pipefail

log=$1 keep=$2 gid=$3 pid=$4

rm -f "${log}.${keep}"
for ((i = keep - 1; i >= 1; i--)); do
    if [[ -f "${log}.${i}" ]]; then mv "${log}.${i}" "${log}.$((i + 1))"; fi
done
if [[ -f "$log" ]]; then mv "$log" "${log}.1"; fi
install -m 0640 -g "$gid" /dev/null "$log"
kill -HUP "$pid"
