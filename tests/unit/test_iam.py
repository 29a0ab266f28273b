"""Least-privilege IAM policies from models: shape checked against IAM's policy grammar."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import pytest
from typer.testing import CliRunner

from dynorm import GlobalIndex, LocalIndex, Model, PartitionKey, SortKey
from dynorm.iam import ACTIONS, iam_policy


class Note(Model, table="iam_notes"):
    user_id: Annotated[str, PartitionKey]
    note_id: Annotated[str, SortKey]
    title: str = ""
    by_title = LocalIndex("title")
    by_id = GlobalIndex("note_id")


class Order(Model, table="iam_shop", entity="order"):
    pk = PartitionKey("TENANT#{tenant}#USER#{user}")
    sk = SortKey("ORDER#{order_id}")
    tenant: str
    user: str
    order_id: str
    total: int = 0


class Profile(Model, table="iam_shop", entity="profile"):
    pk = PartitionKey("TENANT#{tenant}#USER#{user}")
    sk = SortKey("PROFILE")
    tenant: str
    user: str
    email: str = ""


class Counter(Model, table="iam_counters", schema_version=2):
    n: Annotated[int, PartitionKey]


# ---------------------------------------------------------------------------- grammar

_REGION, _ACCOUNT = r"(\*|[a-z]{2}(-[a-z]+)+-\d)", r"(\*|\d{12})"
_ARN = re.compile(
    rf"arn:aws:dynamodb:{_REGION}:{_ACCOUNT}:table/"
    r"[A-Za-z0-9_.-]{3,255}(/index/[A-Za-z0-9_.-]{3,255}|/stream/\*)?"
    rf"|arn:aws:kms:{_REGION}:{_ACCOUNT}:key/(\*|[0-9a-f-]{{36}})"
    r"|arn:aws:s3:::[a-z0-9.-]{3,63}/[^*]*\*")
_OPERATORS = re.compile(r"(ForAllValues:|ForAnyValue:)?(StringEquals|StringLike)(IfExists)?")
_KNOWN = {a for group in ACTIONS.values() for a in group} | {
    "kms:Decrypt", "kms:GenerateDataKey", "s3:GetObject", "s3:PutObject"}
_CONDITION_KEYS = re.compile(
    r"dynamodb:LeadingKeys|dynamodb:Attributes|kms:ResourceAliases"
    r"|kms:EncryptionContext:[A-Za-z0-9_-]+")


def check_grammar(policy: dict[str, Any]) -> None:
    """The IAM policy grammar (docs.aws.amazon.com/IAM/latest/UserGuide/
    reference_policies_grammar.html) as far as these policies use it."""
    assert set(policy) == {"Version", "Statement"} and policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(set(sids)) == len(sids)
    for statement in policy["Statement"]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])
        assert statement["Effect"] == "Allow"
        assert statement["Action"] and all(a in _KNOWN for a in statement["Action"])
        assert statement["Resource"] and all(_ARN.fullmatch(r) for r in statement["Resource"])
        for operator, block in statement.get("Condition", {}).items():
            assert _OPERATORS.fullmatch(operator), operator
            for key, values in block.items():
                assert _CONDITION_KEYS.fullmatch(key), key
                values = values if isinstance(values, list) else [values]
                assert values and all(isinstance(v, str) for v in values)
    # a managed policy holds at most 6,144 characters, whitespace not counted
    assert len(re.sub(r"\s", "", json.dumps(policy))) <= 6144


def test_read_policy_names_tables_and_indexes_only() -> None:
    policy = iam_policy([Note, Counter], region="eu-west-1", account="123456789012")
    check_grammar(policy)
    counters, notes = policy["Statement"]  # sorted by table
    assert notes["Action"] == sorted(ACTIONS["read"])
    assert notes["Resource"] == [
        "arn:aws:dynamodb:eu-west-1:123456789012:table/iam_notes",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/iam_notes/index/by_title",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/iam_notes/index/by_id",
    ]
    assert "Condition" not in notes
    attrs = iam_policy([Counter], attributes=True)["Statement"][0]["Condition"]
    assert attrs["ForAllValues:StringEquals"]["dynamodb:Attributes"] == [
        "_origin", "_schema", "n"]
    assert counters["Resource"] == ["arn:aws:dynamodb:eu-west-1:123456789012:table/iam_counters"]
    assert not any("PutItem" in a for s in policy["Statement"] for a in s["Action"])


def test_leading_keys_for_a_plain_key_leave_out_scan_and_other_partitions() -> None:
    policy = iam_policy([Note], actions=["read", "write"],
                        leading_key="${cognito-identity.amazonaws.com:sub}")
    check_grammar(policy)
    (statement,) = policy["Statement"]
    assert "dynamodb:Scan" not in statement["Action"]
    assert "dynamodb:PutItem" in statement["Action"]
    assert statement["Condition"] == {"ForAllValues:StringEquals": {
        "dynamodb:LeadingKeys": ["${cognito-identity.amazonaws.com:sub}"]}}
    # the local index shares the partition key; the global one does not
    assert [r.rsplit(":", 1)[1] for r in statement["Resource"]] == [
        "table/iam_notes", "table/iam_notes/index/by_title"]


def test_leading_keys_through_a_template_keep_its_fixed_text() -> None:
    policy = iam_policy([Order, Profile], actions=["write"], leading_field="tenant",
                        leading_key="${aws:PrincipalTag/tenant}", attributes=True,
                        table_prefix="prod-")
    check_grammar(policy)
    (statement,) = policy["Statement"]  # one table, one statement
    assert statement["Resource"] == ["arn:aws:dynamodb:*:*:table/prod-iam_shop"]
    assert statement["Condition"]["ForAllValues:StringLike"] == {
        "dynamodb:LeadingKeys": ["TENANT#${aws:PrincipalTag/tenant}#USER#*"]}
    attrs = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert attrs == sorted(attrs)
    assert {"pk", "sk", "_type", "total", "email"} <= set(attrs)
    assert "tenant" not in attrs  # read back from the key template, never stored


def test_stream_and_describe_groups() -> None:
    policy = iam_policy([Note], actions=["stream", "describe"], region="us-east-1")
    check_grammar(policy)
    items, stream = policy["Statement"]
    assert items["Action"] == ["dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive"]
    assert stream["Resource"] == ["arn:aws:dynamodb:us-east-1:*:table/iam_notes/stream/*"]
    assert "dynamodb:GetRecords" in stream["Action"]


@pytest.mark.parametrize("kwargs,message", [
    ({"actions": ["admin"]}, "choose from read, write"),
    ({"leading_key": "${x}", "models": [Counter]}, "compares strings"),
    ({"leading_key": "${x}", "models": [Order]}, "name the one that holds the identity"),
])
def test_what_iam_cannot_express_is_refused(kwargs: dict[str, Any], message: str) -> None:
    models = kwargs.pop("models", [Note])
    with pytest.raises(ValueError, match=message):
        iam_policy(models, **kwargs)


def test_command_line_prints_the_policy() -> None:
    from dynorm.cli.app import app

    result = CliRunner().invoke(app, [
        "iam-policy", "tests.unit.test_iam:Note",
        "--actions", "read,write", "--leading-key-from", "${www.amazon.com:user_id}",
        "--region", "eu-west-1", "--account", "123456789012"])
    assert result.exit_code == 0, result.output
    policy = json.loads(result.stdout)
    check_grammar(policy)
    assert policy["Statement"][0]["Condition"]["ForAllValues:StringEquals"] == {
        "dynamodb:LeadingKeys": ["${www.amazon.com:user_id}"]}
    bad = CliRunner().invoke(app, ["iam-policy", "tests.unit.test_iam:Note",
                                   "--actions", "nope"])
    assert bad.exit_code == 1 and "choose from" in bad.output


def test_template_key_with_a_wildcard_character_is_escaped() -> None:
    class Star(Model, table="iam_stars"):
        pk = PartitionKey("A*{user}")
        user: str

    policy = iam_policy([Star], leading_key="${id}")
    assert policy["Statement"][0]["Condition"] == {"ForAllValues:StringEquals": {
        "dynamodb:LeadingKeys": ["A${*}${id}"]}}


def test_encrypted_fields_and_values_in_s3_get_their_key_and_bucket() -> None:
    from dynorm import Encrypted
    from dynorm.kms import KmsKeyring
    from dynorm.s3values import S3Value

    class Vault(Model, table="iam_vault"):
        k: Annotated[str, PartitionKey]
        a: Annotated[str, Encrypted(KmsKeyring("alias/app"))]
        b: Annotated[str, Encrypted(KmsKeyring("1234abcd-12ab-34cd-56ef-1234567890ab"))]
        blob: Annotated[bytes, S3Value("vault-values", prefix="blobs")]

    reader = iam_policy([Vault], region="eu-west-1", account="123456789012")
    check_grammar(reader)
    _, alias, key, values = reader["Statement"]
    assert alias["Action"] == ["kms:Decrypt"]
    assert alias["Resource"] == ["arn:aws:kms:eu-west-1:123456789012:key/*"]
    assert alias["Condition"] == {
        "StringEquals": {"kms:EncryptionContext:dynorm": "data-key"},
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": ["alias/app"]}}
    assert key["Resource"] == [
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
    assert values == {"Sid": "Values3", "Effect": "Allow", "Action": ["s3:GetObject"],
                      "Resource": ["arn:aws:s3:::vault-values/blobs/*"]}
    writer = iam_policy([Vault], actions=["write"])
    check_grammar(writer)
    assert writer["Statement"][1]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert writer["Statement"][3]["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert len(iam_policy([Vault], actions=["stream"])["Statement"]) == 1
