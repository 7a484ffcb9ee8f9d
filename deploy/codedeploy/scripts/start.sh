#!/bin/bash
# ApplicationStart: start (or restart, after a stop that found nothing) the API and the worker.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

for unit in "${UNITS[@]}"; do
    log "starting $unit"
    systemctl restart "$unit"
done
