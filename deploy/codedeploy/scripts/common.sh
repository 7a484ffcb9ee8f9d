#!/bin/bash
# Shared settings of the CodeDeploy hooks; sourced, never run.
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
set -euo pipefail

readonly APP_ROOT=/opt/billing
readonly RELEASE_DIR=${APP_ROOT}/release
readonly VENV=${APP_ROOT}/venv
readonly PYTHON=/usr/bin/python3.11
readonly SERVICE_USER=billing
readonly UNITS=(billing-serve.service billing-worker.service)

log() {
    printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${0##*/}" "$*"
}

# Value of NAME in a KEY=VALUE env file (no shell evaluation of the file).
env_value() {
    local file=$1 name=$2 default=${3:-}
    local value
    value=$(sed -n "s/^${name}=//p" "$file" 2>/dev/null | tail -n 1)
    printf '%s' "${value:-$default}"
}
