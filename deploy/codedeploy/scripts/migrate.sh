#!/bin/bash
# AfterInstall (2/2): `billing migrate` through billing-migrate.service, so it runs as the service
# user, and the RDS master's password, which that unit alone fetches, never passes through this
# script. It upgrades the schema, then creates or updates the application user that billing-serve
# and billing-worker connect as (DML rights only). Deployments go one instance at a time, so it
# never runs concurrently; on instances after the first it finds the schema at head and does nothing.
# Migrations must be backward compatible (expand/contract): old instances keep serving meanwhile.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

log "running migrations"
if ! systemctl start billing-migrate.service; then
    journalctl --unit=billing-migrate.service --since=-15min --no-pager --output=cat | tail -n 50
    log "migrations failed"
    exit 1
fi
log "migrations done"
