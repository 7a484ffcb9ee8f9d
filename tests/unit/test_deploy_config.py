"""deploy/ agrees with the application: the settings it passes, the commands it runs, the metrics
it alarms on, and the stop timeouts of the units. No AWS, no network: the templates are read as
data, every value a BILLING_* variable can take in AWS is worked out from them (parameter
defaults, allowed values and bounds, cross-stack exports, the names AWS gives resources) and
parsed by Settings.from_env, the code the services and the Lambda start with."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import certifi
import pytest
import yaml

import billing.ports.metrics as metric_names
from billing.config import ConfigError, Settings
from billing.entrypoints.consumer import STOP_GRACE_SECONDS
from billing.entrypoints.http.gunicorn_app import gunicorn_options
from billing.entrypoints.http.lifecycle import GRACEFUL_TIMEOUT

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CFN = DEPLOY / "cloudformation"
SETTINGS_VARIABLES = {"BILLING_" + name.upper() for name in Settings.__dataclass_fields__}
NOT_SETTINGS = {"BILLING_PARTS"}  # a constant of deploy/lambda/build_zip.py, not a variable
RDS_CA = "/etc/pki/rds/global-bundle.pem"

# What the importing stacks call the exporting ones (their parameters' defaults are the stack names).
STACK_PARAMETERS = {"NetworkStackName": "network", "DataStackName": "data", "MessagingStackName": "messaging",
                    "CiStackName": "ci"}
PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
          "AWS::URLSuffix": "amazonaws.com"}
# Values for parameters without a default, and the longest EnvironmentName its pattern allows
# (names built from it must still fit the settings' limits).
SAMPLES = {"MailDomain": "mail.example.com", "DomainName": "billing.example.com", "HostedZoneId": "Z0123456789ABC",
           "PublicBaseUrl": "https://billing.example.com", "EnvironmentName": "s" * 16,
           "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"}


def load(name: str) -> Any:
    from cfnlint.decode import cfn_yaml  # understands !Ref, !Sub, ... (plain YAML does not)

    return cfn_yaml.load(str(CFN / f"{name}.yaml"))


TEMPLATES = {name: load(name) for name in ("ci", "network", "data", "messaging", "app")}


# --------------------------------------------------------------------------- resolving values

class Stack:
    """A template deployed under a stack name: resolves intrinsic functions to the strings
    CloudFormation would produce, one list of possible values per expression."""

    def __init__(self, name: str, stack_name: str | None = None) -> None:
        self.template = TEMPLATES[name]
        self.stack_name = stack_name or f"billing-prod-{name}"

    def parameter(self, name: str) -> list[str]:
        spec = self.template["Parameters"][name]
        if "AllowedValues" in spec:
            values = [str(v) for v in spec["AllowedValues"]]
        else:
            values = [str(spec["Default"])] if "Default" in spec else []
            values += [str(spec[k]) for k in ("MinValue", "MaxValue") if k in spec]
            values += [SAMPLES[name]] if name in SAMPLES else []
        assert values, f"parameter {name}: no default and no sample value"
        for value in values:
            if "AllowedPattern" in spec:
                assert re.fullmatch(spec["AllowedPattern"], value), (name, value)
        return values

    def variable(self, name: str, mapping: dict[str, Any]) -> list[str]:
        if name in mapping:
            return self.resolve(mapping[name])
        if name == "AWS::StackName":
            return [self.stack_name]
        if name in PSEUDO:
            return [PSEUDO[name]]
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.template["Resources"]:
            return self.reference(name)
        raise AssertionError(f"cannot resolve ${{{name}}}")

    def substitute(self, text: str, mapping: dict[str, Any]) -> list[str]:
        """Every variable takes each of its values once, the others keeping their first."""
        names = list(dict.fromkeys(re.findall(r"\$\{([^}!]+)\}", text)))
        choices = {name: self.variable(name, mapping) for name in names}

        def render(picked: dict[str, str]) -> str:
            return re.sub(r"\$\{([^}!]+)\}", lambda m: picked[m.group(1)], text)

        first = {name: values[0] for name, values in choices.items()}
        results = [render(first)]
        for name, values in choices.items():
            results += [render(first | {name: value}) for value in values[1:]]
        return list(dict.fromkeys(results))

    def resolve(self, node: Any) -> list[str]:
        if isinstance(node, str | int | float) and not isinstance(node, bool):
            return [str(node)]
        if isinstance(node, dict) and len(node) == 1:
            ((function, argument),) = node.items()
            if function == "Ref":
                return self.variable(argument, {})
            if function == "Fn::Sub":
                text, mapping = (argument, {}) if isinstance(argument, str) else argument
                return self.substitute(text, mapping)
            if function == "Fn::ImportValue":
                return [value for export in self.resolve(argument) for value in imported(export)]
        raise AssertionError(f"no resolution for {node!r}")

    def reference(self, logical_id: str) -> list[str]:
        """What !Ref returns for the resources whose names reach a BILLING_* variable."""
        resource = self.template["Resources"][logical_id]
        kind, properties = resource["Type"], resource.get("Properties", {})
        generated = f"{self.stack_name}-{logical_id}-1A2B3C4D5E6F7"  # CloudFormation's naming scheme

        def named(key: str) -> list[str]:
            return self.resolve(properties[key]) if key in properties else [generated]

        if kind == "AWS::SQS::Queue":
            return [f"https://sqs.{PSEUDO['AWS::Region']}.amazonaws.com/{PSEUDO['AWS::AccountId']}/{name}"
                    for name in named("QueueName")]
        if kind == "AWS::SNS::Topic":
            return [
                f"arn:aws:sns:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:{name}" for name in named("TopicName")
            ]
        if kind == "AWS::DynamoDB::Table":
            return named("TableName")
        if kind == "AWS::S3::Bucket":
            return [name.lower() for name in named("BucketName")]
        if kind == "AWS::Lambda::Function":
            return named("FunctionName")
        raise AssertionError(f"no sample for a reference to {kind} {logical_id}")


def exporter(export: str) -> tuple[Stack, Any]:
    """The stack and output that export `export` (as an importing stack names it)."""
    for parameter, name in STACK_PARAMETERS.items():
        stack_name = str(TEMPLATES["app"]["Parameters"][parameter]["Default"])
        if export.startswith(stack_name + "-"):
            suffix = export[len(stack_name) + 1:]
            for output in TEMPLATES[name].get("Outputs", {}).values():
                if output.get("Export", {}).get("Name") == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"}:
                    return Stack(name, stack_name), output["Value"]
            raise AssertionError(f"{name}.yaml exports no {suffix}")
    raise AssertionError(f"no stack exports {export}")


def imported(export: str) -> list[str]:
    stack, value = exporter(export)
    return stack.resolve(value)


def user_data() -> tuple[str, dict[str, Any]]:
    launch = TEMPLATES["app"]["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    text, mapping = launch["UserData"]["Fn::Base64"]["Fn::Sub"]
    return text, mapping


def heredoc(text: str, path: str) -> dict[str, str]:
    """KEY=VALUE lines of the file the user data writes to `path` (cat > path <<'EOF' ... EOF)."""
    match = re.search(rf"cat > {re.escape(path)} <<'EOF'\n(.*?)\nEOF\n", text, re.S)
    assert match, f"user data writes no {path}"
    pairs = [line.split("=", 1) for line in match.group(1).splitlines() if line.strip()]
    assert all(len(pair) == 2 for pair in pairs)
    assert len({k for k, _ in pairs}) == len(pairs), f"{path}: a variable is set twice"
    return dict((k, v) for k, v in pairs)


def instance_environment() -> dict[str, str]:
    return heredoc(user_data()[0], "/etc/billing/billing.env")


def lambda_environment() -> dict[str, Any]:
    return TEMPLATES["messaging"]["Resources"]["MailerFunction"]["Properties"]["Environment"]["Variables"]


def unit_environment() -> Iterator[tuple[str, str, str]]:
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        for line in unit.read_text(encoding="utf-8").splitlines():
            if line.startswith("Environment="):
                for assignment in line[len("Environment="):].split():
                    name, _, value = assignment.strip('"').partition("=")
                    yield unit.name, name, value


def possible_values() -> Iterator[tuple[str, str, str]]:
    """(where, variable, value) for every BILLING_* variable deploy/ sets, each value it can take."""
    app = Stack("app")
    _text, mapping = user_data()
    for name, raw in instance_environment().items():
        for value in app.substitute(raw, mapping):
            yield "instances (billing.env)", name, value
    messaging = Stack("messaging")
    for name, node in lambda_environment().items():
        if name.startswith("BILLING_"):  # the others are the TLS trust store's (a test of their own)
            for value in messaging.resolve(node):
                yield "Lambda", name, value
    for unit, name, value in unit_environment():
        if name.startswith("BILLING_"):
            yield unit, name, value


# --------------------------------------------------------------------------- settings

def deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "dist" not in p.relative_to(DEPLOY).parts
                  and p.suffix not in {".pyc", ".zip", ".tgz"})


def test_every_billing_variable_named_in_deploy_is_a_setting() -> None:
    unknown = {
        f"{path.relative_to(REPO)}: {name}"
        for path in deploy_files()
        for name in re.findall(r"\bBILLING_[A-Z0-9_]+\b", path.read_text(encoding="utf-8"))
        if name not in SETTINGS_VARIABLES | NOT_SETTINGS
    }
    assert not unknown, sorted(unknown)


def test_instances_and_lambda_get_what_the_pipeline_needs() -> None:
    instance = set(instance_environment())
    assert {"BILLING_HTTP_HOST", "BILLING_HTTP_PORT", "BILLING_PUBLIC_BASE_URL", "BILLING_AWS_REGION",
            "BILLING_S3_BUCKET", "BILLING_DUE_QUEUE_URL", "BILLING_DIGEST_TOPIC_ARN", "BILLING_LEDGER_TABLE",
            "BILLING_MAIL_SENDER", "BILLING_STATSD_HOST", "BILLING_STATSD_PORT", "BILLING_STATSD_PREFIX",
            "BILLING_DATABASE_SSL_CA", "BILLING_QUEUE_MAX_RECEIVES", "BILLING_WORKER_VISIBILITY_SECONDS"} <= instance
    assert {"BILLING_AWS_REGION", "BILLING_LEDGER_TABLE", "BILLING_MAIL_SENDER",
            "BILLING_PUBLIC_BASE_URL"} <= set(lambda_environment())
    # The database URL carries the password: it comes from Secrets Manager at boot, never from here.
    # The emulator's endpoint is for `billing local` and the tests only.
    assert "BILLING_DATABASE_URL" not in instance
    assert not {"BILLING_DATABASE_URL", "BILLING_AWS_ENDPOINT_URL", "BILLING_OUTBOX_DIR"} & (
        instance | set(lambda_environment()) | {name for _, name, _ in unit_environment()})
    assert 'env_line("BILLING_DATABASE_URL"' in (DEPLOY / "systemd" / "render_secrets.py").read_text(encoding="utf-8")


def test_every_value_deploy_can_set_parses_as_a_setting(tmp_path: Path) -> None:
    ca_bundle = tmp_path / "global-bundle.pem"
    # A real bundle stands in for the RDS one: the setting must hold certificates.
    ca_bundle.write_bytes(Path(certifi.where()).read_bytes())
    checked = 0
    for where, name, value in possible_values():
        assert name in SETTINGS_VARIABLES, f"{where}: {name} is not a setting"
        if name == "BILLING_DATABASE_SSL_CA":
            # A file of the AMI: it must be where the Packer provisioner puts it.
            assert value == RDS_CA and RDS_CA in (DEPLOY / "packer" / "provision.sh").read_text(encoding="utf-8")
            value = str(ca_bundle)
        try:
            Settings.from_env({name: value})
        except ConfigError as exc:
            pytest.fail(f"{where}: {exc}")
        checked += 1
    assert checked > 30


def test_the_workers_queue_settings_are_the_queues_own() -> None:
    """The worker counts the last delivery before the DLQ and extends visibility by its own
    numbers: they must be the queue's maxReceiveCount and VisibilityTimeout, not look-alikes."""
    queue = TEMPLATES["messaging"]["Resources"]["DueBillsQueue"]["Properties"]
    environment = instance_environment()
    _, mapping = user_data()
    for variable, queue_value in (("BILLING_QUEUE_MAX_RECEIVES", queue["RedrivePolicy"]["maxReceiveCount"]),
                                  ("BILLING_WORKER_VISIBILITY_SECONDS", queue["VisibilityTimeout"])):
        match = re.fullmatch(r"\$\{(\w+)\}", environment[variable])
        assert match, f"{variable}={environment[variable]}: must be the messaging stack's export, not a copy"
        sub_name = match.group(1)
        (export,) = Stack("app").resolve(mapping[sub_name]["Fn::ImportValue"])
        stack, output = exporter(export)
        assert stack.template is TEMPLATES["messaging"]
        assert output == queue_value, f"{variable} is not the value the queue is configured with"
        for value in stack.resolve(output):
            Settings.from_env({variable: value})


