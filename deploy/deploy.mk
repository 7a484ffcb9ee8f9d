# Deployment targets. Included by the root Makefile, which defines VENV and PY.
#   make lambda-zip      -> deploy/dist/lambda.zip       (the SNS-triggered Lambda)
#   make release-bundle  -> deploy/dist/billing-release.tgz (the CodeDeploy revision)
#   make deploy-tools    -> shellcheck and systemd-analyze (Debian packages), only when missing
# Both builds need network access to PyPI (they download wheels for the target platform).

DEPLOY_DIST := deploy/dist
LAMBDA_ZIP := $(DEPLOY_DIST)/lambda.zip
RELEASE_BUNDLE := $(DEPLOY_DIST)/billing-release.tgz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: lambda-zip release-bundle deploy-tools

lambda-zip:
	$(PY) deploy/lambda/build_zip.py --output $(LAMBDA_ZIP)

release-bundle:
	$(PY) deploy/release/build_release.py --output $(RELEASE_BUNDLE)

deploy-tools:
	@missing=""; \
	command -v shellcheck >/dev/null 2>&1 || missing="$$missing shellcheck"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
		echo "==> installing$$missing (Debian packages, for the deploy/ checks)"; \
		$(SUDO) apt-get update -qq >/dev/null && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
