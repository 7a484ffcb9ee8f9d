#!/bin/bash
# Packer provisioner for the billing AMI (Amazon Linux 2023). Runs as root on the build instance.
set -euo pipefail
: "${AWS_REGION:?AWS_REGION must be set}"
: "${RELEASE_BUNDLE:?RELEASE_BUNDLE must be set}"

dnf -y -q upgrade
dnf -y -q install python3.11 python3.11-pip rsyslog logrotate amazon-cloudwatch-agent ruby tar
systemctl enable rsyslog.service

# The service user: no login, no home of its own.
useradd --system --home-dir /opt/billing --no-create-home --shell /sbin/nologin billing
install -d -m 0755 /opt/billing
install -d -m 0750 -o root -g billing /etc/billing

# CA bundle for TLS to RDS (the parameter group requires secure transport).
install -d -m 0755 /etc/pki/rds
curl --fail --silent --show-error --location \
    https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem \
    --output /etc/pki/rds/global-bundle.pem
chmod 0644 /etc/pki/rds/global-bundle.pem

# CodeDeploy agent, from the regional bucket AWS documents. Disabled here: the launch template's
# user data starts it once /etc/billing/*.env exist.
installer=$(mktemp)
curl --fail --silent --show-error --location \
    "https://aws-codedeploy-${AWS_REGION}.s3.${AWS_REGION}.amazonaws.com/latest/install" \
    --output "$installer"
chmod 0700 "$installer"
"$installer" auto
rm -f "$installer"
systemctl disable --now codedeploy-agent.service

# Application dependencies, pre-installed so that scale-out only installs the billing wheel.
workdir=$(mktemp -d)
tar -xzf "$RELEASE_BUNDLE" -C "$workdir" wheelhouse
python3.11 -m venv /opt/billing/venv
shopt -s nullglob
wheels=("$workdir"/wheelhouse/billing-*.whl)
shopt -u nullglob
/opt/billing/venv/bin/pip install --quiet --disable-pip-version-check --no-index \
    --find-links "$workdir/wheelhouse" "${wheels[@]}"
/opt/billing/venv/bin/pip uninstall --quiet --yes billing
rm -rf "$workdir" "$RELEASE_BUNDLE"

dnf clean all
rm -rf /var/cache/dnf
