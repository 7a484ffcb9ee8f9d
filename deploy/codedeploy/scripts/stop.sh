#!/bin/bash
# ApplicationStop: stop the API and the worker. The worker gets SIGTERM and finishes the message
# in hand (TimeoutStopSec in its unit); unfinished messages are redelivered by SQS.
# Runs the PREVIOUS revision's copy of this script; on a fresh instance nothing is running.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

for unit in "${UNITS[@]}"; do
    if systemctl is-active --quiet "$unit"; then
        log "stopping $unit"
        systemctl stop "$unit"
    else
        log "$unit not running"
    fi
done
