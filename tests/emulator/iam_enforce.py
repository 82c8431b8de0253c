"""IAM enforcement for the emulator: every AWS request is authenticated and authorized against the
caller's IAM policies, as AWS does, before moto (or the plugin, or the CBOR bridge) sees it.

Why not moto's own `INITIAL_NO_AUTH_ACTION_COUNT`: moto 5.2 authorizes every non-S3 action
against the resource "*" (so a policy scoped to an ARN never matches) and evaluates no
condition of an identity policy (`dynamodb:LeadingKeys`, `iam:PassedToService`...). Here each
request becomes one or more (action, resource ARN, condition context) questions, answered by a
standard evaluation: an explicit Deny wins, else an Allow is needed.

Who may call:
* `testing` (the harness's key) is the account's root user: allowed everything, as root is.
* an IAM user of moto's IAM (its access key and secret, SigV4 checked): its inline and attached
  policies, its groups'. `create_function_user` makes one holding a function's role policies.
* a session registered by the plugin (a CodePipeline job's artifact credentials): its policy.
* a role session from STS `AssumeRole` (moto's, in any account): the role's policies, in the
  role's account. `AssumeRole` itself also needs the role's trust policy to allow the caller
  (with `sts:ExternalId`), as AWS does. Past the expiry STS gave them, the credentials are
  refused (ExpiredToken); `set_assumed_lifetime` makes STS give short-lived ones.
  `OrganizationAccountAccessRole` is the harness's way into another account: allowed
  everything, as the administrator role AWS Organizations creates in a member account.
Any other key is refused (InvalidClientTokenId), a bad signature too (SignatureDoesNotMatch).

Enforcement is off until `enable()` (server.py --enforce-iam). Standard library, botocore, moto.
"""

from __future__ import annotations

import fnmatch
import io
import itertools
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.wrappers import Response

