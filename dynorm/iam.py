"""Least-privilege IAM policies made from models: `iam_policy()` (``dynorm iam-policy``).

The policy allows only the DynamoDB actions asked for (``read``, ``write``, ``stream``,
``describe``), only on the models' tables and their indexes, and optionally:

* only on the items whose partition key is the caller's identity (``leading_key``):
  ``ForAllValues:StringEquals`` (or ``StringLike``) on ``dynamodb:LeadingKeys``. A key
  template's fixed text is kept (``PartitionKey("USER#{user_id}")`` gives
  ``USER#${cognito-identity.amazonaws.com:sub}``); other placeholders become ``*``.
  ``Scan`` reads every partition, so it is left out; a global index partitioned by
  another attribute too (its queries name another key);
* only the models' attributes (``attributes=True``): ``ForAllValues:StringEquals`` on
  ``dynamodb:Attributes``, which DynamoDB applies to the attributes a request names
  (writes, projections).

Transactions need no actions of their own: IAM authorizes ``TransactWriteItems`` and
``TransactGetItems`` as the put, update, delete, condition check and get of each item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dynorm.schema.classes import meta_of
from dynorm.schema.meta import KeyAttr, TableMeta
from dynorm.schema.upgrade import SCHEMA_ATTRIBUTE
from dynorm.transport.origin import ORIGIN_ATTRIBUTE

if TYPE_CHECKING:
    from dynorm.model import Model

__all__ = ["ACTIONS", "iam_policy", "policy_json"]

#: The action groups ``actions=`` takes, and the DynamoDB actions each allows.
ACTIONS: dict[str, tuple[str, ...]] = {
    "read": ("dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem",
             "dynamodb:Query", "dynamodb:Scan"),
    "write": ("dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
              "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
    "stream": ("dynamodb:DescribeStream", "dynamodb:GetRecords",
               "dynamodb:GetShardIterator", "dynamodb:ListStreams"),
    "describe": ("dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive"),
}
#: Actions whose requests carry no partition key: never allowed under ``leading_key``.
_KEYLESS = frozenset({"dynamodb:Scan"})
#: Actions on a table's indexes.
_INDEX_ACTIONS = frozenset({"dynamodb:Query", "dynamodb:Scan"})
_SID = re.compile(r"[^A-Za-z0-9]")


def _arn(region: str, account: str, table: str, suffix: str = "") -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}{suffix}"


def _leading_value(meta: TableMeta, identity: str, field: str | None) -> tuple[str, bool]:
    """``(value, wildcard)``: what the partition key of the caller's items looks like."""
    key: KeyAttr = meta.partition
    if key.template is None:
        if field not in (None, key.field):
            raise ValueError(f"{meta.model_name}: leading_field={field!r} is not its "
                             f"partition key ({key.field!r})")
        if key.type != "S":
            raise ValueError(f"{meta.model_name}.{key.field}: dynamodb:LeadingKeys compares "
                             "strings; this partition key is a number or binary")
        return identity, False
    template = key.template
    names = [p.field for p in template.placeholders]
    chosen = field if field is not None else (names[0] if len(names) == 1 else None)
    if chosen is None or chosen not in names:
        raise ValueError(
            f"{meta.model_name}: the partition key {template.template!r} has the fields "
            f"{', '.join(names)}: name the one that holds the identity (leading_field=...)")
    value, wildcard = "", False
    for part in template.parts:
        if isinstance(part, str):
            value += part.replace("*", "${*}").replace("?", "${?}")
        elif part.field == chosen:
            if part.spec:
                raise ValueError(f"{meta.model_name}: {{{part.field}:{part.spec}}} formats "
                                 "the value; the identity cannot be formatted by IAM")
            value += identity
        else:
            value += "*"
            wildcard = True
    return value, wildcard