def test_statsd_goes_to_the_agent_port_the_agent_listens_on() -> None:
    text, _ = user_data()
    bootstrap = heredoc(text, "/etc/billing/bootstrap.env")
    environment = instance_environment()
    assert environment["BILLING_STATSD_HOST"] == "127.0.0.1"
    assert environment["BILLING_STATSD_PORT"] == bootstrap["STATSD_PORT"] == "${StatsdPort}"
    agent = json.loads((DEPLOY / "cloudwatch" / "amazon-cloudwatch-agent.json").read_text(encoding="utf-8"))
    assert agent["metrics"]["metrics_collected"]["statsd"]["service_address"] == "127.0.0.1:@STATSD_PORT@"
    assert "s/@STATSD_PORT@/${statsd_port}/g" in (DEPLOY / "codedeploy" / "scripts" / "install.sh").read_text(
        encoding="utf-8")


# --------------------------------------------------------------------------- metrics and alarms

PORT_METRICS = {value for name, value in vars(metric_names).items() if name.isupper() and isinstance(value, str)}
# The tags each metric carries (ports/metrics.py); EMF lines carry them all as one dimension set.
TAGS = {metric_names.HTTP_REQUESTS: {"route", "method", "status_class"},
        metric_names.HTTP_REQUEST_DURATION: {"route", "method", "status_class"},
        metric_names.DB_DURATION: {"operation", "outcome"},
        metric_names.AWS_DURATION: {"service", "operation", "outcome"}}


