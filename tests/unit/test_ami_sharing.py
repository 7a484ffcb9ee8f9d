"""The golden AMI is shared with the accounts of Packer's `ami_users` and no one else, and the KMS
key that encrypts it lets exactly those accounts launch it (issue 18).

Packer is not installed here (it is no Debian package), so `packer validate` cannot run. The
template is parsed with python-hcl2 and the few HCL expressions that matter (the variables'
validation conditions, the builder's sharing attributes) are evaluated by `HclEvaluator` below:
the subset of HCL they use, with HCL's semantics (Go RE2 regular expressions, `regex` failing
when nothing matches, `can` turning that failure into false). Anything outside the subset raises
NotImplementedError, which `can` does not swallow: a condition rewritten with other functions
makes these tests fail until the evaluator learns them, instead of passing vacuously.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from lark import Token, Tree

REPO = Path(__file__).resolve().parents[2]
PACKER_TEMPLATE = REPO / "deploy" / "packer" / "billing.pkr.hcl"
KEY_TEMPLATE = REPO / "deploy" / "cloudformation" / "ami-key.yaml"
README = REPO / "deploy" / "README.md"

GOOD_IDS = ["111122223333", "000000000000", "999999999999"]
BAD_IDS = {
    "11 digits": "11112222333",
    "13 digits": "1111222233334",
    "letters": "11112222333a",
    "all letters": "abcdefghijkl",
    "with dashes": "1111-2222-3333",
    "with spaces": "1111 2222 3333",
    "surrounded by spaces": " 111122223333 ",
    "trailing newline": "111122223333\n",
    "non-ASCII digits": "١١١١٢٢٢٢٣٣٣٣",
    "empty": "",
    "an ARN": "arn:aws:iam::111122223333:root",
}
GOOD_KEYS = [
    "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
    "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
]
BAD_KEYS = {
    "the AWS-managed EBS key's alias": "alias/aws/ebs",
    "an alias ARN": "arn:aws:kms:eu-west-1:111122223333:alias/aws/ebs",
    "a customer alias": "alias/billing-ami",
    "a bare key id": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "empty": "",
    "an 11-digit account": "arn:aws:kms:eu-west-1:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "a trailing newline": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\n",
}


# --------------------------------------------------------------------------- the HCL subset

class HclError(Exception):
    """An evaluation error HCL itself would raise (and `can` would turn into false)."""


# Go's RE2 and Python's re disagree on these: \d, \w, \s and \b are ASCII-only in RE2 and Unicode
# in re; inline flags differ. A pattern using them is refused rather than evaluated wrongly.
_UNPORTABLE_REGEX = re.compile(r"\\[dDwWsSbBAzZ]|\(\?")


def _go_regex(pattern: str) -> re.Pattern[str]:
    # Without the m flag RE2's $ matches only at the very end; re's $ also before a final "\n".
    anchored = pattern.endswith("$") and not pattern.endswith("\\$")
    body = pattern[:-1] if anchored else pattern
    if _UNPORTABLE_REGEX.search(pattern) or "$" in body.replace("\\$", ""):
        raise NotImplementedError(f"regex pattern outside the evaluated subset: {pattern!r}")
    return re.compile(body + (r"\Z" if anchored else ""))


def _hcl_regex(pattern: Any, string: Any) -> Any:
    if not isinstance(pattern, str) or not isinstance(string, str):
        raise HclError("regex takes two strings")
    match = _go_regex(pattern).search(string)
    if match is None:
        raise HclError("pattern did not match any part of the given string")
    if match.re.groupindex:
        return match.groupdict()
    return list(match.groups()) if match.re.groups else match.group(0)


def _hcl_alltrue(values: Any) -> bool:
    if not isinstance(values, list) or not all(isinstance(value, bool) for value in values):
        raise HclError("alltrue takes a list of bools")
    return all(values)


def _hcl_length(value: Any) -> int:
    if not isinstance(value, (list, str, dict)):
        raise HclError("length takes a collection or a string")
    return len(value)


FUNCTIONS: dict[str, Callable[..., Any]] = {"regex": _hcl_regex, "alltrue": _hcl_alltrue, "length": _hcl_length}
_PUNCTUATION = {"LPAR", "RPAR", "LSQB", "RSQB", "COMMA", "DBLQUOTE", "EQ", "COLON", "DOT", "FOR", "IN"}
_STRING_ESCAPES = {'\\"': '"', "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t"}


def _parts(node: Tree[Any]) -> list[Any]:
    """A node's children without punctuation and comments."""
    return [child for child in node.children
            if not (isinstance(child, Token) and child.type in _PUNCTUATION)
            and not (isinstance(child, Tree) and child.data == "new_line_or_comment")]


