"""Cold start: a whole fresh process per run (a Lambda's first invocation, a CLI, a cron job).

Each child imports its library, connects with the credentials and region from the
environment (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_REGION``; the config
files pointed at nothing) and makes one call: a GetItem of a one-attribute item, or a
query returning 100 small items (pk, sk, name). Two baselines make no call: ``python -c
pass`` (the interpreter's own start-up) and the asyncio + pydantic floor (``import
asyncio, json, ssl, pydantic`` and a one-field model: what any pydantic-based async
client pays before its own code). The child's CPU (user + sys, from ``os.wait4``) and
wall time are measured from the parent; the first run of each child is a warm-up (file
cache, bytecode), then children alternate over ``runs`` rounds and the table shows
medians.

The children import the same ``dynorm`` as the benchmark (its directory first on the
path), and report what they loaded: ``sys.modules`` entries and the top-level packages.
"""

from __future__ import annotations

import ast
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import dynorm
from benchmarks.data import CREDS, REGION
from benchmarks.imports import dynorm_root

GET_TABLE = "cold_get"
QUERY_TABLE = "cold_query"
QUERY_ITEMS = 100
VARIANTS = ("get", "query")
#: Whether these are loaded in the dynorm child (printed as info).
WATCHED = ("botocore", "boto3", "aioboto3", "aiobotocore", "aiohttp", "pydantic", "orjson")


class ColdItem(dynorm.Model, table=GET_TABLE):
    pk: Annotated[str, dynorm.PartitionKey]


class ColdRow(dynorm.Model, table=QUERY_TABLE):
    pk: Annotated[str, dynorm.PartitionKey]
    sk: Annotated[int, dynorm.SortKey]
    name: str


# ---------------------------------------------------------------- the children's code
# Each snippet ends with ``n`` = items read; {url} is the endpoint. The async libraries run
# under asyncio.run(), the sync ones plainly.

_DYNORM_GET = """
import asyncio
from typing import Annotated
import dynorm

class ColdItem(dynorm.Model, table="cold_get"):
    pk: Annotated[str, dynorm.PartitionKey]

async def main():
    async with dynorm.connect(endpoint_url={url!r}, transport={transport!r}):
        return 1 if await ColdItem.get("k") else 0

n = asyncio.run(main())
"""

_DYNORM_QUERY = """
import asyncio
from typing import Annotated
import dynorm

class ColdRow(dynorm.Model, table="cold_query"):
    pk: Annotated[str, dynorm.PartitionKey]
    sk: Annotated[int, dynorm.SortKey]
    name: str

async def main():
    async with dynorm.connect(endpoint_url={url!r}, transport={transport!r}):
        return len(await ColdRow.query(ColdRow.pk == "q").to_list())

n = asyncio.run(main())
"""

_RAW_AIOBOTO3 = """
import asyncio
import aioboto3

async def main():
    async with aioboto3.Session().client("dynamodb", endpoint_url={url!r}) as client:
        {call}

n = asyncio.run(main())
"""
_RAW_AIOBOTO3_GET = ('response = await client.get_item(TableName="cold_get", '
                     'Key={{"pk": {{"S": "k"}}}})\n        return int("Item" in response)')
_RAW_AIOBOTO3_QUERY = ('response = await client.query(TableName="cold_query", '
                       'KeyConditionExpression="pk = :pk", '
                       'ExpressionAttributeValues={{":pk": {{"S": "q"}}}})\n'
                       '        return len(response["Items"])')

_BOTO3_GET = """
import boto3

client = boto3.client("dynamodb", endpoint_url={url!r})
n = int("Item" in client.get_item(TableName="cold_get", Key={{"pk": {{"S": "k"}}}}))
"""

_BOTO3_QUERY = """
import boto3

client = boto3.client("dynamodb", endpoint_url={url!r})
n = len(client.query(TableName="cold_query", KeyConditionExpression="pk = :pk",
                     ExpressionAttributeValues={{":pk": {{"S": "q"}}}})["Items"])
"""