def iam_policy(models: Iterable[type[Model]], *, actions: Sequence[str] = ("read",),
               region: str = "*", account: str = "*", table_prefix: str = "",
               leading_key: str | None = None, leading_field: str | None = None,
               attributes: bool = False, extra_attributes: Sequence[str] = ()
               ) -> dict[str, Any]:
    """A least-privilege IAM policy document for ``models`` (see the module docstring).

    Args:
        models: model classes with a table (models sharing a table share its statement).
        actions: action groups of `ACTIONS`: ``read``, ``write``, ``stream``, ``describe``.
        region: the Region in the ARNs (``*``: any).
        account: the account id in the ARNs (``*``: any).
        table_prefix: the connection's table-name prefix (``staging-``).
        leading_key: an IAM policy variable for the caller's identity, e.g.
            ``${cognito-identity.amazonaws.com:sub}`` or ``${aws:PrincipalTag/tenant}``:
            only items whose partition key is (or, for a key template, embeds) it.
        leading_field: for a partition key template of several fields, the field that
            holds the identity.
        attributes: allow only the models' attributes (``dynamodb:Attributes``): their
            fields, keys, entity and schema-version attributes, and ``_origin`` (the
            origin stamp of ``connect(origin=True)``).
        extra_attributes: more attribute names to allow with ``attributes``.

    Returns:
        The policy document (``json.dumps`` it, or use `policy_json()`).

    Raises:
        ValueError: an unknown action group, or a partition key IAM cannot express.
    """
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown or not actions:
        raise ValueError(f"actions: choose from {', '.join(ACTIONS)} (got {list(actions)})")
    tables: dict[str, list[TableMeta]] = {}
    for model in models:
        meta = meta_of(model)
        tables.setdefault(meta.table_name, []).append(meta)
    if not tables:
        raise ValueError("iam_policy() needs at least one model with a table")
    statements: list[dict[str, Any]] = []
    for table, metas in sorted(tables.items()):
        name = table_prefix + table
        item_actions = sorted({a for g in actions if g in ("read", "write", "describe")
                               for a in ACTIONS[g]})
        condition: dict[str, dict[str, Any]] = {}
        if leading_key is not None:
            item_actions = [a for a in item_actions if a not in _KEYLESS]
            values = {_leading_value(m, leading_key, leading_field) for m in metas}
            for wildcard in (False, True):
                chosen = sorted(v for v, w in values if w is wildcard)
                if chosen:
                    op = "ForAllValues:StringLike" if wildcard else "ForAllValues:StringEquals"
                    condition[op] = {"dynamodb:LeadingKeys": chosen}
        if attributes:
            names = sorted({a for m in metas for a in _attribute_names(m)}
                           | {ORIGIN_ATTRIBUTE, *extra_attributes})
            condition.setdefault("ForAllValues:StringEquals", {})["dynamodb:Attributes"] = names
        resources = [_arn(region, account, name)]
        for meta in metas:
            for index in meta.indexes.values():
                if leading_key is not None and index.partition.attr != meta.partition.attr:
                    continue  # its queries name another partition key
                arn = _arn(region, account, name, f"/index/{index.name}")
                if arn not in resources:
                    resources.append(arn)
        sid = _SID.sub("", name.title()) or "Table"
        if item_actions:
            statement: dict[str, Any] = {"Sid": f"{sid}Items", "Effect": "Allow",
                                         "Action": item_actions, "Resource": resources}
            if condition:
                statement["Condition"] = condition
            statements.append(statement)
        if "stream" in actions:
            statements.append({
                "Sid": f"{sid}Stream", "Effect": "Allow",
                "Action": list(ACTIONS["stream"]),
                "Resource": [_arn(region, account, name, "/stream/*")],
            })
    all_metas = [m for metas in tables.values() for m in metas]
    statements += _sealed_statements(all_metas, actions, region, account)
    return {"Version": "2012-10-17", "Statement": statements}


def _sealed_statements(metas: list[TableMeta], actions: Sequence[str], region: str,
                       account: str) -> list[dict[str, Any]]:
    """What encrypted fields (a KMS key) and values in S3 (a bucket prefix) need: reads
    decrypt and get; writes generate data keys and put (and decrypt: ``update()``
    decodes the item it gets back)."""
    reads, writes = "read" in actions, "write" in actions
    if not (reads or writes):
        return []
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for spec in (s for m in metas for s in m.sealed):
        keyring, store = spec.keyring, spec.store
        key_id = getattr(keyring, "key_id", None)  # a KmsKeyring's key
        if key_id is not None and f"kms {key_id}" not in seen:
            seen.add(f"kms {key_id}")
            kms = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if writes else [])
            context = dict(getattr(keyring, "encryption_context", {}))
            condition: dict[str, dict[str, Any]] = {"StringEquals": {
                f"kms:EncryptionContext:{k}": v for k, v in sorted(context.items())}}
            if key_id.startswith("arn:"):
                resource = key_id
            elif key_id.startswith("alias/"):  # IAM grants by key, found by alias
                resource = f"arn:aws:kms:{region}:{account}:key/*"
                condition["ForAnyValue:StringEquals"] = {"kms:ResourceAliases": [key_id]}
            else:
                resource = f"arn:aws:kms:{region}:{account}:key/{key_id}"
            out.append({"Sid": f"DataKeys{len(out) + 1}", "Effect": "Allow",
                        "Action": kms, "Resource": [resource], "Condition": condition})
        bucket = getattr(store, "bucket", None)  # an S3Value's bucket
        if bucket is not None:
            prefix = getattr(store, "prefix", "")
            where = f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}*"
            if f"s3 {where}" not in seen:
                seen.add(f"s3 {where}")
                s3 = (["s3:GetObject"] if reads or writes else []) + (
                    ["s3:PutObject"] if writes else [])
                out.append({"Sid": f"Values{len(out) + 1}", "Effect": "Allow",
                            "Action": s3, "Resource": [where]})
    return out


def _attribute_names(meta: TableMeta) -> list[str]:
    names = [fc.attr for name, fc in meta.codec.fields.items() if name not in meta.recovered]
    names += [k.attr for k in (*meta.key_attrs, *meta.derived)]
    if meta.entity is not None:
        names.append(meta.entity_attr)
    if meta.schema_version is not None:
        names.append(SCHEMA_ATTRIBUTE)
    return names


def policy_json(policy: dict[str, Any]) -> str:
    """The policy as IAM takes it (indented JSON, keys in the order made)."""
    return json.dumps(policy, indent=2)