def _name(node: Any) -> str:
    assert isinstance(node, Tree) and node.data == "identifier", node
    return str(node.children[0])


class HclEvaluator:
    """Evaluates the HCL expressions of a Packer template that these tests rely on, given the
    variables' values as `var`."""

    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables

    def evaluate(self, node: Any, scope: dict[str, Any] | None = None) -> Any:
        scope = scope or {}
        if not isinstance(node, Tree):
            raise NotImplementedError(f"HCL token outside the evaluated subset: {node!r}")
        handler = getattr(self, f"_{node.data}", None)
        if handler is None:
            raise NotImplementedError(f"HCL construct outside the evaluated subset: {node.data}")
        return handler(node, scope)

    def _expr_term(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        (inner,) = _parts(node)  # a parenthesised expression or a single term
        return self.evaluate(inner, scope)

    def _int_lit(self, node: Tree[Any], scope: dict[str, Any]) -> int:
        return int(str(node.children[0]))

    def _literal_value(self, node: Tree[Any], scope: dict[str, Any]) -> bool | None:
        return {"true": True, "false": False, "null": None}[str(node.children[0])]

    def _tuple(self, node: Tree[Any], scope: dict[str, Any]) -> list[Any]:
        return [self.evaluate(item, scope) for item in _parts(node)]

    def _string(self, node: Tree[Any], scope: dict[str, Any]) -> str:
        text = []
        for part in _parts(node):
            (piece,) = part.children
            if isinstance(piece, Tree) and piece.data == "interpolation":
                (inner,) = [child for child in piece.children if isinstance(child, Tree)]
                text.append(str(self.evaluate(inner, scope)))
            elif isinstance(piece, Token) and piece.type == "STRING_CHARS":
                text.append(self._unescape(str(piece)))
            else:
                raise NotImplementedError(f"string part outside the evaluated subset: {piece!r}")
        return "".join(text)

    @staticmethod
    def _unescape(chars: str) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group(0) not in _STRING_ESCAPES:
                raise NotImplementedError(f"string escape outside the evaluated subset: {match.group(0)}")
            return _STRING_ESCAPES[match.group(0)]

        return re.sub(r"\\.", replace, chars)

    def _identifier(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        name = _name(node)
        if name not in scope:
            raise KeyError(f"unknown name {name}")  # a static error in HCL: `can` does not hide it
        return scope[name]

    def _get_attr_expr_term(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        base, get_attr = _parts(node)
        if _parts(base) != [Tree("identifier", [Token("NAME", "var")])]:
            raise NotImplementedError("only var.<name> attribute access is evaluated")
        name = _name(_parts(get_attr)[0])
        if name not in self.variables:
            raise KeyError(f"undeclared variable var.{name}")
        return self.variables[name]

    def _function_call(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        name_node, *rest = _parts(node)
        arguments = _parts(rest[0]) if rest else []
        name = _name(name_node)
        if name == "can":  # evaluates its argument lazily: an HCL error becomes false
            (argument,) = arguments
            try:
                self.evaluate(argument, scope)
            except HclError:
                return False
            return True
        if name not in FUNCTIONS:
            raise NotImplementedError(f"HCL function outside the evaluated subset: {name}")
        return FUNCTIONS[name](*(self.evaluate(argument, scope) for argument in arguments))

    def _for_tuple_expr(self, node: Tree[Any], scope: dict[str, Any]) -> list[Any]:
        intro, body, *condition = _parts(node)
        if condition:
            raise NotImplementedError("for expressions with an if clause are outside the evaluated subset")
        *names, collection = _parts(intro)
        if len(names) != 1:
            raise NotImplementedError("only `for x in list` is evaluated")
        values = self.evaluate(collection, scope)
        if not isinstance(values, list):
            raise HclError("for expression over a non-list")
        return [self.evaluate(body, {**scope, _name(names[0]): value}) for value in values]


# --------------------------------------------------------------------------- the template

def _label(node: Any) -> str:
    if isinstance(node, Tree) and node.data == "string":
        return "".join(str(part.children[0]) for part in _parts(node))
    return _name(node)


def _blocks(body: Tree[Any], kind: str) -> Iterator[tuple[list[str], Tree[Any]]]:
    for child in _parts(body):
        if child.data == "block" and _name(child.children[0]) == kind:
            *labels, inner = [part for part in _parts(child)[1:] if not isinstance(part, Token)]
            yield [_label(label) for label in labels], inner


def _block(body: Tree[Any], kind: str, *labels: str) -> Tree[Any]:
    (found,) = [inner for found_labels, inner in _blocks(body, kind) if found_labels == list(labels)]
    return found


def _attributes(body: Tree[Any]) -> dict[str, Any]:
    attributes = {}
    for child in _parts(body):
        if child.data == "attribute":
            name, expression = _parts(child)
            attributes[_name(name)] = expression
    return attributes


def _template() -> Tree[Any]:
    tree = hcl2.parses_to_tree(PACKER_TEMPLATE.read_text(encoding="utf-8"))
    (body,) = tree.children
    return body


TEMPLATE = _template()
SOURCE = _attributes(_block(TEMPLATE, "source", "amazon-ebs", "al2023"))


def variable_accepts(name: str, value: Any) -> bool:
    """Whether every validation block of variable `name` accepts `value` (Packer's check before
    any build starts)."""
    variable = _block(TEMPLATE, "variable", name)
    validations = [_attributes(inner)["condition"] for _, inner in _blocks(variable, "validation")]
    assert validations, f"variable {name} has no validation block"
    results = [HclEvaluator({name: value}).evaluate(condition) for condition in validations]
    assert all(isinstance(result, bool) for result in results), results
    return all(results)


def variable_default(name: str) -> Any:
    attributes = _attributes(_block(TEMPLATE, "variable", name))
    return HclEvaluator({}).evaluate(attributes["default"]) if "default" in attributes else ...


def source_value(attribute: str, **variables: Any) -> Any:
    return HclEvaluator(variables).evaluate(SOURCE[attribute])


# --------------------------------------------------------------------------- the evaluator itself

def _condition(text: str) -> Any:
    (body,) = hcl2.parses_to_tree(f"c = {text}\n").children
    return _attributes(body)["c"]


ACCOUNT_ID_CONDITION = _condition('alltrue([for id in var.ids : can(regex("^[0-9]{12}$", id))])')


ID_LISTS = [[], [GOOD_IDS[0]], GOOD_IDS, *([bad] for bad in BAD_IDS.values()),
            *([GOOD_IDS[0], bad] for bad in BAD_IDS.values())]


@pytest.mark.parametrize("ids", ID_LISTS)
def test_evaluator_agrees_with_a_plain_reading_of_the_condition_when_given_good_and_bad_ids(ids: list[str]) -> None:
    # The reference: every entry is exactly twelve ASCII digits (Python's own reading, no HCL).
    expected = all(len(i) == 12 and all(c in "0123456789" for c in i) for i in ids)
    assert HclEvaluator({"ids": ids}).evaluate(ACCOUNT_ID_CONDITION) is expected


def test_evaluator_follows_hcl_when_regex_matches_only_part_of_the_string() -> None:
    # regex() searches (it is not anchored by itself) and returns the match; can() hides only HCL errors.
    assert HclEvaluator({}).evaluate(_condition('regex("[0-9]{3}", "ab1234")')) == "123"
    assert HclEvaluator({}).evaluate(_condition('can(regex("^[0-9]{3}$", "1234"))')) is False
    assert HclEvaluator({}).evaluate(_condition('alltrue([])')) is True
    with pytest.raises(HclError):
        HclEvaluator({}).evaluate(_condition('regex("x", "y")'))


@pytest.mark.parametrize("text", ['can(upper("a"))', 'can(regex("^\\\\d{12}$", "1"))', '!true',
                                  'alltrue([for i in var.ids : can(regex("^[0-9]$", i)) if i != ""])',
                                  'can(var.missing)'])
def test_evaluator_refuses_rather_than_guesses_when_the_expression_is_outside_its_subset(text: str) -> None:
    with pytest.raises((NotImplementedError, KeyError)):
        HclEvaluator({"ids": ["1"]}).evaluate(_condition(text))


# --------------------------------------------------------------------------- sharing

@pytest.mark.parametrize("attribute", ["ami_groups", "snapshot_groups", "ami_org_arns", "ami_ou_arns"])
def test_ami_is_shared_with_no_group_or_organisation_when_built(attribute: str) -> None:
    # "all" in ami_groups would make the image public; organisations would widen the list.
    assert attribute not in SOURCE


def test_ami_is_shared_with_no_one_when_ami_users_keeps_its_default() -> None:
    default = variable_default("ami_users")
    assert default == []
    assert variable_accepts("ami_users", default)
    assert source_value("ami_users", ami_users=default) == []
    assert source_value("snapshot_users", ami_users=default) == []


def test_listed_accounts_get_launch_and_create_volume_permission_when_ami_users_is_set() -> None:
    assert variable_accepts("ami_users", GOOD_IDS)
    assert source_value("ami_users", ami_users=GOOD_IDS) == GOOD_IDS  # the AMI's launchPermission
    assert source_value("snapshot_users", ami_users=GOOD_IDS) == GOOD_IDS  # its snapshots' createVolumePermission


@pytest.mark.parametrize("bad", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_ami_users_is_refused_when_an_account_id_is_not_twelve_digits(bad: str) -> None:
    assert not variable_accepts("ami_users", [bad])
    assert not variable_accepts("ami_users", [GOOD_IDS[0], bad])  # one bad entry refuses the list


# --------------------------------------------------------------------------- encryption

def test_ami_volumes_are_encrypted_with_the_given_customer_managed_key_when_built() -> None:
    assert variable_default("kms_key_id") is ..., "kms_key_id must be required: no default, no aws/ebs fallback"
    (launch_volume,) = [_attributes(inner) for _, inner in _blocks(_block(TEMPLATE, "source", "amazon-ebs", "al2023"),
                                                                   "launch_block_device_mappings")]
    evaluate = HclEvaluator({"kms_key_id": GOOD_KEYS[0]}).evaluate
    assert evaluate(launch_volume["encrypted"]) is True
    assert evaluate(launch_volume["kms_key_id"]) == GOOD_KEYS[0]
    # A final copy (encrypt_boot) would re-encrypt with another key, the region's aws/ebs by default.
    assert "encrypt_boot" not in SOURCE and "kms_key_id" not in SOURCE and "region_kms_key_ids" not in SOURCE


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_kms_key_id_is_accepted_when_it_is_a_key_arn(key: str) -> None:
    assert variable_accepts("kms_key_id", key)


@pytest.mark.parametrize("bad", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_kms_key_id_is_refused_when_it_is_not_a_key_arn(bad: str) -> None:
    # An alias could name aws/ebs, which no other account may use: only a key ARN is taken.
    assert not variable_accepts("kms_key_id", bad)


# --------------------------------------------------------------------------- the key's policy

def _key_template() -> Any:
    from cfnlint.decode import cfn_yaml  # understands !Ref, !Sub, ... (plain YAML does not)

    return cfn_yaml.load(str(KEY_TEMPLATE))


KEY_STACK = _key_template()
KEY = KEY_STACK["Resources"]["AmiKey"]


def _statements(consumers: bool) -> dict[str, dict[str, Any]]:
    """The key policy's statements, with the HasConsumers condition resolved."""
    statements = {}
    for statement in KEY["Properties"]["KeyPolicy"]["Statement"]:
        if "Fn::If" in statement:
            condition, when_true, when_false = statement["Fn::If"]
            assert condition == "HasConsumers" and when_false == {"Ref": "AWS::NoValue"}
            if not consumers:
                continue
            statement = when_true
        statements[statement["Sid"]] = statement
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_key_survives_its_stack_and_rotates_when_deployed() -> None:
    assert KEY["DeletionPolicy"] == KEY["UpdateReplacePolicy"] == "Retain"  # AMIs would become unusable
    assert KEY["Properties"]["EnableKeyRotation"] is True
    assert KEY_STACK["Outputs"]["AmiKeyArn"]["Value"] == {"Fn::GetAtt": ["AmiKey", "Arn"]}


def test_key_serves_only_its_own_account_when_no_consumer_is_listed() -> None:
    (statement,) = _statements(consumers=False).values()
    assert statement["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert KEY_STACK["Parameters"]["ConsumerAccountIds"]["Default"] == ""
    assert KEY_STACK["Conditions"]["HasConsumers"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "ConsumerAccountIds"}]}, ""]}]}


def test_consumer_accounts_may_launch_through_ec2_only_when_listed() -> None:
    consumers = {sid: s for sid, s in _statements(consumers=True).items() if sid.startswith("ConsumerAccounts")}
    assert all(s["Principal"] == {"AWS": {"Ref": "ConsumerAccountIds"}} and s["Effect"] == "Allow"
               for s in consumers.values())
    granted = set().union(*map(_actions, consumers.values()))
    # What launching from an encrypted shared snapshot needs (EBS: "share the KMS key"); nothing
    # that administers the key or encrypts outside EC2.
    assert granted == {"kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                       "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"}
    for statement in consumers.values():
        if _actions(statement) - {"kms:DescribeKey", "kms:CreateGrant"}:
            via_ec2 = {"Fn::Sub": "ec2.${AWS::Region}.amazonaws.com"}
            assert statement["Condition"] == {"StringEquals": {"kms:ViaService": via_ec2}}
        elif _actions(statement) == {"kms:CreateGrant"}:
            condition = statement["Condition"]
            assert condition["StringLike"]["kms:GranteePrincipal"]["Fn::Sub"].endswith(
                ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
            assert "RetireGrant" not in condition["ForAllValues:StringEquals"]["kms:GrantOperations"]


def test_documented_auto_scaling_grants_are_allowed_by_the_key_policy_when_followed() -> None:
    (statement,) = [s for s in _statements(consumers=True).values() if "StringLike" in s.get("Condition", {})]
    allowed = set(statement["Condition"]["ForAllValues:StringEquals"]["kms:GrantOperations"])
    readme = README.read_text(encoding="utf-8")
    commands = re.findall(r"aws kms create-grant .*?--operations ([A-Za-z ]+)", readme, re.S)
    assert len(commands) == 2  # this account's group, and a consumer account's
    for operations in commands:
        assert set(operations.split()) == allowed


@pytest.mark.parametrize("account", [*GOOD_IDS, *BAD_IDS.values()])
def test_key_stack_and_packer_agree_on_what_an_account_id_is(account: str) -> None:
    pattern = KEY_STACK["Parameters"]["ConsumerAccountIds"]["AllowedPattern"]
    # CloudFormation applies AllowedPattern to each entry (ECMAScript-like, $ only at the end);
    # the empty alternative exists only for the empty default.
    entry = pattern.removeprefix("^").removesuffix("$")
    accepted_by_stack = account != "" and re.fullmatch(entry, account, re.ASCII) is not None
    assert accepted_by_stack == variable_accepts("ami_users", [account])