_PYNAMODB_GET = """
import os
from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

class ColdItem(Model):
    class Meta:
        table_name = "cold_get"
        host = {url!r}
        region = os.environ["AWS_REGION"]

    pk = UnicodeAttribute(hash_key=True)

n = 1 if ColdItem.get("k") else 0
"""

_PYNAMODB_QUERY = """
import os
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

class ColdRow(Model):
    class Meta:
        table_name = "cold_query"
        host = {url!r}
        region = os.environ["AWS_REGION"]

    pk = UnicodeAttribute(hash_key=True)
    sk = NumberAttribute(range_key=True)
    name = UnicodeAttribute()

n = len(list(ColdRow.query("q")))
"""

_PYDYNOX = """
import asyncio
from pydynox import DynamoDBClient

async def main():
    client = DynamoDBClient(endpoint_url={url!r})
    {call}

n = asyncio.run(main())
"""
_PYDYNOX_GET = 'return 1 if await client.get_item("cold_get", {{"pk": "k"}}) else 0'
_PYDYNOX_QUERY = ('return len([i async for i in client.query("cold_query", "#pk = :pk", '
                  'expression_attribute_names={{"#pk": "pk"}}, '
                  'expression_attribute_values={{":pk": "q"}})])')

_AIODYNAMO = """
import asyncio
import os
import aiohttp
from aiodynamo.client import Client
from aiodynamo.credentials import Credentials
from aiodynamo.expressions import HashKey
from aiodynamo.http.aiohttp import AIOHTTP
from yarl import URL

async def main():
    async with aiohttp.ClientSession() as session:
        client = Client(AIOHTTP(session), Credentials.auto(), os.environ["AWS_REGION"],
                        URL({url!r}))
        {call}

n = asyncio.run(main())
"""
_AIODYNAMO_GET = 'return 1 if await client.get_item("cold_get", {{"pk": "k"}}) else 0'
_AIODYNAMO_QUERY = 'return len([i async for i in client.query("cold_query", HashKey("pk", "q"))])'

#: Reported by every child (nothing imported for the report; not a format string).
_REPORT = """
import sys
_mods = list(sys.modules)
sys.stdout.write(repr((n, len(_mods), sorted({m.split(".")[0] for m in _mods}))))
"""


def _templates(name: str) -> tuple[str, str] | None:
    """(get code, query code) for a benchmark contender name, with ``{url}`` to fill."""
    if name in ("dynorm-fast", "dynorm-aioboto3"):
        transport = name.removeprefix("dynorm-")
        return (_DYNORM_GET.replace("{transport!r}", repr(transport)),
                _DYNORM_QUERY.replace("{transport!r}", repr(transport)))
    return {
        "raw-aioboto3": (_RAW_AIOBOTO3.replace("{call}", _RAW_AIOBOTO3_GET),
                         _RAW_AIOBOTO3.replace("{call}", _RAW_AIOBOTO3_QUERY)),
        "boto3-table": (_BOTO3_GET, _BOTO3_QUERY),
        "pynamodb": (_PYNAMODB_GET, _PYNAMODB_QUERY),
        "pydynox": (_PYDYNOX.replace("{call}", _PYDYNOX_GET),
                    _PYDYNOX.replace("{call}", _PYDYNOX_QUERY)),
        "aiodynamo": (_AIODYNAMO.replace("{call}", _AIODYNAMO_GET),
                      _AIODYNAMO.replace("{call}", _AIODYNAMO_QUERY)),
    }.get(name)


#: The label in the table: boto3 runs as its low-level client here, not the Table resource.
LABELS = {"boto3-table": "boto3 (client)"}
BASE = "dynorm-fast"
PYTHON = "python -c pass"
#: What any asyncio library built on pydantic pays before its own first line: the
#: modules an async DynamoDB client needs from the standard library, and pydantic with
#: a model of the get's one field (no DynamoDB call).
FLOOR = "asyncio + pydantic floor"
_FLOOR = """
import asyncio, json, ssl
import pydantic

class ColdItem(pydantic.BaseModel):
    pk: str

n = 0
"""