def alarms() -> dict[str, Any]:
    return {name: resource["Properties"] for name, resource in TEMPLATES["app"]["Resources"].items()
            if resource["Type"] == "AWS::CloudWatch::Alarm"}


def metric_stats(alarm: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "MetricName" in alarm:
        yield alarm
    for query in alarm.get("Metrics", []):
        if "MetricStat" in query:
            yield query["MetricStat"]["Metric"]


def test_alarms_on_app_metrics_use_names_and_dimension_sets_that_are_published() -> None:
    agent = json.loads((DEPLOY / "cloudwatch" / "amazon-cloudwatch-agent.json").read_text(encoding="utf-8"))
    metrics_config = agent["metrics"]
    # Without "." the agent joins the statsd name's parts with "_" (billing_http_requests).
    assert metrics_config["metrics_collected"]["statsd"]["metric_separator"] == "."
    aggregated = [set(dimensions) for dimensions in metrics_config["aggregation_dimensions"]]
    prefix = instance_environment()["BILLING_STATSD_PREFIX"]
    assert prefix == Settings().statsd_prefix  # the Lambda's EMF names use the default prefix
    seen = set()
    for name, alarm in alarms().items():
        for metric in metric_stats(alarm):
            if metric["Namespace"] != metrics_config["namespace"]:
                continue
            assert metric["MetricName"].startswith(prefix + "."), name
            port_name = metric["MetricName"][len(prefix) + 1:]
            assert port_name in PORT_METRICS, f"{name}: {metric['MetricName']} is never emitted"
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if "FunctionName" in dimensions:  # the Lambda's EMF: its one dimension set, complete
                assert set(dimensions) == {"FunctionName"} | TAGS.get(port_name, set()), name
            else:  # the agent: a rolled-up set of aggregation_dimensions
                assert set(dimensions) in aggregated, f"{name}: {sorted(dimensions)} is not aggregated by the agent"
            if "status_class" in dimensions:
                assert dimensions["status_class"] in {"2xx", "4xx", "5xx"}
            seen.add(port_name)
    assert {metric_names.HTTP_REQUESTS, metric_names.HTTP_REQUEST_DURATION, metric_names.AWS_DURATION} <= seen
    latency = alarms()["AppLatencyP99Alarm"]
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == (
        prefix + "." + metric_names.HTTP_REQUEST_DURATION,
        "p99",
    )
    assert TEMPLATES["app"]["Parameters"]["LatencyP99Milliseconds"]["Default"] == 1000  # the timer is in ms


def test_both_dead_letter_queues_alarm_above_zero() -> None:
    watched = set()
    for alarm in alarms().values():
        if alarm.get("Namespace") == "AWS/SQS" and alarm["MetricName"] == "ApproximateNumberOfMessagesVisible":
            assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
            (queue,) = alarm["Dimensions"]
            watched.add(queue["Value"]["Fn::ImportValue"]["Fn::Sub"].split("-", 1)[1])
    assert watched == {"DueBillsDeadLetterQueueName", "DigestFailureQueueName"}
    messaging = TEMPLATES["messaging"]["Resources"]
    assert messaging["DueBillsQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["DueBillsDeadLetterQueue", "Arn"]}
    assert messaging["MailerInvokeConfig"]["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["DigestFailureQueue", "Arn"]}


# --------------------------------------------------------------------------- who may send and publish

def short(node: Any) -> str:
    """A reference in a template as a short name: "InstanceRole.Arn", "Ref DigestTopic",
    "import DueBillsQueueArn" (another stack's export), "Ref X if Condition" (an optional entry)."""
    if isinstance(node, str):
        return node
    ((function, argument),) = node.items()
    if function == "Fn::GetAtt":
        return ".".join(argument) if isinstance(argument, list) else str(argument)
    if function == "Ref":
        return f"Ref {argument}"
    if function == "Fn::ImportValue":
        return "import " + argument["Fn::Sub"].split("}-", 1)[1]
    if function == "Fn::If" and argument[2] == {"Ref": "AWS::NoValue"}:
        return f"{short(argument[1])} if {argument[0]}"
    return json.dumps(node)


def listed(node: Any) -> list[Any]:
    return node if isinstance(node, list) else [node]


def resource_policy(stack: str, kind: str, targets: str, target: str) -> list[dict[str, Any]]:
    """The statements of the one `kind` resource policy of `stack` whose `targets` name `target`."""
    [policy] = [resource["Properties"]["PolicyDocument"] for resource in TEMPLATES[stack]["Resources"].values()
                if resource["Type"] == kind and [short(t) for t in resource["Properties"][targets]] == [target]]
    return list(policy["Statement"])


def only_principals(statements: list[dict[str, Any]], action: str) -> set[str]:
    """The roles a policy's deny of `action` leaves out (everyone else in the account is denied)."""
    [deny] = [s for s in statements if s["Effect"] == "Deny" and s["Principal"] == "*"
              and listed(s["Action"]) == [action] and "ArnNotEquals" in s["Condition"]]
    return {short(p) for p in listed(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])}


def granted(action: str, resources: set[str]) -> set[str]:
    """The roles of every stack whose own policies allow `action` on one of `resources` (or on "*")."""
    roles = set()
    for template in TEMPLATES.values():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    if (statement["Effect"] == "Allow" and action in listed(statement["Action"])
                            and {short(r) for r in listed(statement["Resource"])} & (resources | {"*"})):
                        roles.add(f"{logical_id}.Arn")
    return roles


def test_the_worker_and_the_api_run_under_the_instance_role() -> None:
    app = TEMPLATES["app"]["Resources"]
    profile = app["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["IamInstanceProfile"]["Arn"]
    assert short(profile) == "InstanceProfile.Arn"
    assert [short(r) for r in app["InstanceProfile"]["Properties"]["Roles"]] == ["Ref InstanceRole"]
    assert {"billing-serve.service", "billing-worker.service"} <= {p.name for p in (DEPLOY / "systemd").iterdir()}


def test_only_the_instances_the_reminder_schedule_and_the_optional_redrive_role_may_send_due_bills_requests() -> None:
    statements = resource_policy("app", "AWS::SQS::QueuePolicy", "Queues", "import DueBillsQueueUrl")
    assert only_principals(statements, "sqs:SendMessage") == {
        "InstanceRole.Arn", "ReminderScheduleRole.Arn", "Ref MessageRedriveRoleArn if HasMessageRedriveRole"}
    assert all(short(s["Resource"]) == "import DueBillsQueueArn" for s in statements)
    assert not [s for s in statements if s["Effect"] == "Allow"]  # the roles' own policies grant; this only denies
    # Every role some stack lets send there is one the queue admits, or its sends would fail.
    assert granted("sqs:SendMessage", {"import DueBillsQueueArn", "DueBillsQueue.Arn"}) == {
        "InstanceRole.Arn", "ReminderScheduleRole.Arn"}


def test_the_daily_schedule_sends_one_round_request_to_the_due_bills_queue_with_a_role_that_can_do_only_that() -> None:
    from billing.domain.model.due_bills import ReminderRoundRequest, read_queued_work

    app = TEMPLATES["app"]
    [schedule] = [r for r in app["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"]
    properties, target = schedule["Properties"], schedule["Properties"]["Target"]
    assert short(target["Arn"]) == "import DueBillsQueueArn"
    assert short(target["RoleArn"]) == "ReminderScheduleRole.Arn"
    assert read_queued_work(target["Input"]) == ReminderRoundRequest()  # what the worker reads as a round
    assert properties["ScheduleExpressionTimezone"] == "UTC" and properties["State"] == "ENABLED"
    assert properties["ScheduleExpression"]["Fn::Sub"] == "cron(${ReminderMinuteUtc} ${ReminderHourUtc} * * ? *)"
    hour, minute = (app["Parameters"][name] for name in ("ReminderHourUtc", "ReminderMinuteUtc"))
    assert (hour["Default"], hour["MinValue"], hour["MaxValue"]) == (8, 0, 23)  # BILLING_REMINDER_TIME's 08:00
    assert (minute["Default"], minute["MinValue"], minute["MaxValue"]) == (0, 0, 59)
    assert Settings.from_env({}).reminder_time == f"{hour['Default']:02d}:{minute['Default']:02d}"

    role = app["Resources"]["ReminderScheduleRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert short(trust["Condition"]["StringEquals"]["aws:SourceAccount"]) == "Ref AWS::AccountId"  # no confused deputy
    assert "ManagedPolicyArns" not in role
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert [(s["Effect"], listed(s["Action"]), [short(r) for r in listed(s["Resource"])]) for s in statements] == [
        ("Allow", ["sqs:SendMessage"], ["import DueBillsQueueArn"])]


def test_only_the_worker_may_publish_digests() -> None:
    statements = resource_policy("app", "AWS::SNS::TopicPolicy", "Topics", "import DigestTopicArn")
    assert only_principals(statements, "sns:Publish") == {"InstanceRole.Arn"}
    assert all(short(s["Resource"]) == "import DigestTopicArn" for s in statements)
    assert not [s for s in statements if s["Effect"] == "Allow"]
    assert granted("sns:Publish", {"import DigestTopicArn", "Ref DigestTopic"}) == {"InstanceRole.Arn"}


def test_the_digest_failure_queue_takes_the_mailers_failures_and_the_topics_undeliverables_only() -> None:
    statements = resource_policy("messaging", "AWS::SQS::QueuePolicy", "Queues", "Ref DigestFailureQueue")
    [from_sns] = [s for s in statements if s["Effect"] == "Allow"]
    assert from_sns["Principal"] == {"Service": "sns.amazonaws.com"} and from_sns["Action"] == "sqs:SendMessage"
    assert {key: short(value) for key, value in from_sns["Condition"]["ArnEquals"].items()} == {
        "aws:SourceArn": "Ref DigestTopic"}
    assert only_principals(statements, "sqs:SendMessage") == {"MailerRole.Arn"}
    [deny] = [s for s in statements if "ArnNotEquals" in s.get("Condition", {})]
    assert deny["Condition"]["Bool"] == {"aws:PrincipalIsAWSService": "false"}  # SNS is held to aws:SourceArn
    assert granted("sqs:SendMessage", {"DigestFailureQueue.Arn"}) == {"MailerRole.Arn"}
    messaging = TEMPLATES["messaging"]["Resources"]
    redrive = messaging["MailerSubscription"]["Properties"]["RedrivePolicy"]
    assert short(redrive["deadLetterTargetArn"]) == "DigestFailureQueue.Arn"


def test_the_instances_may_make_the_calls_the_worker_makes() -> None:
    needed = {  # SqsQueue: receive, delete, hide, and dead_letter (its redrive policy, then the DLQ)
        "import DueBillsQueueArn": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                                    "sqs:GetQueueAttributes"},
        "import DueBillsDeadLetterQueueArn": {"sqs:SendMessage", "sqs:GetQueueUrl"},
        "import DigestTopicArn": {"sns:Publish"},
    }
    [policy] = TEMPLATES["app"]["Resources"]["InstanceRole"]["Properties"]["Policies"]
    allowed: dict[str, set[str]] = {}
    for statement in policy["PolicyDocument"]["Statement"]:
        for resource in listed(statement["Resource"]):
            allowed.setdefault(short(resource), set()).update(listed(statement["Action"]))
    for resource, actions in needed.items():
        assert actions <= allowed.get(resource, set()), resource


def test_the_mailer_may_make_every_ledger_call_the_lambda_makes() -> None:
    import ast

    from billing.adapters.aws import dynamodb_ledger

    # Every DynamoDB call of the ledgers' code (`self._dynamodb.<operation>(...)`), as an IAM action.
    tree = ast.parse(Path(dynamodb_ledger.__file__).read_text(encoding="utf-8"))
    calls = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Attribute)
             and node.func.value.attr == "_dynamodb"}
    needed = {"dynamodb:" + "".join(part.title() for part in call.split("_")) for call in calls}
    assert needed == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    [policy] = TEMPLATES["messaging"]["Resources"]["MailerRole"]["Properties"]["Policies"]
    allowed = {action for s in policy["PolicyDocument"]["Statement"]
               if {short(r) for r in listed(s["Resource"])} == {"import EmailLedgerTableArn"}
               for action in listed(s["Action"])}
    assert needed <= allowed, needed - allowed


def build_zip_module() -> SimpleNamespace:
    """The names of deploy/lambda/build_zip.py, a script rather than a package module."""
    return SimpleNamespace(**runpy.run_path(str(DEPLOY / "lambda" / "build_zip.py")))


def test_the_lambda_zip_carries_its_metrics_adapter() -> None:
    assert "billing/adapters/metrics/emf.py" in build_zip_module().BILLING_PARTS


def test_the_lambda_trusts_the_certificates_its_package_carries() -> None:
    build_zip = build_zip_module()
    expected = build_zip.tls_environment(build_zip.LAMBDA_TASK_ROOT)
    assert expected == {"SSL_CERT_FILE": "/var/task/aws-trust-anchors.pem",
                        "AWS_CA_BUNDLE": "/var/task/aws-trust-anchors.pem"}
    assert {name: lambda_environment().get(name) for name in expected} == expected


# --------------------------------------------------------------------------- systemd and CodeDeploy

def unit_settings(name: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in (DEPLOY / "systemd" / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key] = value
    return settings


def test_units_wait_longer_than_the_services_take_to_stop_gracefully() -> None:
    serve = unit_settings("billing-serve.service")
    worker = unit_settings("billing-worker.service")
    # serve: SIGTERM to gunicorn's master only, which passes it to its workers and SIGKILLs one still
    # running after graceful_timeout; then the master itself exits.
    assert serve["KillMode"] == "mixed" and serve["KillSignal"] == "SIGTERM"
    assert int(serve["TimeoutStopSec"]) >= gunicorn_config()["graceful_timeout"] + 10
    # worker: in-flight messages get STOP_GRACE_SECONDS, then the clients are closed.
    assert worker["KillSignal"] == "SIGTERM"
    assert int(worker["TimeoutStopSec"]) >= STOP_GRACE_SECONDS + 10
    appspec = yaml.safe_load((DEPLOY / "codedeploy" / "appspec.yml").read_text(encoding="utf-8"))
    (stop,) = appspec["hooks"]["ApplicationStop"]
    assert stop["timeout"] > int(serve["TimeoutStopSec"]) + int(worker["TimeoutStopSec"])  # stopped one by one


def gunicorn_config(**environment: str) -> dict[str, Any]:
    """What gunicorn makes of deploy/gunicorn.conf.py (`--print-config`), for these BILLING_* values."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {"PATH": "", "BILLING_IDEMPOTENCY_SECRET": "s" * 32} | environment
    printed = subprocess.run([str(gunicorn), "-c", str(DEPLOY / "gunicorn.conf.py"), "--print-config"], env=env,
                             capture_output=True, text=True, check=True, timeout=60).stdout
    config: dict[str, Any] = {}
    for line in printed.splitlines():
        name, _, value = line.partition(" = ")
        config[name.strip()] = int(value) if value.isdigit() else value
    return config


def test_gunicorn_conf_serves_what_billing_serve_does_on_the_configured_address() -> None:
    config = gunicorn_config(BILLING_HTTP_HOST="0.0.0.0", BILLING_HTTP_PORT="8080", BILLING_HTTP_WORKERS="3")
    assert config["bind"] == "['0.0.0.0:8080']" and config["workers"] == 3
    assert config["worker_class"] == "billing.entrypoints.http.gunicorn_app.BillingWorker"
    assert config["graceful_timeout"] == GRACEFUL_TIMEOUT
    assert config["accesslog"] == "None"
    options = gunicorn_options(Settings(http_host="0.0.0.0", http_port=8080), 3)
    assert {name: config[name] for name in ("wsgi_app", "logger_class", "loglevel", "proc_name")} == {
        name: options[name] for name in ("wsgi_app", "logger_class", "loglevel", "proc_name")}


def test_hooks_migrate_before_start_and_validate_readiness() -> None:
    appspec = yaml.safe_load((DEPLOY / "codedeploy" / "appspec.yml").read_text(encoding="utf-8"))
    after_install = [entry["location"] for entry in appspec["hooks"]["AfterInstall"]]
    assert after_install == ["scripts/install.sh", "scripts/migrate.sh"]  # before ApplicationStart
    assert list(appspec["hooks"]).index("AfterInstall") < list(appspec["hooks"]).index("ApplicationStart")
    assert "billing-migrate.service" in (DEPLOY / "codedeploy" / "scripts" / "migrate.sh").read_text(encoding="utf-8")
    validate = (DEPLOY / "codedeploy" / "scripts" / "validate.sh").read_text(encoding="utf-8")
    assert "/readyz" in validate and "is-active" in validate
    assert unit_settings("billing-serve.service")["ExecStart"].endswith("billing serve --workers ${SERVE_WORKERS}")
    assert "SERVE_WORKERS=${ServeWorkers}" in user_data()[0]


class FakeSecrets:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        return {"SecretString": self.secrets[SecretId]}


def test_only_the_migration_gets_the_master_credentials() -> None:
    """serve and worker connect as the application user (DML only); the RDS master's secret is
    rendered for `billing migrate` alone, into a directory systemd deletes when it ends."""
    bootstrap = heredoc(user_data()[0], "/etc/billing/bootstrap.env")
    assert bootstrap["DB_SECRET_ARN"] == "${DbSecretArn}"
    assert bootstrap["DB_APP_SECRET_ARN"] == "${AppDbSecretArn}"
    data = TEMPLATES["data"]
    assert data["Outputs"]["DbSecretArn"]["Value"] == {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
    assert data["Outputs"]["AppDbSecretArn"]["Value"] == {"Ref": "AppDbSecret"}
    template = data["Resources"]["AppDbSecret"]["Properties"]["GenerateSecretString"]
    assert template["GenerateStringKey"] == "password" and "SecretStringTemplate" in template

    migrate = unit_settings("billing-migrate.service")
    assert migrate["ExecStartPre"].startswith("+")  # root renders the file; `billing migrate` runs as billing
    assert "--for migrate --output /run/billing-migrate/secrets.env" in migrate["ExecStartPre"]
    assert migrate["RuntimeDirectory"] == "billing-migrate" and migrate["RuntimeDirectoryMode"] == "0700"
    assert "RuntimeDirectoryPreserve" not in migrate  # deleted when the migration ends
    assert "--for services --output /run/billing/secrets.env" in unit_settings("billing-secrets.service")["ExecStart"]
    for unit in ("billing-serve.service", "billing-worker.service"):
        text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8")
        assert "EnvironmentFile=/run/billing/secrets.env" in text and "billing-migrate" not in text, unit

    render = _render_secrets()
    client = FakeSecrets({"master": '{"username": "billing_admin", "password": "M4ster"}',
                          "app": '{"username": "billing_app", "password": "Pa55w0rd"}', "key": "k" * 64})
    environ = {"DB_SECRET_ARN": "master", "DB_APP_SECRET_ARN": "app", "IDEMPOTENCY_SECRET_ARN": "key",
               "DB_HOST": "db", "DB_PORT": "3306", "DB_NAME": "billing"}
    services, migrating = render(client, environ, "services"), render(client, environ, "migrate")
    assert "M4ster" not in services and "billing_admin" not in services
    assert services.startswith('BILLING_DATABASE_URL="mysql+aiomysql://billing_app:Pa55w0rd@db:3306/billing')
    assert "BILLING_IDEMPOTENCY_SECRET" in services and "BILLING_DATABASE_APP_URL" not in services
    assert migrating.startswith('BILLING_DATABASE_URL="mysql+aiomysql://billing_admin:M4ster@db:3306/billing')
    assert 'BILLING_DATABASE_APP_URL="mysql+aiomysql://billing_app:Pa55w0rd@db' in migrating
    assert "BILLING_IDEMPOTENCY_SECRET" not in migrating


def _render_secrets() -> Any:
    return runpy.run_path(str(DEPLOY / "systemd" / "render_secrets.py"))["render"]


def referenced_commands() -> set[str]:
    """`billing <command>` as the units run it or the docs and comments of deploy/ name it."""
    pattern = re.compile(r"(?:/opt/billing/venv/bin/billing|`billing) ([a-z][a-z-]*)")
    return {command for path in deploy_files() for command in pattern.findall(path.read_text(encoding="utf-8"))}


def billing_help(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "billing.entrypoints.cli", *args, "--help"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_commands_deploy_runs_exist() -> None:
    commands = referenced_commands()
    assert {"serve", "worker", "migrate", "bootstrap"} <= commands
    listed = set(re.findall(r"^    ([a-z][a-z-]*) ", billing_help(), re.M))
    assert commands <= listed, f"deploy/ names {sorted(commands - listed)}, which `billing --help` does not list"
    for command in sorted(commands):
        billing_help(command)
    assert "--workers" in billing_help("serve")


def test_the_value_resolution_is_not_vacuous() -> None:
    # The resolver really reaches across stacks: the queue URL comes from messaging.yaml's queue.
    values = {name: value for _, name, value in possible_values()}
    assert values["BILLING_DUE_QUEUE_URL"].startswith("https://sqs.eu-west-1.amazonaws.com/123456789012/")
    assert values["BILLING_DIGEST_TOPIC_ARN"].startswith("arn:aws:sns:eu-west-1:123456789012:")
    ledgers = {value for _, name, value in possible_values() if name == "BILLING_LEDGER_TABLE"}
    assert f"billing-{'s' * 16}-email-ledger" in ledgers


def test_instances_trust_the_alb_and_only_it_in_x_forwarded_for() -> None:
    """The client address the service throttles and logs is the one the ALB appended: the
    instances trust exactly one X-Forwarded-For hop, the ALB appends (neither preserves the
    client's header as the last entry nor removes it), and nothing but the ALB reaches the app."""
    settings = Settings.from_env({"BILLING_FORWARDED_HOPS": instance_environment()["BILLING_FORWARDED_HOPS"]})
    assert settings.forwarded_hops == 1
    balancer = TEMPLATES["app"]["Resources"]["LoadBalancer"]["Properties"]
    attributes = {a["Key"]: a["Value"] for a in balancer["LoadBalancerAttributes"]}
    assert attributes.get("routing.http.xff_header_processing.mode") == "append"
    app_group = TEMPLATES["network"]["Resources"]["AppSecurityGroup"]["Properties"]
    assert [rule["SourceSecurityGroupId"] for rule in app_group["SecurityGroupIngress"]] == [
        {"Ref": "AlbSecurityGroup"}
    ]
    assert not any("CidrIp" in rule or "CidrIpv6" in rule for rule in app_group["SecurityGroupIngress"])
