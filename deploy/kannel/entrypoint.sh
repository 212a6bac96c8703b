#!/bin/bash
# Start bearerbox, then smsbox and fakesmsc once bearerbox listens. The container stops as
# soon as any of them exits, so that compose restarts it.
set -euo pipefail

CONF="${KANNEL_CONF:-/etc/kannel/kannel.conf}"
SMSBOX_PORT="${KANNEL_SMSBOX_PORT:-13001}"
SMSC_PORT="${KANNEL_SMSC_PORT:-13015}"
FAKESMSC=/usr/lib/kannel/test/fakesmsc
# bearerbox's access log (kannel.conf): readable by the notifications service's group only
ACCESS_LOG="${KANNEL_ACCESS_LOG:-/var/log/kannel/access.log}"
LOG_READER_GID="${KANNEL_LOG_READER_GID:-10001}"
LOG_KEEP_DAYS="${KANNEL_LOG_KEEP_DAYS:-7}"
LOG_ROTATE_S="${KANNEL_LOG_ROTATE_S:-86400}"

umask 027
mkdir -p "$(dirname "$ACCESS_LOG")"
chgrp "$LOG_READER_GID" "$(dirname "$ACCESS_LOG")"
chmod 0750 "$(dirname "$ACCESS_LOG")"

new_access_log() {
    install -m 0640 -g "$LOG_READER_GID" /dev/null "$ACCESS_LOG"
}

# Every LOG_ROTATE_S the access log is rotated (rotate-access-log.sh), LOG_KEEP_DAYS files
# kept; the notifications service reads the current file and access.log.1. A failed
# rotation is reported, and does not stop the gateway.
rotate_access_log() {
    local bearerbox_pid=$1
    while sleep "$LOG_ROTATE_S"; do
        kannel-rotate-access-log "$ACCESS_LOG" "$LOG_KEEP_DAYS" "$LOG_READER_GID" "$bearerbox_pid" \
            || echo "kannel: rotating $ACCESS_LOG failed" >&2
    done
}

wait_for_port() {
    local port=$1
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "kannel: nothing listens on port ${port}" >&2
    return 1
}

stop() {
    kill $(jobs -p) 2>/dev/null || true
    wait || true
    exit 0
}
trap stop TERM INT

[[ -f "$ACCESS_LOG" ]] || new_access_log
# -v 1 (info) for bearerbox: no number or text; -v 2 (warnings) for smsbox, which logs every
# sendsms with its number and text at info
bearerbox -v 1 "$CONF" &
BEARERBOX_PID=$!
rotate_access_log "$BEARERBOX_PID" &
wait_for_port "$SMSBOX_PORT"
smsbox -v 2 "$CONF" &
wait_for_port "$SMSC_PORT"
# The operator side of the `fake` SMSC. `-m 0` with one message that is never sent: fakesmsc
# generates no MO traffic and just prints every MT message (each SMS "sent" to a patient).
"$FAKESMSC" -H 127.0.0.1 -r "$SMSC_PORT" -i 0.05 -m 0 "100 200 text unused" &

wait -n || true
echo "kannel: a process exited; stopping the container" >&2
kill $(jobs -p) 2>/dev/null || true
exit 1
