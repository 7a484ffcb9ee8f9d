#!/bin/bash
# AfterInstall (1/2): install the release that CodeDeploy copied to /opt/billing/release.
# Offline: every wheel comes with the bundle (wheelhouse/), nothing is fetched from PyPI.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

bootstrap_env=/etc/billing/bootstrap.env
environment=$(env_value "$bootstrap_env" DEPLOY_ENVIRONMENT)
statsd_port=$(env_value "$bootstrap_env" STATSD_PORT 8125)
if [[ -z "$environment" ]]; then
    log "$bootstrap_env has no DEPLOY_ENVIRONMENT: was the instance launched by the app stack?"
    exit 1
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

shopt -s nullglob
wheels=("$RELEASE_DIR"/wheelhouse/billing-*.whl)
shopt -u nullglob
if (( ${#wheels[@]} != 1 )); then
    log "expected exactly one billing wheel in $RELEASE_DIR/wheelhouse, found ${#wheels[@]}"
    exit 1
fi
log "installing ${wheels[0]##*/}"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-index \
    --find-links "$RELEASE_DIR/wheelhouse" --force-reinstall --no-deps "${wheels[0]}"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-index \
    --find-links "$RELEASE_DIR/wheelhouse" "${wheels[0]}"

log "installing systemd units and the secret renderer"
install -d -m 0755 "$APP_ROOT/bin"
install -m 0755 "$RELEASE_DIR/systemd/render_secrets.py" "$APP_ROOT/bin/render_secrets.py"
for unit in "$RELEASE_DIR"/systemd/*.service; do
    install -m 0644 "$unit" "/etc/systemd/system/${unit##*/}"
done
# Releases before the application user re-read the RDS master's secret every 10 minutes; serve
# and worker no longer use it, and their own secret changes only with a deployment.
if [[ -e /etc/systemd/system/billing-secrets-refresh.timer ]]; then
    systemctl disable --now --quiet billing-secrets-refresh.timer || true
    rm -f /etc/systemd/system/billing-secrets-refresh.timer /etc/systemd/system/billing-secrets-refresh.service
fi
systemctl daemon-reload
systemctl enable --quiet billing-serve.service billing-worker.service

log "installing log shipping (rsyslog) and the CloudWatch agent configuration"
# The CloudWatch agent (user cwagent) reads these files; nobody else needs to.
install -d -m 0750 -o root -g cwagent /var/log/billing
install -m 0644 "$RELEASE_DIR/rsyslog/30-billing.conf" /etc/rsyslog.d/30-billing.conf
install -m 0644 "$RELEASE_DIR/rsyslog/billing.logrotate" /etc/logrotate.d/billing
systemctl restart rsyslog.service

agent_config=/opt/aws/amazon-cloudwatch-agent/etc/billing.json
sed -e "s/@ENVIRONMENT@/${environment}/g" -e "s/@STATSD_PORT@/${statsd_port}/g" \
    "$RELEASE_DIR/cloudwatch/amazon-cloudwatch-agent.json" > "$agent_config"
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl \
    -a fetch-config -m ec2 -s -c "file:${agent_config}"

chown -R root:root "$APP_ROOT"
log "installed $(cat "$RELEASE_DIR/REVISION" 2>/dev/null || echo 'unknown revision')"