@dataclass
class Result:
    #: (label, variant) -> [(cpu s, wall s)]
    runs: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    #: (label, variant) -> (sys.modules entries, top-level packages)
    loaded: dict[tuple[str, str], tuple[int, list[str]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: python -X importtime of the dynorm-fast get child: (module, self µs, cumulative µs)
    importtime: list[tuple[str, int, int]] = field(default_factory=list)


# ---------------------------------------------------------------- running children


def child_env(config_dir: str) -> dict[str, str]:
    """The environment of a child: credentials and region in variables, nothing else."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "DYNORM_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({
        "AWS_ACCESS_KEY_ID": CREDS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDS["aws_secret_access_key"],
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.path.join(config_dir, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(config_dir, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": os.pathsep.join([dynorm_root(), *filter(None, [
            os.environ.get("PYTHONPATH")])]),
    })
    return env


def run_child(code: str, env: dict[str, str], cwd: str,
              flags: tuple[str, ...] = ()) -> tuple[float, float, Any, str]:
    """(CPU s, wall s, the child's report, its stderr) of one fresh interpreter."""
    with tempfile.TemporaryFile() as err:
        w0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *flags, "-c", code], cwd=cwd, env=env,
                                stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - w0
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode:
        last = stderr.strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"exit {proc.returncode}: {last[0][:300]}")
    report = ast.literal_eval(out.decode()) if out.strip() else None
    return usage.ru_utime + usage.ru_stime, wall, report, stderr


async def seed(url: str) -> None:
    """The two tables: one item ``{"pk": "k"}``, and 100 rows in partition ``q``."""
    async with dynorm.connect(endpoint_url=url, region=REGION, transport="fast",
                              **CREDS):
        for model in (ColdItem, ColdRow):
            await model.delete_table()
            await model.create_table()
        await ColdItem(pk="k").save()
        async with dynorm.batch() as b:
            for i in range(QUERY_ITEMS):
                b.save(ColdRow(pk="q", sk=i, name=f"row number {i}"))


def measure(url: str, names: list[str], runs: int,
            log: Any = lambda *a: None) -> Result:
    """Warm-up once, then ``runs`` alternated rounds of every (contender, variant)."""
    asyncio.run(seed(url))
    result = Result()
    cases: list[tuple[str, str, str]] = [(PYTHON, "", "pass\nn = 0\n" + _REPORT),
                                         (FLOOR, "", _FLOOR + _REPORT)]
    for name in names:
        codes = _templates(name)
        if codes is None:
            continue
        label = LABELS.get(name, name)
        for variant, code in zip(VARIANTS, codes, strict=True):
            cases.append((label, variant, code.format(url=url) + _REPORT))
    expected = {"get": 1, "query": QUERY_ITEMS, "": 0}
    with tempfile.TemporaryDirectory() as tmp:
        env = child_env(tmp)
        cwd = dynorm_root()
        failed: set[str] = set()
        for r in range(runs + 1):
            order = cases if r % 2 == 0 else cases[::-1]
            for label, variant, code in order:
                if label in failed:
                    continue
                try:
                    cpu, wall, (n, modules, packages), _ = run_child(code, env, cwd)
                    if n != expected[variant]:
                        raise RuntimeError(f"read {n} items, expected {expected[variant]}")
                except Exception as exc:
                    result.errors[label] = f"{type(exc).__name__}: {exc}"[:300]
                    failed.add(label)
                    log(f"  cold start {label} {variant} ERROR {result.errors[label]}")
                    continue
                key = (label, variant or "-")
                result.loaded[key] = (modules, packages)
                if r == 0:
                    continue  # the warm-up run
                result.runs.setdefault(key, []).append((cpu, wall))
                log(f"  round {r} cold start {label:16} {variant or '-':5} cpu "
                    f"{cpu * 1e3:6.0f} ms  wall {wall * 1e3:6.0f} ms  {modules} modules")
        if BASE in names and BASE not in failed:
            code = dict(((c[0], c[1]), c[2]) for c in cases)[(BASE, "get")]
            *_, stderr = run_child(code, env, cwd, flags=("-X", "importtime"))
            result.importtime = parse_importtime(stderr)
    return result


def parse_importtime(stderr: str) -> list[tuple[str, int, int]]:
    """``python -X importtime`` lines as (module with its nesting, self µs, cumulative µs)."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line.removeprefix("import time:").split("|", 2)
        rows.append((name.rstrip(), int(self_us), int(cumulative)))
    return rows


# ---------------------------------------------------------------- output


def table(result: Result) -> list[str]:
    lines = ["| scenario | contender | client CPU ms | wall ms | CPU vs dynorm-fast "
             "| wall vs dynorm-fast | modules loaded |", "|---|---|---:|---:|---:|---:|---:|"]
    med: dict[tuple[str, str], tuple[float, float]] = {
        key: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
        for key, v in result.runs.items()}
    for variant in ("-", *VARIANTS):
        base = med.get((BASE, variant))
        what = {"-": "cold start: no call (baselines)",
                "get": "cold start: import + connect + first get",
                "query": f"cold start: import + connect + first query of {QUERY_ITEMS}"}[variant]
        for (label, v), (cpu, wall) in med.items():
            if v != variant:
                continue
            rc = f"{cpu / base[0]:.2f}x" if base else ""
            rw = f"{wall / base[1]:.2f}x" if base else ""
            modules = result.loaded[(label, v)][0]
            lines.append(f"| {what} | {label} | {cpu * 1e3:.0f} | {wall * 1e3:.0f} | {rc} "
                         f"| {rw} | {modules} |")
    for label, error in result.errors.items():
        lines.append(f"| cold start | {label} | error | {error} | | | |")
    return lines


def info(result: Result) -> list[str]:
    """What the dynorm children load, and where the fast one's import time goes."""
    lines: list[str] = []
    cpu = {key: statistics.median(x[0] for x in v) for key, v in result.runs.items()}
    floor, peer = cpu.get((FLOOR, "-")), cpu.get(("pydynox", "get"))
    if floor is not None and peer is not None:
        lines.append(f"info: cold start: the asyncio + pydantic floor is {floor * 1e3:.0f} ms, "
                     f"{floor / peer:.2f}x pydynox's whole get ({peer * 1e3:.0f} ms)")
    base = cpu.get((BASE, "get"))
    if floor is not None and base is not None:
        lines.append(f"info: cold start: {BASE}'s get is {(base - floor) * 1e3:.0f} ms over "
                     "that floor")
    for (label, variant), (modules, packages) in sorted(result.loaded.items()):
        if not label.startswith("dynorm-"):
            continue
        present = ", ".join(f"{p} {'yes' if p in packages else 'no'}" for p in WATCHED)
        lines.append(f"info: cold start {label} {variant}: {modules} sys.modules entries, "
                     f"{len(packages)} top-level packages; loaded: {present}")
    if result.importtime:
        rows = result.importtime
        total = sum(r[1] for r in rows)
        per_package: dict[str, int] = {}
        for name, self_us, _ in rows:
            package = name.strip().split(".")[0]
            per_package[package] = per_package.get(package, 0) + self_us
        lines += ["", f"`python -X importtime` of the {BASE} get child: {total / 1e3:.0f} ms of "
                  "imports in all", "", "| top 10 modules by cumulative import time | ms |",
                  "|---|---:|"]
        for name, _, cumulative in sorted(rows, key=lambda r: -r[2])[:10]:
            lines.append(f"| `{name.strip()}` | {cumulative / 1e3:.1f} |")
        lines += ["", "| top 10 top-level packages by own import time (self, summed) | ms |",
                  "|---|---:|"]
        for package, self_us in sorted(per_package.items(), key=lambda kv: -kv[1])[:10]:
            lines.append(f"| {package} | {self_us / 1e3:.1f} |")
    return lines
