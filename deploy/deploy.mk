# Deployment targets. Included by the root Makefile, which defines VENV and PY.
#   make lambda-zip      -> deploy/dist/lambda.zip       (the SNS-triggered Lambda)
#   make release-bundle  -> deploy/dist/billing-release.tgz (the CodeDeploy revision)
#   make deploy-tools    -> shellcheck and systemd-analyze (Debian packages), only when missing,
#                           and checkov in .venv-checkov
# Both builds need network access to PyPI (they download wheels for the target platform).

DEPLOY_DIST := deploy/dist
LAMBDA_ZIP := $(DEPLOY_DIST)/lambda.zip
RELEASE_BUNDLE := $(DEPLOY_DIST)/billing-release.tgz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# checkov pins boto3==1.35.49 and packaging<24 and installs a module named `hcl2` of its own
# (bc-python-hcl2): beside aioboto3's boto3 1.40, the test extra's packaging>=24 and python-hcl2
# it cannot be installed into .venv. It gets a virtual environment of its own, used by
# tests/integration/test_deploy.py.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: lambda-zip release-bundle deploy-tools

lambda-zip:
	$(PY) deploy/lambda/build_zip.py --output $(LAMBDA_ZIP)

release-bundle:
	$(PY) deploy/release/build_release.py --output $(RELEASE_BUNDLE)

deploy-tools: $(CHECKOV_STAMP)
	@missing=""; \
	command -v shellcheck >/dev/null 2>&1 || missing="$$missing shellcheck"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	if [ -n "$$missing" ]; then \
		echo "==> installing$$missing (Debian packages, for the deploy/ checks)"; \
		$(SUDO) apt-get update -qq >/dev/null && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# After .venv: its recipe makes sure `python3 -m venv` works on a fresh Debian.
$(CHECKOV_STAMP): | $(STAMP)
	@echo "==> installing checkov $(CHECKOV_VERSION) into $(CHECKOV_VENV) (first time: a minute or two)"
	@rm -rf $(CHECKOV_VENV)
	@$(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check "checkov==$(CHECKOV_VERSION)"
	@touch $(CHECKOV_STAMP)
