# Deployment targets. Included by the root Makefile, which defines VENV and PY.
#   make lambda-zip      -> deploy/dist/lambda.zip       (the SNS-triggered Lambda)
#   make release-bundle  -> deploy/dist/billing-release.tgz (the CodeDeploy revision)
#   make deploy-tools    -> shellcheck (Debian package), only when missing
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
	@command -v shellcheck >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq >/dev/null && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null; \
	}
