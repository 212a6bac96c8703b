#!/bin/bash
# Start bearerbox, then smsbox and fakesmsc once bearerbox listens. The container stops as
# soon as any of them exits, so that compose restarts it.
set -euo pipefail

CONF="${KANNEL_CONF:-/etc/kannel/kannel.conf}"
SMSBOX_PORT="${KANNEL_SMSBOX_PORT:-13001}"
SMSC_PORT="${KANNEL_SMSC_PORT:-13015}"
FAKESMSC=/usr/lib/kannel/test/fakesmsc

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

bearerbox -v 1 "$CONF" &
wait_for_port "$SMSBOX_PORT"
smsbox -v 1 "$CONF" &
wait_for_port "$SMSC_PORT"
# The operator side of the `fake` SMSC. `-m 0` with one message that is never sent: fakesmsc
# generates no MO traffic and just prints every MT message (each SMS "sent" to a patient).
"$FAKESMSC" -H 127.0.0.1 -r "$SMSC_PORT" -i 0.05 -m 0 "100 200 text unused" &

wait -n || true
echo "kannel: a process exited; stopping the container" >&2
kill $(jobs -p) 2>/dev/null || true
exit 1
