#!/bin/bash
# ApplicationStart: fetch the application user's database credentials as the secret holds them
# now, then start (or restart, after a stop that found nothing) the API and the worker.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

log "fetching database credentials"
systemctl restart billing-secrets.service
for unit in "${UNITS[@]}"; do
    log "starting $unit"
    systemctl restart "$unit"
done
