#!/bin/bash
# ValidateService: the instance takes traffic again only once /readyz answers 200 (the database
# is reachable with the rendered credentials). Retries for up to ATTEMPTS x DELAY seconds; a
# failure fails the deployment, and CodeDeploy rolls back to the previous revision.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

readonly ATTEMPTS=30
readonly DELAY=4
port=$(env_value /etc/billing/billing.env BILLING_HTTP_PORT 8080)
url="http://127.0.0.1:${port}/readyz"

for attempt in $(seq 1 "$ATTEMPTS"); do
    if curl --fail --silent --show-error --max-time 3 --output /dev/null "$url"; then
        log "$url is ready (attempt $attempt)"
        # The API answering is not enough: the worker must be running too.
        for unit in "${UNITS[@]}"; do
            if ! systemctl is-active --quiet "$unit"; then
                log "$unit is not active:"
                journalctl --unit="$unit" --since=-5min --no-pager --output=cat | tail -n 30
                exit 1
            fi
        done
        exit 0
    fi
    for unit in "${UNITS[@]}"; do
        if systemctl is-failed --quiet "$unit"; then
            log "$unit failed:"
            journalctl --unit="$unit" --since=-5min --no-pager --output=cat | tail -n 30
            exit 1
        fi
    done
    sleep "$DELAY"
done
log "$url not ready after $((ATTEMPTS * DELAY)) s"
journalctl --unit=billing-serve.service --since=-5min --no-pager --output=cat | tail -n 30
exit 1
