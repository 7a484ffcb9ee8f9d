"""Checks of deploy/: everything about the AWS deployment that can be validated without AWS.

- every CloudFormation template passes cfn-lint (zero errors, zero warnings) and its IAM policies
  name their actions (no "*" or "service:*");
- every shell script (CodeDeploy hooks, Packer provisioner) is shellcheck-clean;
- appspec.yml parses and its hooks point at existing, executable scripts;
- the Packer template is valid HCL2 and points at its provisioner;
- the CloudWatch agent config ships the files rsyslog writes;
- the Lambda zip holds only what the handler needs, the handler imports from it alone, and, run
  from the unpacked zip against moto server, sends the digest email once and deduplicates a
  redelivery, printing its metrics as Embedded Metric Format lines.

How deploy/ agrees with the application (settings, commands, metrics, stop timeouts) is checked
without any tool by tests/unit/test_deploy_config.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import ssl
import subprocess
import sys
import sysconfig
import textwrap
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from billing.adapters.aws.bootstrap import ensure_ledger_table, ensure_sender
from billing.adapters.aws.clients import AwsClients
from billing.domain.model.due_bills import DigestLine, DueBillsDigest
from billing.entrypoints.local_lambda import sns_event
from billing.ports.metrics import LAMBDA_EMAILS_DEDUPLICATED, LAMBDA_EMAILS_SENT
from tests.unit.test_deploy_config import build_zip_module
from tests.unit.test_emf_metrics import parse_emf

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
TEMPLATES = sorted((DEPLOY / "cloudformation").glob("*.yaml"))
SHELL_SCRIPTS = sorted(DEPLOY.rglob("*.sh"))
APPSPEC = DEPLOY / "codedeploy" / "appspec.yml"
HANDLER_SOURCE = REPO / "src" / "billing" / "entrypoints" / "lambda_handler.py"
BUILD_ZIP = build_zip_module()

# Hook names CodeDeploy accepts for an EC2 in-place deployment with a load balancer.
EC2_HOOKS = {
    "BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop", "BeforeInstall",
    "AfterInstall", "ApplicationStart", "ValidateService", "BeforeAllowTraffic", "AfterAllowTraffic",
}


def test_templates_exist_for_every_stack() -> None:
    assert {path.stem for path in TEMPLATES} >= {"ci", "network", "data", "messaging", "app"}


def test_templates_pass_cfn_lint_without_errors_or_warnings() -> None:
    # cfn-lint runs in a subprocess: its imports must not be judged by this suite's -W error.
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
         "--format", "parseable", *map(str, TEMPLATES)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational.
    assert result.returncode == 0, result.stdout + result.stderr


def _checkov() -> str:
    """checkov lives in a virtual environment of its own (deploy/deploy.mk says why)."""
    own = REPO / ".venv-checkov" / "bin" / "checkov"
    found = os.environ.get("CHECKOV") or (str(own) if own.exists() else shutil.which("checkov"))
    assert found, "checkov is missing: run `make deploy-tools` (it installs checkov into .venv-checkov)"
    return found


def _checkov_exceptions_in_readme() -> set[tuple[str, str]]:
    """(check id, resource) of each row of deploy/README.md's table of checkov exceptions."""
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    section = readme.split("### checkov exceptions", 1)[1].split("\n#", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [cell.strip(" `") for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("CKV"):
            rows |= {(cells[0].split()[0], resource.strip(" `")) for resource in cells[1].split(",")}
    return rows


def test_templates_pass_checkov_and_every_exception_says_why() -> None:
    # Every CloudFormation check of checkov (its AWS rules, CKV_AWS_* and the graph ones CKV2_AWS_*);
    # --skip-download: no call to Prisma Cloud for extra policies.
    result = subprocess.run(
        # A relative directory: the secrets check (CKV_AWS_45) also reads the template's path, and
        # some absolute clone paths (/tmp/ci1/...) look like secrets to it.
        [_checkov(), "--directory", str(DEPLOY.relative_to(REPO)), "--framework", "cloudformation", "--skip-download",
         "--output", "json"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    reports = json.loads(result.stdout)
    (report,) = reports if isinstance(reports, list) else [reports]
    assert report["check_type"] == "cloudformation"
    results, summary = report["results"], report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in results["failed_checks"]
    ]
    assert not failed and summary["failed"] == 0 and summary["parsing_errors"] == 0, "\n".join(failed)
    assert result.returncode == 0, result.stderr[-2000:]
    scanned = {Path(c["file_path"]).name for kind in ("passed_checks", "skipped_checks") for c in results[kind]}
    assert scanned == {path.name for path in TEMPLATES}
    assert summary["passed"] > 80 and any(c["check_id"].startswith("CKV2_AWS") for c in results["passed_checks"])
    skipped = results.get("skipped_checks", [])
    for check in skipped:  # the reason stands in the template, beside the resource
        assert len(check["check_result"].get("suppress_comment", "")) > 60, check["check_id"]
    documented = _checkov_exceptions_in_readme()
    assert {(c["check_id"], c["resource"].split(".", 1)[1]) for c in skipped} == documented


def _load_template(path: Path) -> Any:
    from cfnlint.decode import cfn_yaml  # understands !Ref, !Sub, ... (plain YAML does not)

    return cfn_yaml.load(str(path))


def _policy_statements(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "Statement" in node and isinstance(node["Statement"], list):
            yield from (s for s in node["Statement"] if isinstance(s, dict))
        for value in node.values():
            yield from _policy_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _policy_statements(value)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_iam_statements_name_their_actions(template: Path) -> None:
    for statement in _policy_statements(_load_template(template)["Resources"]):
        actions = statement.get("Action", statement.get("NotAction", []))
        actions = [actions] if isinstance(actions, str) else actions
        wildcards = [action for action in actions if "*" in str(action)]
        assert not wildcards, f"{template.name}: {statement.get('Sid', statement)} uses {wildcards}"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_templates_take_no_password_and_let_rds_generate_it(template: Path) -> None:
    parsed = _load_template(template)
    assert not [name for name in parsed.get("Parameters", {}) if "password" in name.lower()]
    for name, resource in parsed["Resources"].items():
        properties = resource.get("Properties", {})
        assert "MasterUserPassword" not in properties, name
        if resource["Type"] == "AWS::RDS::DBInstance":
            assert properties["ManageMasterUserPassword"] is True, name
            assert properties["StorageEncrypted"] is True, name
            assert properties["PubliclyAccessible"] is False, name
    assert "AWS_SECRET_ACCESS_KEY" not in template.read_text(encoding="utf-8")


def test_shell_scripts_are_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: run `make deploy-tools` (Debian package shellcheck)"
    assert SHELL_SCRIPTS
    result = subprocess.run(
        [shellcheck, "--external-sources", "--source-path=SCRIPTDIR", *map(str, SHELL_SCRIPTS)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_appspec_hooks_run_existing_executable_scripts() -> None:
    appspec = yaml.safe_load(APPSPEC.read_text(encoding="utf-8"))
    assert appspec["version"] == 0.0
    assert appspec["os"] == "linux"
    hooks = appspec["hooks"]
    assert set(hooks) <= EC2_HOOKS
    assert {"ApplicationStop", "AfterInstall", "ApplicationStart", "ValidateService"} <= set(hooks)
    locations = [entry["location"] for entries in hooks.values() for entry in entries]
    for location in locations:
        # scripts/ in the bundle is deploy/codedeploy/scripts/ (deploy/release/build_release.py)
        script = APPSPEC.parent / location
        assert script.is_file(), f"{location} does not exist"
        assert os.access(script, os.X_OK), f"{location} is not executable"
        assert script.read_text(encoding="utf-8").startswith("#!/bin/bash\n"), location
    assert {"scripts/stop.sh", "scripts/install.sh", "scripts/migrate.sh", "scripts/start.sh",
            "scripts/validate.sh"} <= set(locations)
    assert "/readyz" in (APPSPEC.parent / "scripts" / "validate.sh").read_text(encoding="utf-8")


def test_units_started_by_the_hooks_exist() -> None:
    units = {path.name for path in (DEPLOY / "systemd").iterdir()}
    scripts = "\n".join(path.read_text(encoding="utf-8") for path in (DEPLOY / "codedeploy" / "scripts").glob("*.sh"))
    for unit in ("billing-serve.service", "billing-worker.service", "billing-migrate.service",
                 "billing-secrets.service"):
        assert unit in units
        assert unit in scripts
    serve = (DEPLOY / "systemd" / "billing-serve.service").read_text(encoding="utf-8")
    assert "billing serve" in serve
    assert "billing worker" in (DEPLOY / "systemd" / "billing-worker.service").read_text(encoding="utf-8")


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    system_units = Path("/lib/systemd/system")
    assert analyze and (system_units / "sysinit.target").exists(), \
        "systemd-analyze and the system's own units are missing: run `make deploy-tools` (Debian package systemd)"
    # A throw-away root: the standard units, ours, and stand-ins for the executables they start.
    (tmp_path / "usr" / "lib" / "systemd").mkdir(parents=True)
    shutil.copytree(system_units, tmp_path / "usr" / "lib" / "systemd" / "system", symlinks=True)
    unit_dir = tmp_path / "etc" / "systemd" / "system"
    unit_dir.mkdir(parents=True)
    for executable in ("opt/billing/venv/bin/billing", "opt/billing/venv/bin/python", "usr/bin/systemctl"):
        path = tmp_path / executable
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n", encoding="utf-8")
        path.chmod(0o755)
    units = sorted(p for p in (DEPLOY / "systemd").iterdir() if p.suffix in {".service", ".timer"})
    for unit in units:
        shutil.copy(unit, unit_dir / unit.name)
    result = subprocess.run(
        [analyze, "verify", "--man=no", f"--root={tmp_path}", *(f"/etc/systemd/system/{u.name}" for u in units)],
        capture_output=True, text=True, timeout=120,
    )
    # verify exits 0 on unknown keys; it only says so on stderr.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def _render_secrets_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("render_secrets", DEPLOY / "systemd" / "render_secrets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rendered_database_url_keeps_any_password_intact() -> None:
    from sqlalchemy.engine import make_url

    render = _render_secrets_module()
    password = 'p@ss:w/o%rd"$x\\ y#?&=`'
    url = render.database_url({"username": "billing_admin", "password": password}, "db.internal", "3306", "billing")
    parsed = make_url(url)
    assert (parsed.drivername, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "mysql+aiomysql", password, "db.internal", 3306, "billing")
    line = render.env_line("BILLING_DATABASE_URL", url)
    assert line.startswith('BILLING_DATABASE_URL="') and line.endswith('"\n')
    # systemd's EnvironmentFile unescapes \\ \" \$ \` inside double quotes
    body = line[len('BILLING_DATABASE_URL="'):-2]
    unescaped = (
        body.replace("\\\\", "\0").replace('\\"', '"').replace("\\$", "$").replace("\\`", "`").replace("\0", "\\")
    )
    assert unescaped == url


def test_rendered_secrets_carry_the_idempotency_key_from_its_own_secret(aws_endpoint: str) -> None:
    import boto3

    from billing.config import Settings

    render = _render_secrets_module()
    client = boto3.client("secretsmanager", endpoint_url=aws_endpoint, region_name="us-east-1")
    suffix = os.urandom(4).hex()
    database = client.create_secret(Name=f"db-{suffix}", SecretString=json.dumps(
        {"username": "billing_app", "password": "pw"}))["ARN"]
    key = client.create_secret(Name=f"idempotency-{suffix}", SecretString="k" * 64)["ARN"]
    environ = {"DB_SECRET_ARN": database, "DB_HOST": "db.internal", "DB_PORT": "3306", "DB_NAME": "billing"}
    assert "BILLING_IDEMPOTENCY_SECRET" not in render.render(client, environ)  # an older bootstrap.env
    lines = render.render(client, environ | {"IDEMPOTENCY_SECRET_ARN": key}).splitlines()
    values = {line.split("=", 1)[0]: line.split("=", 1)[1].strip('"') for line in lines}
    assert set(values) == {"BILLING_DATABASE_URL", "BILLING_IDEMPOTENCY_SECRET"}
    assert Settings.from_env(values).idempotency_secret == "k" * 64


def _systemd_environment_file(path: Path) -> dict[str, str]:
    """What systemd makes of a file of NAME="value" lines (backslash escapes inside quotes)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, quoted = line.partition("=")
        assert quoted.startswith('"') and quoted.endswith('"'), line
        body = quoted[1:-1]
        values[name] = (body.replace("\\\\", "\0").replace('\\"', '"').replace("\\$", "$")
                        .replace("\\`", "`").replace("\0", "\\"))
    return values


@pytest.mark.integration
def test_each_unit_gets_only_its_credentials_and_nothing_prints_a_secret(aws_endpoint: str, tmp_path: Path) -> None:
    """render_secrets.py as billing-migrate.service and billing-secrets.service run it, against
    Secrets Manager in moto: the master's URL for `billing migrate` alone, the application user's
    for serve and worker."""
    import boto3
    from sqlalchemy.engine import make_url

    client = boto3.client("secretsmanager", endpoint_url=aws_endpoint, region_name="us-east-1")
    passwords = {"admin": 'M@ster:p/w"$`', "billing_app": "AppPassword40chars"}
    arns = {user: client.create_secret(Name=f"{user}-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(
        {"username": user, "password": password}))["ARN"] for user, password in passwords.items()}
    key = client.create_secret(Name=f"idempotency-{uuid.uuid4().hex[:8]}", SecretString="k" * 64)["ARN"]
    bootstrap = {"DB_SECRET_ARN": arns["admin"], "DB_APP_SECRET_ARN": arns["billing_app"],
                 "IDEMPOTENCY_SECRET_ARN": key, "DB_HOST": "db.internal", "DB_PORT": "3306", "DB_NAME": "billing"}
    owner = pwd.getpwuid(os.getuid()).pw_name
    rendered = {}
    for purpose in ("migrate", "services"):
        output = tmp_path / purpose / "secrets.env"
        output.parent.mkdir()
        result = subprocess.run(
            [sys.executable, str(DEPLOY / "systemd" / "render_secrets.py"), "--for", purpose,
             "--output", str(output), "--owner", owner],
            env=os.environ | bootstrap | {"AWS_ENDPOINT_URL": aws_endpoint, "AWS_DEFAULT_REGION": "us-east-1"},
            capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert all(p not in result.stdout + result.stderr for p in [*passwords.values(), "k" * 64])
        assert output.stat().st_mode & 0o777 == 0o600
        rendered[purpose] = _systemd_environment_file(output)

    def who(values: dict[str, str]) -> dict[str, tuple[str | None, str | None, str | None]]:
        return {name: (url.username, url.password, url.host) for name, url in
                ((name, make_url(value)) for name, value in values.items() if name != "BILLING_IDEMPOTENCY_SECRET")}

    assert who(rendered["migrate"]) == {
        "BILLING_DATABASE_URL": ("admin", passwords["admin"], "db.internal"),
        "BILLING_DATABASE_APP_URL": ("billing_app", passwords["billing_app"], "db.internal"),
    }
    assert who(rendered["services"]) == {
        "BILLING_DATABASE_URL": ("billing_app", passwords["billing_app"], "db.internal")
    }
    assert rendered["services"]["BILLING_IDEMPOTENCY_SECRET"] == "k" * 64
    # A bootstrap.env of an older launch template: no application user's secret yet.
    render = _render_secrets_module()
    older = {k: v for k, v in bootstrap.items() if k != "DB_APP_SECRET_ARN"}
    assert "BILLING_DATABASE_APP_URL" not in render.render(client, older, "migrate")
    assert "admin" in render.render(client, older, "services")




def test_packer_template_is_valid_hcl() -> None:
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 (test extra) parses the Packer template")
    with (DEPLOY / "packer" / "billing.pkr.hcl").open(encoding="utf-8") as handle:
        template = hcl2.load(handle)
    sources = {next(iter(block)).strip('"') for block in template["source"]}
    assert sources == {"amazon-ebs"}
    (build,) = template["build"]
    scripts = [next(iter(p.values()))["script"] for p in build["provisioner"] if '"shell"' in p or "shell" in p]
    assert scripts == ['"${path.root}/provision.sh"'] or scripts == ["${path.root}/provision.sh"]
    assert (DEPLOY / "packer" / "provision.sh").is_file()


def test_cloudwatch_agent_ships_the_files_rsyslog_writes_and_listens_for_statsd() -> None:
    config = json.loads((DEPLOY / "cloudwatch" / "amazon-cloudwatch-agent.json").read_text(encoding="utf-8"))
    shipped = {entry["file_path"] for entry in config["logs"]["logs_collected"]["files"]["collect_list"]}
    rsyslog = (DEPLOY / "rsyslog" / "30-billing.conf").read_text(encoding="utf-8")
    assert shipped == {"/var/log/billing/serve.log", "/var/log/billing/worker.log"}
    assert all(f'file="{path}"' in rsyslog for path in shipped)
    assert config["metrics"]["metrics_collected"]["statsd"]["service_address"] == "127.0.0.1:@STATSD_PORT@"


def test_ci_workflow_deploys_with_oidc_only() -> None:
    workflow_path = REPO / ".github" / "workflows" / "ci.yml"
    workflow = yaml.safe_load(workflow_path.read_text(encoding="utf-8"))
    jobs = workflow["jobs"]
    assert "make test" in json.dumps(jobs["test"])
    deploy = jobs["deploy"]
    assert deploy["permissions"]["id-token"] == "write"
    text = workflow_path.read_text(encoding="utf-8")
    assert "aws-secret-access-key" not in text and "AWS_SECRET_ACCESS_KEY" not in text


# --------------------------------------------------------------------------- the Lambda package

FORBIDDEN_IN_ZIP = ("sqlalchemy", "aiomysql", "pymysql", "alembic", "bcrypt", "argon2")


@pytest.fixture(scope="module")
def lambda_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HANDLER_SOURCE.exists():
        pytest.skip(f"{HANDLER_SOURCE.relative_to(REPO)} is not written yet")
    out = tmp_path_factory.mktemp("lambda")
    archive = out / "lambda.zip"
    # The same script `make lambda-zip` runs (it downloads the Lambda platform's wheels from PyPI).
    subprocess.run([sys.executable, str(DEPLOY / "lambda" / "build_zip.py"), "--output", str(archive)],
                   check=True, cwd=REPO, timeout=600)
    unpacked = out / "unpacked"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(unpacked)
    return unpacked


@pytest.mark.integration
def test_lambda_zip_holds_the_handler_and_not_the_http_or_sql_side(lambda_dir: Path) -> None:
    assert (lambda_dir / "billing" / "entrypoints" / "lambda_handler.py").is_file()
    assert (lambda_dir / "billing" / "adapters" / "aws").is_dir()
    assert not (lambda_dir / "billing" / "entrypoints" / "http").exists()
    assert not (lambda_dir / "billing" / "adapters" / "sql").exists()
    for name in ("aioboto3", "aiobotocore", "boto3", "botocore"):
        assert (lambda_dir / name).is_dir(), name
    for name in FORBIDDEN_IN_ZIP:
        assert not (lambda_dir / name).exists(), name


@pytest.mark.integration
def test_lambda_handler_imports_from_the_zip_alone(lambda_dir: Path) -> None:
    # `python -S` skips site-packages, so nothing can come from this project's venv: only the
    # standard library and the unpacked zip (PYTHONPATH) are importable. boto3/botocore are in the
    # zip on purpose (deploy/lambda/build_zip.py explains why), so the Lambda runtime's own copy
    # is not emulated here: a package that needed it would fail this test, as it should.
    probe = textwrap.dedent(
        """
        import gc, json, sys
        import billing.entrypoints.lambda_handler as module
        assert callable(module.handler), "handler is not callable"
        root, stdlib = sys.argv[1], sys.argv[2]
        outside = sorted(
            name for name, mod in list(sys.modules.items())
            if getattr(mod, "__file__", None)
            and not mod.__file__.startswith((root, stdlib))
        )
        print(json.dumps({"outside": outside, "modules": sorted(sys.modules), "frozen": gc.get_freeze_count()}))
        """
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(lambda_dir),
        "PYTHONDONTWRITEBYTECODE": "1",
        # What the Lambda environment gives the function (template: deploy/cloudformation/messaging.yaml).
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "BILLING_AWS_REGION": "us-east-1",
        "BILLING_LEDGER_TABLE": "email-ledger",
        "BILLING_MAIL_SENDER": "no-reply@example.com",
        "BILLING_PUBLIC_BASE_URL": "https://billing.example.com",
        "BILLING_LOG_LEVEL": "INFO",
        **BUILD_ZIP.tls_environment(lambda_dir),
    }
    stdlib = sysconfig.get_paths()["stdlib"]
    result = subprocess.run(
        [sys.executable, "-S", "-s", "-c", probe, str(lambda_dir), stdlib],
        capture_output=True, text=True, env=env, cwd=lambda_dir, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outside"] == []
    assert report["frozen"] == 0  # outside Lambda (no AWS_LAMBDA_FUNCTION_NAME) the collector is left alone
    loaded_roots = {name.split(".")[0] for name in report["modules"]}
    assert not loaded_roots & set(FORBIDDEN_IN_ZIP)


@pytest.mark.integration
def test_lambda_zip_trusts_the_aws_root_cas_only(lambda_dir: Path) -> None:
    trust = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trust.load_verify_locations(cafile=str(lambda_dir / BUILD_ZIP.TRUST_ANCHORS))
    roots = trust.get_ca_certs()
    names = sorted(dict(pair for rdn in cert["subject"] for pair in rdn)["commonName"] for cert in roots)
    assert names == sorted(BUILD_ZIP.AWS_ROOT_CAS)
    assert all(cert["subject"] == cert["issuer"] for cert in roots)  # roots, not intermediates


# The package's endpoints.json keeps only its own services; the endpoints it resolves for them, in
# every partition, must be those of the full file this project's botocore (same pin) carries.
ENDPOINTS = textwrap.dedent(
    """
    import json, sys
    import botocore.session
    session = botocore.session.get_session()
    print(json.dumps({f"{service} {region}": session.create_client(service, region_name=region).meta.endpoint_url
                      for service in ("dynamodb", "ses", "sts")
                      for region in ("us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1")}))
    """
)


@pytest.mark.integration
def test_lambda_zip_resolves_the_same_aws_endpoints_as_the_full_botocore(lambda_dir: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "PYTHONDONTWRITEBYTECODE": "1"}
    resolved = []
    for python, path in (([sys.executable, "-S", "-s"], str(lambda_dir)), ([sys.executable], "")):
        result = subprocess.run([*python, "-c", ENDPOINTS], capture_output=True, text=True, timeout=120,
                                env=env | {"PYTHONPATH": path}, cwd=lambda_dir if path else REPO)
        assert result.returncode == 0, result.stderr
        resolved.append(json.loads(result.stdout))
    from_zip, from_full = resolved
    assert from_zip == from_full
    assert from_zip["ses eu-west-1"] == "https://email.eu-west-1.amazonaws.com"
    assert from_zip["dynamodb cn-north-1"] == "https://dynamodb.cn-north-1.amazonaws.com.cn"


# Invoked as the Lambda runtime would: `handler(event, context)` on a fresh interpreter whose only
# non-standard imports come from the unpacked zip; the same container serves both invocations.
INVOKE = textwrap.dedent(
    """
    import gc, json, sys
    from billing.entrypoints.lambda_handler import close_runtime, handler
    event = json.loads(open(sys.argv[1], encoding="utf-8").read())
    results = [handler(event, None), handler(event, None)]
    close_runtime()
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump({"results": results, "frozen": gc.get_freeze_count(), "collecting": gc.isenabled()}, out)
    """
)


async def _ses_sent(clients: AwsClients) -> int:
    return int((await clients["ses"].get_send_quota())["SentLast24Hours"])


@pytest.mark.integration
async def test_lambda_from_the_zip_sends_the_email_once_against_moto(lambda_dir: Path, aws_endpoint: str,
                                                                     tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:12]
    table, sender, function = f"ledger-{tag}", f"no-reply-{tag}@example.com", f"billing-test-{tag}-digest-mailer"
    clients = AwsClients("us-east-1", aws_endpoint, services=("dynamodb", "ses"))
    await clients.open()
    try:
        # What the data and messaging stacks create: the ledger (TTL on expires_at) and the sender.
        await ensure_ledger_table(clients, table)
        await ensure_sender(clients, sender)
        ttl = await clients["dynamodb"].describe_time_to_live(TableName=table)
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
        sent_before = await _ses_sent(clients)

        digest = DueBillsDigest(
            uuid.uuid4(), uuid.uuid4(), f"jane-{tag}@example.com", 7, date.today(),
            (DigestLine(uuid.uuid4(), "Northwind Power", Decimal("120.50"), "EUR", date.today() + timedelta(days=3),
                        "https://billing.example.com/v1/bill/x"),),
        )
        envelope = {"Type": "Notification", "MessageId": str(uuid.uuid4()),
                    "TopicArn": f"arn:aws:sns:us-east-1:123456789012:digest-{tag}", "Subject": None,
                    "Message": digest.to_json(), "Timestamp": "2026-01-01T00:00:00.000Z"}
        event_file = tmp_path / "event.json"
        event_file.write_text(json.dumps(sns_event(envelope, f"arn:aws:sns:us-east-1:123456789012:digest-{tag}:sub")),
                              encoding="utf-8")
        results_file = tmp_path / "results.json"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(lambda_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
            # What Lambda sets, then what messaging.yaml sets, then the emulator instead of AWS.
            "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "BILLING_AWS_REGION": "us-east-1",
            "BILLING_LEDGER_TABLE": table,
            "BILLING_MAIL_SENDER": sender,
            "BILLING_PUBLIC_BASE_URL": "https://billing.example.com",
            "BILLING_LOG_LEVEL": "INFO",
            **BUILD_ZIP.tls_environment(lambda_dir),
            "BILLING_AWS_ENDPOINT_URL": aws_endpoint,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-S", "-s", "-c", INVOKE, str(event_file), str(results_file),
            env=env, cwd=lambda_dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode == 0, stderr.decode()

        report = json.loads(results_file.read_text(encoding="utf-8"))
        # In Lambda the handler's imports are left out of garbage collection (see lambda_handler.py).
        assert report["frozen"] > 50_000 and report["collecting"]
        first, second = report["results"]
        assert first == {"outcomes": ["sent"]}
        assert second == {"outcomes": ["deduplicated"]}  # SNS delivered twice: one email
        assert await _ses_sent(clients) - sent_before == 1
        item = await clients["dynamodb"].get_item(TableName=table, Key={"user_id": {"S": str(digest.user_id)}},
                                                  ConsistentRead=True)
        assert item["Item"]["state"]["S"] == "sent"
    finally:
        await clients.close()

    # Its metrics: EMF lines on stdout (CloudWatch Logs extracts them), no statsd agent needed.
    metrics = [metric for line in stdout.decode().splitlines() if line.startswith('{"_aws"')
               for metric in parse_emf(line)]
    counters = [(name, value) for namespace, name, value, dims in metrics
                if namespace == "Billing" and dims.get("FunctionName") == function and ".emails." in name]
    assert counters == [("billing." + LAMBDA_EMAILS_SENT, 1), ("billing." + LAMBDA_EMAILS_DEDUPLICATED, 1)]
    ses_calls = [
        dims for _, name, _, dims in metrics if name == "billing.aws.duration" and dims.get("service") == "ses"
    ]
    assert [dims["outcome"] for dims in ses_calls] == ["ok"]
    assert digest.email not in stdout.decode() and str(digest.user_id) not in stdout.decode()