ACCOUNT = "123456789012"
ROOT_KEYS = {"testing"}
CREDENTIAL_RE = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
CBOR_PATH_RE = re.compile(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$")
# SigV4 signing names that are not the IAM action prefix.
IAM_PREFIX = {"monitoring": "cloudwatch"}
QUERY_SERVICES = {"sns", "elasticloadbalancing", "iam", "sts", "sqs", "ec2", "monitoring"}

_lock = threading.Lock()
_enabled = False
_sessions: dict[str, "Session"] = {}
_key_numbers = itertools.count(1)


@dataclass
class Session:
    """Temporary credentials with their own policy (a job's artifact credentials)."""

    secret: str
    token: str
    arn: str
    policies: list[dict[str, Any]] = field(default_factory=list)


def enable() -> None:
    global _enabled
    _enabled = True
    _patch_assume_role()


def enabled() -> bool:
    return _enabled


def register_session(key_id: str, secret: str, token: str, arn: str, policies: list[dict[str, Any]]) -> None:
    with _lock:
        _sessions[key_id] = Session(secret, token, arn, policies)


# --------------------------------------------------------------------------
# Principals
# --------------------------------------------------------------------------


def _iam_backend(account: str = ACCOUNT) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def create_function_user(function: str, policies: list[dict[str, Any]]) -> dict[str, str]:
    """An IAM user holding exactly `policies` (a role's inline policies: PolicyName and
    PolicyDocument), with one access key whose id starts `GANTRY<FUNCTION>` (the call log groups
    calls by it). Returns the key and the user."""
    backend = _iam_backend()
    prefix = "GANTRY" + function.upper().replace("-", "")
    n = next(_key_numbers)
    user = f"gantry-{function}-{n}"
    backend.create_user(region_name="us-east-1", user_name=user)
    for policy in policies:
        backend.put_user_policy(user, policy["PolicyName"], json.dumps(policy["PolicyDocument"]))
    key = backend.create_access_key(user)
    with _lock:
        backend.access_keys.pop(key.access_key_id, None)
        key.access_key_id = f"{prefix}{n:06d}"
        backend.access_keys[key.access_key_id] = key
    return {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key,
            "user": user, "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}"}


def _user_policies(backend: Any, user: Any) -> list[dict[str, Any]]:
    from moto.iam.access_control import IAMPolicy

    docs: list[dict[str, Any]] = [json.loads(p) if isinstance(p, str) else p for p in user.policies.values()]
    attached = list(user.managed_policies.values())
    for group in backend.get_groups_for_user(user.name):
        docs.extend(json.loads(p) if isinstance(p, str) else p for p in group.policies.values())
        attached.extend(group.managed_policies.values())
    docs.extend(IAMPolicy(p)._policy_json for p in attached)
    return docs


@dataclass
class Principal:
    arn: str
    secret: str
    token: str | None
    policies: list[dict[str, Any]]
    account: str = ACCOUNT
    expired: bool = False


ADMIN_ROLE = "OrganizationAccountAccessRole"
_assumed_lifetime: dict[str, int] = {}  # role ARN -> seconds; others: what the caller asked


def set_assumed_lifetime(role_arn: str, seconds: int | None) -> None:
    """From now on, `AssumeRole` of `role_arn` gives credentials that expire after `seconds`
    (None: as the caller asks; moto's default is an hour)."""
    with _lock:
        if seconds is None:
            _assumed_lifetime.pop(role_arn, None)
        else:
            _assumed_lifetime[role_arn] = seconds


def _patch_assume_role() -> None:
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role
    if getattr(original, "gantry_patched", False):
        return

    def assume_role(self: Any, **kwargs: Any) -> Any:
        lifetime = _assumed_lifetime.get(kwargs.get("role_arn", ""))
        if lifetime is not None:
            kwargs["duration"] = lifetime
        return original(self, **kwargs)

    assume_role.gantry_patched = True  # type: ignore[attr-defined]
    STSBackend.assume_role = assume_role  # type: ignore[method-assign]


def _role(role_arn: str) -> Any:
    """The IAM role `role_arn` names, in its own account; None when there is none."""
    parts = role_arn.split(":")
    if len(parts) < 6:
        return None
    try:
        return _iam_backend(parts[4]).get_role_by_arn(role_arn)
    except Exception:  # moto raises its own NotFound
        return None


def _role_policies(role: Any) -> list[dict[str, Any]]:
    from moto.iam.access_control import IAMPolicy

    docs: list[dict[str, Any]] = [json.loads(p) if isinstance(p, str) else p for p in role.policies.values()]
    docs.extend(IAMPolicy(p)._policy_json for p in role.managed_policies.values())
    return docs


def _assumed_principal(key_id: str) -> Principal | None:
    """The role session `key_id` belongs to (moto's STS, any account), with its role's policies."""
    import datetime

    from moto.sts.models import sts_backends

    for account in list(sts_backends.keys()):
        assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(key_id)
        if assumed is None:
            continue
        role_account = assumed.role_arn.split(":")[4] if assumed.role_arn.count(":") >= 5 else account
        if assumed.role_arn.endswith(":role/" + ADMIN_ROLE):
            policies = [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]
        else:
            role = _role(assumed.role_arn)
            if role is None:
                return None
            policies = _role_policies(role)
        expired = assumed.expiration <= datetime.datetime.now(datetime.timezone.utc).replace(
            tzinfo=assumed.expiration.tzinfo)
        return Principal(assumed.arn, assumed.secret_access_key, assumed.session_token, policies,
                         role_account, expired)
    return None


def _principal(key_id: str) -> Principal | None:
    with _lock:
        session = _sessions.get(key_id)
    if session:
        return Principal(session.arn, session.secret, session.token, session.policies)
    backend = _iam_backend()
    owner = backend.users.get(_key_owners.get(key_id, ""))
    candidates = [owner] if owner is not None else list(backend.users.values())
    for user in candidates:
        for key in user.access_keys:
            if key.access_key_id == key_id and key.status == "Active":
                _key_owners[key_id] = user.name  # found again next time without a scan
                return Principal(f"arn:aws:iam::{ACCOUNT}:user/{user.name}", key.secret_access_key, None,
                                 _user_policies(backend, user))
    if owner is not None:  # the key was deleted or deactivated since
        _key_owners.pop(key_id, None)
    return _assumed_principal(key_id)


_key_owners: dict[str, str] = {}  # access key id -> user name, a cache checked against moto's IAM


# --------------------------------------------------------------------------
# The request: who, what, on which resource, in which context
# --------------------------------------------------------------------------


@dataclass
class Call:
    service: str  # the SigV4 signing name
    region: str
    operation: str
    params: dict[str, Any]
    path: str
    method: str
    account: str = ACCOUNT  # the caller's: the account whose resources the call names


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    out = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        out["Content-Type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        out["Content-Length"] = environ["CONTENT_LENGTH"]
    return out


def _body(environ: dict[str, Any]) -> bytes:
    """The request body, put back for whoever reads it next."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _call(environ: dict[str, Any], service: str, region: str, body: bytes) -> Call:
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    params: dict[str, Any] = {}
    operation = ""
    target = environ.get("HTTP_X_AMZ_TARGET")
    cbor = CBOR_PATH_RE.match(path)
    if target:
        operation = target.rsplit(".", 1)[-1]
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
    elif cbor:
        operation = cbor.group(1)
        params = _cbor_params(environ, operation, body)
    elif service == "s3":
        operation = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject",
                     "DELETE": "DeleteObject", "POST": "PutObject"}.get(method, method)
        parts = path.lstrip("/").split("/", 1)
        params = {"Bucket": parts[0], "Key": parts[1] if len(parts) > 1 else ""}
        if not params["Key"]:
            operation = {"GET": "ListBucket", "HEAD": "ListBucket", "PUT": "CreateBucket",
                         "DELETE": "DeleteBucket"}.get(method, method)
    else:
        form = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            form.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        operation = form.get("Action", "")
        params = form
    return Call(service, region, operation, params, path, method)


def _cbor_params(environ: dict[str, Any], operation: str, body: bytes) -> dict[str, Any]:
    import cbor_bridge  # sibling module

    parts = environ.get("PATH_INFO", "").strip("/").split("/")
    service = cbor_bridge.SERVICES.get(parts[1]) if len(parts) == 4 else None
    if not service or not body:
        return {}
    from botocore.parsers import create_parser

    shape = cbor_bridge._model(service).operation_model(operation).input_shape
    if shape is None:
        return {}
    return create_parser("smithy-rpc-v2-cbor").parse({"body": body, "headers": {}, "status_code": 200}, shape)


@dataclass
class Question:
    """One authorization question: may the caller do `action` on `resource` in `context`?"""

    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)


def questions(call: Call) -> list[Question]:
    """What AWS would ask of the caller's policies for this call (the resource ARNs and
    condition keys the Service Authorization Reference lists for the operations Gantry uses;
    anything else is asked on "*", which only a `Resource: "*"` grant answers)."""
    prefix = IAM_PREFIX.get(call.service, call.service)
    action = f"{prefix}:{call.operation}"
    arn = f"arn:aws:{prefix}:{call.region}:{call.account}"
    p = call.params
    mapper = _MAPPERS.get(prefix)
    out = mapper(call, action, arn, p) if mapper else None
    return out if out is not None else [Question(action, "*")]


def _tag_dict(tags: Any) -> dict[str, str]:
    """Tags in any of moto's shapes ({k: v}, [{"Key"/"key": k, "Value"/"value": v}]) as {k: v}."""
    if isinstance(tags, dict):
        return {str(k): str(v.get("Value", "")) if isinstance(v, dict) else str(v) for k, v in tags.items()}
    out: dict[str, str] = {}
    for tag in tags or []:
        if isinstance(tag, dict):
            key = tag.get("Key", tag.get("key"))
            if key is not None:
                out[str(key)] = str(tag.get("Value", tag.get("value", "")))
    return out


def resource_tags(prefix: str, region: str, resource: str) -> dict[str, str]:
    """The tags AWS would evaluate as `aws:ResourceTag/<key>` for `resource` (an ARN), read from
    the emulator's own resources; {} when the resource does not exist or has none (then a
    tag-conditioned Allow does not apply, as in AWS)."""
    try:
        if prefix == "codepipeline":
            from moto.codepipeline.models import codepipeline_backends

            # An action's or a stage's ARN (pipeline/stage/action) carries its pipeline's tags.
            name = resource.split(":", 5)[5].split("/", 1)[0]
            pipeline = codepipeline_backends[ACCOUNT][region].pipelines.get(name)
            return _tag_dict(pipeline.tags) if pipeline is not None else {}
        if prefix == "ecs":
            from moto.ecs.models import ecs_backends

            return _tag_dict(ecs_backends[ACCOUNT][region].list_tags_for_resource(resource))
        if prefix == "elasticloadbalancing":
            from moto.elbv2.models import elbv2_backends

            return _tag_dict(elbv2_backends[ACCOUNT][region].describe_tags([resource]).get(resource))
        if prefix == "lambda":
            import lambda_hooks  # sibling module: the functions the harness runs as hooks
            from moto.awslambda.models import lambda_backends

            hook_tags = lambda_hooks.tags(resource)
            if hook_tags is not None:
                return hook_tags

            return _tag_dict(lambda_backends[ACCOUNT][region].list_tags(resource))
        if prefix == "iam":
            backend = _iam_backend()
            role = resource.rsplit("/", 1)[-1]
            return _tag_dict(backend.list_role_tags(role, None)[0])
    except Exception:  # noqa: BLE001 - a resource the emulator does not have has no tags
        return {}
    return {}


def _with_tags(question: Question, region: str) -> Question:
    """`question` with the resource's tags in its context, as `aws:resourcetag/<key>`."""
    prefix = question.action.split(":", 1)[0]
    for key, value in resource_tags(prefix, region, question.resource).items():
        question.context.setdefault(f"aws:resourcetag/{key}".lower(), [value])
    return question


def _dynamodb(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    table = p.get("TableName")
    if not table:
        return None
    context: dict[str, list[str]] = {}
    hash_key = _hash_key(call.region, table)
    item = p.get("Key") if call.operation in ("GetItem", "UpdateItem", "DeleteItem") else (
        p.get("Item") if call.operation == "PutItem" else None)
    if hash_key and isinstance(item, dict) and hash_key in item:
        value = next(iter(item[hash_key].values()), None)
        if value is not None:
            context["dynamodb:leadingkeys"] = [str(value)]
    if hash_key and call.operation == "Query":
        value = _queried_partition(p, hash_key)
        if value is not None:
            context["dynamodb:leadingkeys"] = [value]
    return [Question(action, f"{arn}:table/{table}", context)]


def _queried_partition(p: dict[str, Any], hash_key: str) -> str | None:
    """A Query's partition key value (`pk = :v` in its KeyConditionExpression): what AWS
    compares with `dynamodb:LeadingKeys`."""
    names = p.get("ExpressionAttributeNames") or {}
    values = p.get("ExpressionAttributeValues") or {}
    for name, placeholder in re.findall(r"(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)",
                                        p.get("KeyConditionExpression") or ""):
        if names.get(name, name) == hash_key and placeholder in values:
            value = next(iter(values[placeholder].values()), None)
            return None if value is None else str(value)
    return None


def _hash_key(region: str, table: str) -> str | None:
    from moto.dynamodb.models import dynamodb_backends

    found = dynamodb_backends[ACCOUNT][region].tables.get(table)
    return getattr(found, "hash_key_attr", None) if found else None


def _secretsmanager(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    secret_id = p.get("SecretId")
    if not secret_id:
        return None
    from moto.secretsmanager.models import secretsmanager_backends

    store = secretsmanager_backends[ACCOUNT][call.region].secrets
    for secret in list(store.values()):
        if secret_id in (secret.name, secret.arn):
            return [Question(action, secret.arn)]
    return [Question(action, secret_id if secret_id.startswith("arn:") else f"{arn}:secret:{secret_id}")]


PIPELINE_OPERATIONS = {"StartPipelineExecution", "GetPipeline", "GetPipelineExecution", "GetPipelineState",
                       "ListActionExecutions", "ListPipelineExecutions", "StopPipelineExecution",
                       "UpdatePipeline", "DeletePipeline", "RetryStageExecution", "RollbackStage"}


def _codepipeline(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    if call.operation == "PutApprovalResult":
        return [_with_tags(Question(action, f"{arn}:{p.get('pipelineName')}/{p.get('stageName')}/{p.get('actionName')}"),
                           call.region)]
    if call.operation in PIPELINE_OPERATIONS:
        return [_with_tags(Question(action, f"{arn}:{p.get('name') or p.get('pipelineName')}"), call.region)]
    if call.operation == "CreatePipeline":
        return [Question(action, f"{arn}:{(p.get('pipeline') or {}).get('name')}")]
    return None  # job calls and listings: "*"


def _ecs(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    def service_arn(service: str) -> str:
        if service.startswith("arn:"):
            return service
        cluster = (p.get("cluster") or "default").split("/")[-1]
        return f"{arn}:service/{cluster}/{service}"

    if call.operation == "DescribeServices":
        return [_with_tags(Question(action, service_arn(s)), call.region) for s in p.get("services") or []]
    if call.operation == "UpdateService":
        return [_with_tags(Question(action, service_arn(p.get("service", ""))), call.region)]
    if call.operation == "RegisterTaskDefinition":
        definition = f"{arn}:task-definition/{p.get('family')}:*"
        out = [Question(action, definition)]
        if p.get("tags"):
            out.append(Question("ecs:TagResource", definition, {"ecs:createaction": ["RegisterTaskDefinition"]}))
        for role in (p.get("taskRoleArn"), p.get("executionRoleArn")):
            if role:
                out.append(_with_tags(Question("iam:PassRole", role, {"iam:passedtoservice": ["ecs-tasks.amazonaws.com"]}),
                                      call.region))
        return out
    if call.operation in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [Question(action, p.get("resourceArn", "*"))]
    return None


def _elasticloadbalancing(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    if call.operation == "ModifyListener":
        return [_with_tags(Question(action, p.get("ListenerArn", "")), call.region)]
    if call.operation == "ModifyRule":
        return [_with_tags(Question(action, p.get("RuleArn", "")), call.region)]
    return None  # Describe*: "*"


def _sns(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    topic = p.get("TopicArn") or p.get("TargetArn")
    return [Question(action, topic)] if topic else None


def _s3(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    bucket, key = p.get("Bucket"), p.get("Key")
    if not bucket:
        return None
    out = [Question(action, f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}")]
    if call.operation == "GetObject" and "versionId" in urllib.parse.parse_qs(call.path):
        out.append(Question("s3:GetObjectVersion", out[0].resource))
    return out


def _sqs(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    # The queue's ARN from its URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`, or the
    # emulator's `http://host:port/<account>/<name>`); query requests may put it in the path.
    url = p.get("QueueUrl") or call.path
    parts = urllib.parse.urlparse(url).path.strip("/").split("/")
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    return [Question(action, f"arn:aws:sqs:{call.region}:{parts[0]}:{parts[1]}")]


LAMBDA_INVOKE_RE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")


def _lambda(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    """Lambda is REST-JSON: the operation is in the path. Invoke is asked as
    lambda:InvokeFunction on the function's unqualified ARN (a name or partial ARN resolved)."""
    m = LAMBDA_INVOKE_RE.match(call.path) if call.method == "POST" else None
    if not m:
        return None
    name = urllib.parse.unquote(m.group("name"))
    if name.startswith("arn:"):
        function = ":".join(name.split(":")[:7])
    elif ":function:" in name:
        account, rest = name.split(":function:", 1)
        function = f"arn:aws:lambda:{call.region}:{account}:function:{rest.split(':')[0]}"
    else:
        function = f"{arn}:function:{name.split(':')[0]}"
    return [_with_tags(Question("lambda:InvokeFunction", function), call.region)]


def _application_autoscaling(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    """RegisterScalableTarget is asked on the scalable target's ARN (a random id, as in AWS); a
    target not registered yet on the account's `scalable-target/*`. Describe* are "*". The
    context holds what AWS documents for it: `application-autoscaling:service-namespace` and
    `:scalable-dimension`, and an existing target's tags as `aws:ResourceTag/<key>`."""
    if call.operation != "RegisterScalableTarget":
        return None
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    backend = applicationautoscaling_backends[call.account][call.region]
    target = backend.targets.get(p.get("ScalableDimension", ""), {}).get(p.get("ResourceId", ""))
    context = {
        "application-autoscaling:service-namespace": [str(p.get("ServiceNamespace", ""))],
        "application-autoscaling:scalable-dimension": [str(p.get("ScalableDimension", ""))],
    }
    for key, value in (getattr(target, "tags", None) or {}).items():
        context[f"aws:resourcetag/{key}".lower()] = [str(value)]
    return [Question(action, target.arn if target is not None else f"{arn}:scalable-target/*", context)]


def _ssm(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    """Parameter Store: GetParameter(s) on each parameter's ARN, GetParametersByPath on the
    path's (`parameter/<path without its leading slash>`), as the reference lists them."""
    def parameter(name: str) -> str:
        return name if name.startswith("arn:") else f"{arn}:parameter/{name.lstrip('/')}"

    if call.operation in ("GetParameter", "PutParameter", "DeleteParameter"):
        return [Question(action, parameter(str(p.get("Name", ""))))]
    if call.operation in ("GetParameters", "DeleteParameters"):
        return [Question(action, parameter(str(n))) for n in p.get("Names") or []] or None
    if call.operation == "GetParametersByPath":
        return [Question(action, parameter(str(p.get("Path", "")).rstrip("/") or "/"))]
    return None


def _sts(call: Call, action: str, arn: str, p: dict[str, Any]) -> list[Question] | None:
    if call.operation == "AssumeRole":
        return [Question(action, p.get("RoleArn", ""))]
    return None


def _trust_allows(principal: Principal, params: dict[str, Any]) -> bool:
    """Whether the role `params` names exists and its trust policy lets `principal` assume it
    (an AWS principal naming the caller or its account, with the statement's conditions on
    `sts:ExternalId`)."""
    role = _role(params.get("RoleArn", ""))
    if role is None:
        return False
    if role.name == ADMIN_ROLE:
        return True
    document = role.assume_role_policy_document
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document) if document.startswith("%7B") else document)
    context: dict[str, list[str]] = {}
    if params.get("ExternalId"):
        context["sts:externalid"] = [params["ExternalId"]]
    for statement in _as_list(document.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        if not any(_glob(a, "sts:AssumeRole", ignore_case=True) for a in _as_list(statement.get("Action", []))):
            continue
        who = statement.get("Principal", {})
        names = ["*"] if who == "*" else _as_list(who.get("AWS", []))
        if not any(n in ("*", principal.arn, principal.account, f"arn:aws:iam::{principal.account}:root")
                   for n in names):
            continue
        conditions = statement.get("Condition", {})
        if all(_condition_holds(op, key, expected, context)
               for op, pairs in conditions.items() for key, expected in pairs.items()):
            return True
    return False


_MAPPERS = {
    "ssm": _ssm,
    "sts": _sts,
    "application-autoscaling": _application_autoscaling,
    "lambda": _lambda,
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "secretsmanager": _secretsmanager,
    "codepipeline": _codepipeline,
    "ecs": _ecs,
    "elasticloadbalancing": _elasticloadbalancing,
    "sns": _sns,
    "s3": _s3,
}


# --------------------------------------------------------------------------
# Policy evaluation
# --------------------------------------------------------------------------


class Unsupported(Exception):
    """A policy element this evaluator does not know: the request is refused (fail closed)."""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _string_ops(op: str, expected: str, actual: str) -> bool:
    if op in ("StringEquals", "ArnEquals"):
        return actual == expected if op == "StringEquals" else _glob(expected, actual)
    if op == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if op in ("StringLike", "ArnLike"):
        return _glob(expected, actual)
    if op == "Bool":
        return actual.lower() == str(expected).lower()
    raise Unsupported(f"condition operator {op}")


NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals",
           "ArnNotLike": "ArnLike", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase"}


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, list[str]]) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    actual = context.get(key.lower())
    expected_values = [str(e) if not isinstance(e, bool) else str(e).lower() for e in _as_list(expected)]
    if op == "Null":
        return (actual is None) == (expected_values[0].lower() == "true")
    negate = op in NEGATED
    base = NEGATED.get(op, op)

    def matches(value: str) -> bool:
        return any(_string_ops(base, e, value) for e in expected_values)

    if qualifier == "ForAllValues":
        if not actual:
            return True  # AWS: an absent or empty key satisfies ForAllValues
        result = all(matches(v) for v in actual)
        return not result if negate else result
    if qualifier == "ForAnyValue":
        if not actual:
            return False
        result = any(matches(v) for v in actual)
        return not result if negate else result
    if qualifier:
        raise Unsupported(f"condition qualifier {qualifier}")
    if actual is None:
        return if_exists or negate
    result = any(matches(v) for v in actual)
    return not result if negate else result


def _statement_applies(statement: dict[str, Any], question: Question) -> bool:
    if "Action" in statement:
        if not any(_glob(a, question.action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_glob(a, question.action, ignore_case=True) for a in _as_list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(_glob(r, question.resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(_glob(r, question.resource) for r in _as_list(statement["NotResource"])):
            return False
    else:
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, expected, question.context):
                return False
    return True


def decide(policies: list[dict[str, Any]], question: Question) -> str:
    """"Allow", "ExplicitDeny" or "ImplicitDeny" for one question over identity policies."""
    allowed = False
    for policy in policies:
        for statement in _as_list(policy.get("Statement", [])):
            try:
                applies = _statement_applies(statement, question)
            except Unsupported:
                applies = statement.get("Effect") == "Deny"  # fail closed both ways
            if applies and statement.get("Effect") == "Deny":
                return "ExplicitDeny"
            if applies and statement.get("Effect") == "Allow":
                allowed = True
    return "Allow" if allowed else "ImplicitDeny"


# --------------------------------------------------------------------------
# The WSGI step
# --------------------------------------------------------------------------


def _signature_ok(environ: dict[str, Any], principal: Principal, service: str, region: str, body: bytes) -> bool:
    headers = _headers(environ)
    authorization = headers.get("Authorization", "")
    signed = authorization.partition("SignedHeaders=")[2].partition(",")[0].split(";")
    given = authorization.partition("Signature=")[2].partition(",")[0].strip()
    if principal.token is not None and headers.get("X-Amz-Security-Token") != principal.token:
        return False
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or urllib.parse.quote(environ.get("PATH_INFO", ""))
    path = path.split("?", 1)[0]
    if environ.get("QUERY_STRING"):
        path += "?" + environ["QUERY_STRING"]
    request = AWSRequest(method=environ.get("REQUEST_METHOD", "GET"), url=path, data=body,
                         headers={k: v for k, v in headers.items() if k.lower() in signed})
    request.context["timestamp"] = headers.get("X-Amz-Date", "")
    credentials = Credentials("key", principal.secret, principal.token)
    auth = (S3SigV4Auth if service == "s3" else SigV4Auth)(credentials, service, region)
    canonical = auth.canonical_request(request)
    return auth.signature(auth.string_to_sign(request, canonical), request) == given


def check(environ: dict[str, Any]) -> Response | None:
    """None when the request may go on; else AWS's refusal for it."""
    if not _enabled:
        return None
    match = CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return _error(environ, "", "MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    key_id, region, service = match.groups()
    if key_id in ROOT_KEYS:
        return None
    principal = _principal(key_id)
    if principal is None:
        return _error(environ, service, "InvalidClientTokenId",
                      "The security token included in the request is invalid.", 403)
    if principal.expired:
        expired.append({"principal": principal.arn, "service": service})
        return _error(environ, service, "ExpiredToken",
                      "The security token included in the request is expired", 403)
    body = _body(environ)
    if not _signature_ok(environ, principal, service, region, body):
        return _error(environ, service, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you provided.", 403)
    call = _call(environ, service, region, body)
    call.account = principal.account
    if call.operation == "GetCallerIdentity":
        return None
    for question in questions(call):
        verdict = decide(principal.policies, question)
        if verdict != "Allow":
            kind = "an explicit deny in an identity-based policy" if verdict == "ExplicitDeny" \
                else "no identity-based policy allows the " + question.action + " action"
            denied.append({"principal": principal.arn, "action": question.action,
                           "resource": question.resource, "context": question.context})
            return _error(environ, service, "AccessDenied",
                          f"User: {principal.arn} is not authorized to perform: {question.action} "
                          f"on resource: {question.resource} because {kind}", 403 if service == "s3" else 400)
    if call.service == "sts" and call.operation == "AssumeRole" and not _trust_allows(principal, call.params):
        role = call.params.get("RoleArn", "")
        denied.append({"principal": principal.arn, "action": "sts:AssumeRole", "resource": role,
                       "context": {"trust": ["refused"]}})
        return _error(environ, service, "AccessDenied",
                      f"User: {principal.arn} is not authorized to perform: sts:AssumeRole on resource: {role}",
                      403)
    return None


denied: list[dict[str, Any]] = []  # every refusal, for the control API (tests and reports)
expired: list[dict[str, Any]] = []  # every call signed with expired role credentials


def _error(environ: dict[str, Any], service: str, code: str, message: str, status: int) -> Response:
    import cbor_bridge  # sibling module

    if cbor_bridge.is_rpcv2_cbor(environ):
        return cbor_bridge._cbor_error(status, code, message)
    if service in ("s3",):
        body = f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
        return Response(body, status, content_type="application/xml")
    if service in QUERY_SERVICES and not environ.get("HTTP_X_AMZ_TARGET"):
        if service == "sns" and code == "AccessDenied":
            code = "AuthorizationError"
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}"
                f"</Message></Error><RequestId>gantry-iam</RequestId></ErrorResponse>")
        return Response(body, status if status != 400 else 403, content_type="text/xml")
    json_code = "AccessDeniedException" if code == "AccessDenied" else code
    response = Response(json.dumps({"__type": json_code, "message": message, "Message": message}), status,
                        content_type="application/x-amz-json-1.1")
    response.headers["x-amzn-ErrorType"] = json_code
    if service == "monitoring":  # awsQueryCompatible: the SDKs take the code from this header
        response.headers["x-amzn-query-error"] = f"{code};Sender"
    return response
