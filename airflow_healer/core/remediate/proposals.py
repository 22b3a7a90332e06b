"""What a person would do about a risky failure, read from its error message.

``propose(error_type, message)`` returns a JSON-ready dict. Every one has ``kind``, ``summary`` (one line),
``steps`` (short imperative strings, with the command where one applies), ``error_type`` and, when
given, ``task`` (``dag_id.task_id``); the rest depends on the kind:

==========================  ==================  ========================================================
error type                  kind                fields
==========================  ==================  ========================================================
permission_denied           grant_permission    platform (gcp, aws, postgres, mysql, snowflake, kubernetes,
                                                posix), permission, principal, member, resource,
                                                resource_type, project, role; for gcp also permissions,
                                                implied_permission, roles
schema_mismatch             update_schema       table, table_kind, fields, additive, add_fields, apply
data_corruption             quarantine_data     files, locations, format, problem, job_id
missing_dependency          install_dependency  module, package, binary, java_class, version_problem,
                                                missing_object, object_type, location
configuration_error         change_setting      setting_type, setting, value, project
resource_exhaustion,        add_ladder          resource, field, tier, ladder, snippet, operator, quota
memory_leak, disk_space_full
anything else               escalate            -
==========================  ==================  ========================================================

Only what the message names is extracted: a field it does not name is None and the summary says what
is unknown; role and package names come from small tables of facts, never from guesses. Upper-case
words in steps (``PROJECT_ID``, ``VALUE``) are for the person to fill in. A schema change that the
healer can make itself after approval is in ``apply`` (see ``apply.apply_change``).

Input is untrusted: only the first 20,000 characters are read, every quantifier is bounded, every
extracted string is capped at 300 characters, and nothing raises.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from airflow_healer.core.remediate.apply import COLUMN_NAME, COLUMN_TYPES
from airflow_healer.core.types import ErrorType as E

log = logging.getLogger(__name__)

MAX_CHARS = 20_000
MAX_FIELD = 300

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TRIM = " \t\r\n'\"`.,;:()[]{}<>"

# --- shared shapes -------------------------------------------------------------------------------------
_EMAIL = r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,10}"
_PROJECT = r"[a-z][a-z0-9-]{0,62}"  # project ids start with a letter, which keeps times (12:30:45.1) out
_NAME = r"[\w$*-]{1,300}"
_BQ_COLON = re.compile(rf"(?<![\w.:/-])(?P<p>{_PROJECT}):(?P<d>\w{{1,300}})\.(?P<t>{_NAME})")
_BQ_REST = re.compile(rf"projects/(?P<p>{_PROJECT})/datasets/(?P<d>\w{{1,300}})/tables/(?P<t>{_NAME})")
_BQ_DOTTED = re.compile(
    rf"`(?P<p>{_PROJECT})`?\.`?(?P<d>\w{{1,300}})`?\.`?(?P<t>{_NAME})`"
    rf"|(?i:\btable|\binto|destination)[\s:=]{{1,3}}['\"]?(?P<p2>{_PROJECT})\.(?P<d2>\w{{1,300}})\.(?P<t2>{_NAME})")
_BQ_KEYS = re.compile(
    rf"project(?:_id)?=[\"']?(?P<p>{_PROJECT})[\"']?\s{{1,5}}dataset(?:_id)?=[\"']?(?P<d>\w{{1,300}})[\"']?"
    rf"\s{{1,5}}table(?:_id)?=[\"']?(?P<t>{_NAME})")
_TABLE_DOTTED = re.compile(rf"{_PROJECT}\.\w{{1,300}}\.{_NAME}")
_GS = re.compile(r"\bgs://[a-z0-9][a-z0-9._-]{1,221}(?:/[^\s'\"<>`,;()\[\]{}]{0,1024})?")
_GCS_API = re.compile(r"(?:(?<=/)|(?<=\s)|^)b/(?P<b>[a-z0-9][a-z0-9._-]{1,221})(?:/o/(?P<o>[^\s?'\"<>#]{1,1024})"
                      r"|(?:/o)?(?=[?\s'\":]|$))", re.M)
_URI = re.compile(r"\b(?:s3a?|hdfs|abfss?|wasbs?|gs)://[^\s'\"<>`,;()\[\]{}]{1,1024}")


def _cap(value: Any) -> str | None:
    """One short line: control characters out, quotes and punctuation trimmed, at most 300 characters."""
    if value is None:
        return None
    text = _CONTROL.sub(" ", str(value)).strip(_TRIM)
    return text[:MAX_FIELD] or None


def _unique(values: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for value in values:
        value = _cap(value)
        if value and value not in out:
            out.append(value)
    return out


def _search(pattern: re.Pattern[str], text: str, group: str | int = 1) -> str | None:
    match = pattern.search(text)
    return _cap(match[group]) if match else None


def _bq_tables(text: str) -> list[str]:
    """Fully named BigQuery tables, as ``project.dataset.table``, in the order the message names them."""
    found: list[tuple[int, str]] = []
    for pattern in (_BQ_COLON, _BQ_REST, _BQ_DOTTED, _BQ_KEYS):
        for m in pattern.finditer(text):
            p, d, t = (m["p"], m["d"], m["t"]) if m["p"] else (m["p2"], m["d2"], m["t2"])
            found.append((m.start(), f"{p}.{d}.{t}"))
    return _unique(name for _, name in sorted(found))


def _colon(table: str) -> str:
    """``p.d.t`` as ``p:d.t``, the form the ``bq`` command takes."""
    return table.replace(".", ":", 1)


def _gcs_uris(text: str) -> list[str]:
    """Cloud Storage objects and buckets: ``gs://`` URIs and the ``b/BUCKET/o/OBJECT`` paths of its API."""
    found = [(m.start(), m[0]) for m in _GS.finditer(text)]
    for m in _GCS_API.finditer(text):
        obj = unquote(m["o"]) if m["o"] else ""
        found.append((m.start(), f"gs://{m['b']}/{obj}" if obj else f"gs://{m['b']}"))
    return _unique(uri for _, uri in sorted(found))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return _cap(line) or ""
    return ""


def _where_from(operator: str | None, text: str) -> str:
    """Where packages and settings live for this task: ``composer``, ``dataflow`` or ``worker``."""
    low = text.lower()
    if "apache_beam" in low or "dataflow" in low or "Beam" in (operator or "") or "Dataflow" in (operator or ""):
        return "dataflow"
    if "/home/airflow/gcs/" in text or "composer" in low:
        return "composer"
    return "worker"


@dataclass
class _Task:
    """What a proposal is built from: the bounded message and what the caller knows of the task."""

    text: str
    operator: str | None = None
    conn_ids: list[str] = field(default_factory=list)

    def principal_hint(self, what: str = "service account") -> str:
        via = f" (the one behind connection {', '.join(self.conn_ids[:3])})" if self.conn_ids else ""
        return f"the task's {what}{via}"


def _proposal(kind: str, summary: str, steps: list[str], **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "summary": (_CONTROL.sub(" ", summary).replace("\n", " "))[:2 * MAX_FIELD],
            "steps": [s[:2 * MAX_FIELD] for s in steps], **fields}


# --- permission_denied -> grant_permission ----------------------------------------------------------------
_SERVICES = ("aiplatform|artifactregistry|bigquery|bigtable|cloudbuild|cloudfunctions|cloudkms|cloudscheduler|"
             "cloudsql|cloudtasks|composer|compute|container|datacatalog|dataflow|dataform|dataplex|dataproc|"
             "datastore|dns|firestore|iam|logging|monitoring|pubsub|resourcemanager|run|secretmanager|"
             "serviceusage|spanner|storage|workflows")
_GCP_PERMISSION = re.compile(rf"(?<![\w.])(?:{_SERVICES})\.(?!googleapis\b)[a-z][a-zA-Z]{{1,40}}\.[a-z][a-zA-Z]{{1,40}}"
                             r"(?!\w|\.\w)")
#: The smallest predefined role that holds a permission: exact names first, then prefixes ending in ".".
_ROLES: tuple[tuple[str, str], ...] = (
    ("bigquery.tables.getData", "roles/bigquery.dataViewer"),
    ("bigquery.tables.export", "roles/bigquery.dataViewer"),
    ("bigquery.tables.get", "roles/bigquery.metadataViewer"),
    ("bigquery.tables.list", "roles/bigquery.metadataViewer"),
    ("bigquery.datasets.get", "roles/bigquery.metadataViewer"),
    ("bigquery.tables.updateData", "roles/bigquery.dataEditor"),
    ("bigquery.tables.create", "roles/bigquery.dataEditor"),
    ("bigquery.tables.update", "roles/bigquery.dataEditor"),
    ("bigquery.tables.delete", "roles/bigquery.dataEditor"),
    ("bigquery.jobs.create", "roles/bigquery.jobUser"),
    ("bigquery.readsessions.", "roles/bigquery.readSessionUser"),
    ("storage.objects.get", "roles/storage.objectViewer"),
    ("storage.objects.list", "roles/storage.objectViewer"),
    ("storage.objects.create", "roles/storage.objectCreator"),
    ("storage.objects.delete", "roles/storage.objectUser"),
    ("storage.objects.update", "roles/storage.objectUser"),
    ("storage.buckets.get", "roles/storage.legacyBucketReader"),
    ("secretmanager.versions.access", "roles/secretmanager.secretAccessor"),
    ("pubsub.topics.publish", "roles/pubsub.publisher"),
    ("pubsub.subscriptions.consume", "roles/pubsub.subscriber"),
    ("dataflow.jobs.", "roles/dataflow.developer"),
    ("iam.serviceAccounts.actAs", "roles/iam.serviceAccountUser"),
    ("iam.serviceAccounts.getAccessToken", "roles/iam.serviceAccountTokenCreator"),
    ("cloudsql.instances.connect", "roles/cloudsql.client"),
)
_TABLE_ROLES = {"roles/bigquery.dataViewer", "roles/bigquery.metadataViewer", "roles/bigquery.dataEditor"}
#: Wording that names an operation but not its permission: (wording, permission, why).
_IMPLIED = ((re.compile(r"permission to query table", re.I), "bigquery.tables.getData", "querying a table needs"),
            (re.compile(r"does not have permission to (?:insert|update|delete|write)", re.I),
             "bigquery.tables.updateData", "writing to a table needs"))

_MEMBER = re.compile(rf"\b(?P<k>serviceAccount|user|group):(?P<who>{_EMAIL})")
_DOES_NOT_HAVE = re.compile(rf"(?P<who>{_EMAIL})\s{{1,3}}does not have")
_SAID_PRINCIPAL = re.compile(rf"(?i:caller|principal|user|identity|member)\s{{1,3}}['\"]?(?P<who>{_EMAIL})")
_ANY_SA = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}\.(?:iam\.)?gserviceaccount\.com")
_SA_TARGET = re.compile(rf"on (?:the )?service account\s{{1,3}}['\"]?(?:projects/[\w-]{{1,63}}/serviceAccounts/)?"
                        rf"(?P<sa>{_EMAIL})")
_DENIED_ON = re.compile(r"denied (?:on|for) (?:(?:resource|table|dataset|bucket|service account|secret|topic|"
                        r"subscription)\s{0,3}:?\s{0,3})?['\"]?(?P<res>[\w.@*-]{0,300}[/:.@][^\s'\"()]{1,300})")
_ACCESS_DENIED = re.compile(rf"Access Denied: (?:Table (?P<t>{_PROJECT}:\w{{1,300}}\.{_NAME})|Dataset "
                            rf"(?P<d>{_PROJECT}:\w{{1,300}})|Project (?P<p>{_PROJECT}))")
_PROJECT_DENIED = re.compile(rf"denied on project:?\s{{0,3}}['\"]?(?P<p>{_PROJECT})\b")
_PROJECT_NAMED = re.compile(rf"(?:in|on) project:?\s{{1,3}}['\"]?(?P<p>{_PROJECT})\b|projects/(?P<p2>{_PROJECT})\b")
_GCP_PATH = re.compile(rf"projects/{_PROJECT}(?:/(?:datasets|tables|secrets|versions|topics|subscriptions|"
                       r"serviceAccounts|buckets|locations|jobs)/[^\s'\"/,;()]{1,300}){1,4}")
_GCP_HINT = re.compile(r"google|gcloud|bigquery|storage\.googleapis|gserviceaccount|PERMISSION_DENIED|"
                       r"Access Denied: (?:Table|Dataset|Project)", re.I)

_AWS_DENIED = re.compile(r"(?:User|Principal): (?P<who>arn:aws:(?:iam|sts)::\d{12}:[\w+=,.@/-]{1,300}) is not "
                         r"authorized to perform: (?P<action>[\w-]{1,60}:[\w*]{1,100})"
                         r"(?: on resource: ['\"]?(?P<res>arn:[^\s'\"]{1,300}))?")
_AWS_OPERATION = re.compile(r"\(AccessDenied\) when calling the (?P<op>\w{1,60}) operation")
_AWS_ACTIONS = {"GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
                "DeleteObject": "s3:DeleteObject", "ListObjects": "s3:ListBucket", "ListObjectsV2": "s3:ListBucket"}
_PG_DENIED = re.compile(r"permission denied for (?P<what>table|relation|schema|sequence|database|function|view)"
                        r"\s{1,3}\"?(?P<name>[\w.$-]{1,300})")
_PG_OWNER = re.compile(r"must be owner of (?P<what>table|relation|schema|view|function)\s{1,3}\"?"
                       r"(?P<name>[\w.$-]{1,300})")
_DB_USER = re.compile(r"(?:user|role)\s{1,3}\"(?P<who>[\w.$@-]{1,100})\"")
_SQL_VERB = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|TRUNCATE)\b")
_MYSQL_DENIED = re.compile(r"(?P<priv>[A-Z ]{1,40}) command denied to user '(?P<who>[^']{1,100})'"
                           r"@'(?P<host>[^']{1,100})' "
                           r"for table '(?P<name>[^']{1,300})'")
_SNOWFLAKE = re.compile(r"Insufficient privileges to operate on (?P<what>\w{1,40}) '?(?P<name>[\w.\"$-]{1,300})")
_K8S_FORBIDDEN = re.compile(r"User \"(?P<who>[\w:.@-]{1,200})\" cannot (?P<verb>\w{1,40}) resource "
                            r"\"(?P<res>[\w.-]{1,100})\"(?: in API group \"(?P<group>[\w.-]{0,100})\")?"
                            r"(?: in the namespace \"(?P<ns>[\w.-]{1,100})\")?")
_POSIX = re.compile(r"(?:\[Errno 13\]|EACCES:?) [Pp]ermission denied"
                    r"(?:[:,]\s{0,3}(?:\w{1,20} )?['\"]?(?P<path>/[^'\"\s]{0,1000}))?")


def _role_for(permission: str) -> str | None:
    for name, role in _ROLES:
        if permission == name or (name.endswith(".") and permission.startswith(name)):
            return role
    return None


def _principal(text: str) -> str | None:
    """Who was denied: never the service account the call wanted to act as."""
    target = _search(_SA_TARGET, text, "sa")
    said = [m["who"] for pattern in (_DOES_NOT_HAVE, _MEMBER, _SAID_PRINCIPAL) for m in pattern.finditer(text)]
    return next((who for who in _unique(said + [m[0] for m in _ANY_SA.finditer(text)]) if who != target), None)


def _member(principal: str | None, text: str) -> str | None:
    if not principal:
        return None
    prefixed = _MEMBER.search(text)
    if prefixed and prefixed["who"] == principal:
        return f"{prefixed['k']}:{principal}"
    return f"{'serviceAccount' if principal.endswith('gserviceaccount.com') else 'user'}:{principal}"


def _gcp_resource(text: str) -> tuple[str | None, str | None]:
    """The resource a GCP denial names and its type."""
    project = _search(_PROJECT_DENIED, text, "p")
    if project:
        return project, "project"
    m = _ACCESS_DENIED.search(text)
    if m and m["t"]:
        return _cap(m["t"]), "bigquery_table"
    if m and m["d"]:
        return _cap(m["d"]), "bigquery_dataset"
    candidates = [_search(_DENIED_ON, text, "res"), _search(_GCP_PATH, text, 0)]
    candidates += _gcs_uris(text)[:1] + _bq_tables(text)[:1]
    for res in candidates:
        if res:
            rtype = _resource_type(res)
            return (res.split("/")[1] if rtype == "project" else res), rtype
    if m and m["p"]:
        return _cap(m["p"]), "project"
    return None, None


def _resource_type(res: str) -> str:
    checks = (("gs://", "gcs_object" if res.count("/") > 2 else "gcs_bucket"), ("/tables/", "bigquery_table"),
              ("/datasets/", "bigquery_dataset"), ("/secrets/", "secret"), ("/topics/", "pubsub_topic"),
              ("/subscriptions/", "pubsub_subscription"), ("/serviceAccounts/", "service_account"))
    for needle, kind in checks:
        if needle in res:
            return kind
    if "@" in res:
        return "service_account"
    if _BQ_COLON.fullmatch(res) or _TABLE_DOTTED.fullmatch(res):
        return "bigquery_table"
    if re.fullmatch(rf"{_PROJECT}:\w{{1,300}}", res):
        return "bigquery_dataset"
    return "project" if res.startswith("projects/") else "other"


def _table_of(res: str) -> str | None:
    """``p:d.t`` or ``projects/p/datasets/d/tables/t`` as ``p.d.t``."""
    m = _BQ_REST.search(res) or _BQ_COLON.fullmatch(res)
    if m:
        return f"{m['p']}.{m['d']}.{m['t']}"
    return res if _TABLE_DOTTED.fullmatch(res) else None


def _gcp_binding(member: str, role: str, res: str | None, rtype: str | None, project: str) -> str:
    """The narrowest grant command for ``role`` on what was denied."""
    table = _table_of(res) if res and rtype == "bigquery_table" else None
    if table and "*" not in table and role in _TABLE_ROLES:
        return f"bq add-iam-policy-binding --member={member} --role={role} {_colon(table)}"
    if res and rtype in ("gcs_object", "gcs_bucket") and role.startswith("roles/storage."):
        bucket = "/".join(res.split("/")[:3])
        return f"gcloud storage buckets add-iam-policy-binding {bucket} --member={member} --role={role}"
    path = re.match(r"projects/[^/]{1,100}/(secrets|topics|subscriptions|serviceAccounts)/([^/\s]{1,300})", res or "")
    if path:
        command = {"secrets": "secrets", "topics": "pubsub topics", "subscriptions": "pubsub subscriptions",
                   "serviceAccounts": "iam service-accounts"}[path[1]]
        return f"gcloud {command} add-iam-policy-binding {path[2]} --project={project} --member={member} --role={role}"
    if res and rtype == "service_account" and "@" in res:
        return f"gcloud iam service-accounts add-iam-policy-binding {res} --member={member} --role={role}"
    return f"gcloud projects add-iam-policy-binding {project} --member={member} --role={role}"


def _gcp_project(text: str, res: str | None) -> str | None:
    if res:
        m = re.match(rf"(?:projects/)?(?P<p>{_PROJECT})(?:[:./]|$)", res)
        if m and not res.startswith("gs://"):
            return _cap(m["p"])
    m = _PROJECT_NAMED.search(text)
    return _cap(m["p"] or m["p2"]) if m else None


def _grant_gcp(task: _Task) -> dict[str, Any]:
    text = task.text
    named = _unique(m[0] for m in _GCP_PERMISSION.finditer(text))
    implied, why = next(((perm, why) for pattern, perm, why in _IMPLIED if pattern.search(text)), (None, ""))
    permissions = named or ([implied] if implied else [])
    roles = _unique(_role_for(p) for p in permissions)
    principal = _principal(text)
    member = _member(principal, text)
    res, rtype = _gcp_resource(text)
    project = _gcp_project(text, res)
    to = f" to {member}" if member else ""
    on = f" on {'project ' if rtype == 'project' else ''}{res}" if res else ""
    unknown = [] if member else [f"the principal is not named in the error: {task.principal_hint()}"]
    if not res:
        unknown.append("the resource is not named")
    steps: list[str] = []
    if permissions and roles:
        role = roles[0]
        summary = f"Grant {role} ({'holds' if named else why} {permissions[0]}){to}{on}"
    elif permissions:
        role = None
        summary = f"Grant a role that holds {permissions[0]}{to}{on}"
        unknown.append("the healer knows no predefined role for it: see "
                       "https://cloud.google.com/iam/docs/permissions-reference")
    else:
        role = None
        summary = f"Grant the missing access{to}{on}"
        unknown.append("the error names no permission: find it in the Cloud Audit Logs entry of the denied call")
        steps.append(f"gcloud logging read 'protoPayload.status.code=7' --project={project or 'PROJECT_ID'} "
                     "--limit=5 --format=json   # the denied permission and the principal")
    summary += "; ".join(["", *unknown]) + "."
    binding_member = member or "serviceAccount:SERVICE_ACCOUNT_EMAIL"
    for grant in roles or ["ROLE"]:
        steps.append(_gcp_binding(binding_member, grant, res, rtype, project or "PROJECT_ID"))
    if implied == "bigquery.tables.getData" and not named:
        steps.append(f"If it still fails: grant roles/bigquery.jobUser on the project that runs the query: "
                     f"gcloud projects add-iam-policy-binding PROJECT_ID --member={binding_member} "
                     "--role=roles/bigquery.jobUser")
    if "storage.objects.create" in permissions:
        steps.append("If the task overwrites existing objects it also needs storage.objects.delete: grant "
                     "roles/storage.objectUser instead.")
    if "*" in (res or ""):
        steps.append("The table is a wildcard: grant on its dataset (or project), not on one table.")
    return _proposal("grant_permission", summary, steps, platform="gcp",
                     permission=permissions[0] if named else None, permissions=named or None,
                     implied_permission=implied if not named else None, principal=principal, member=member,
                     resource=res, resource_type=rtype, project=project, role=role,
                     roles=roles if len(roles) > 1 else None)


def _aws_policy(action: str, res: str) -> str:
    statement = {"Effect": "Allow", "Action": action, "Resource": res}
    return "'" + json.dumps({"Version": "2012-10-17", "Statement": [statement]}) + "'"


def _grant_aws(task: _Task) -> dict[str, Any]:
    m = _AWS_DENIED.search(task.text)
    who = _cap(m["who"]) if m else None
    action = _cap(m["action"]) if m else None
    res = _cap(m["res"]) if m and m["res"] else None
    if action is None:
        op = _search(_AWS_OPERATION, task.text, "op")
        action = _AWS_ACTIONS.get(op or "")
    if res is None:
        s3 = next((u for u in _unique(x[0] for x in _URI.finditer(task.text)) if u.startswith("s3")), None)
        res = "arn:aws:s3:::" + s3.split("://", 1)[1] if s3 else None
    kind, name = "role", "ROLE_NAME"
    if who:
        parts = who.split(":", 5)[-1].split("/")
        kind = "user" if parts[0] == "user" else "role"
        name = parts[1] if len(parts) > 1 else name
    policy = _aws_policy(action or "ACTION", res or "RESOURCE_ARN")
    policy_name = "healer-" + (action or "access").replace(":", "-")
    steps = [f"aws iam put-{kind}-policy --{kind}-name {name} --policy-name {policy_name} --policy-document {policy}",
             "If a bucket policy or an SCP denies it explicitly, a person must change that policy instead."]
    unknown = [what for what, value in (("principal", who), ("action", action), ("resource", res)) if not value]
    tail = f"; not named in the error: {', '.join(unknown)} (the task's AWS credentials)" if unknown else ""
    summary = f"Allow {action or 'the denied action'} on {res or 'the resource'} for {who or 'the task'}{tail}."
    return _proposal("grant_permission", summary, steps, platform="aws", permission=action, principal=who,
                     member=who, resource=res, resource_type="aws" if res else None, project=None, role=None)


def _grant_sql(task: _Task) -> dict[str, Any] | None:
    text = task.text
    m = _MYSQL_DENIED.search(text)
    if m:
        priv, who, name = m["priv"].strip(), _cap(m["who"]), _cap(m["name"])
        steps = [f"GRANT {priv} ON {name} TO '{who}'@'{m['host']}';   -- qualify the table with its database"]
        return _proposal("grant_permission", f"Grant {priv} on table {name} to MySQL user {who}.", steps,
                         platform="mysql", permission=priv, principal=who, member=who, resource=name,
                         resource_type="table", project=None, role=None)
    m = _SNOWFLAKE.search(text)
    if m:
        name = _cap(m["name"])
        steps = [f"GRANT SELECT ON {m['what'].upper()} {name} TO ROLE ROLE_NAME;   -- or the privilege the "
                 "statement needs, to the task's role"]
        return _proposal("grant_permission", f"Grant the task's Snowflake role access to {m['what']} {name}; the "
                         "role is not named in the error.", steps, platform="snowflake", permission=None,
                         principal=None, member=None, resource=name, resource_type=m["what"].lower(),
                         project=None, role=None)
    m = _PG_DENIED.search(text) or _PG_OWNER.search(text)
    if not m:
        return None
    what = "table" if m["what"] == "relation" else m["what"]
    name, who = _cap(m["name"]), _search(_DB_USER, text, "who")
    user = who or "DB_USER"
    verb = _SQL_VERB.search(text.upper() if "statement" in text.lower() else text)
    if m.re is _PG_OWNER:
        privilege = "ownership"
        steps = [f"Run the statement as the owner of {what} {name}, or make {user} a member of the owning role: "
                 f"GRANT OWNER_ROLE TO {user};"]
    else:
        privilege = {"schema": "USAGE", "sequence": "USAGE, SELECT", "database": "CONNECT",
                     "function": "EXECUTE"}.get(what, verb[1] if verb else "SELECT")
        note = "" if what != "table" or verb else "   -- or INSERT/UPDATE/DELETE, as the statement needs"
        steps = [f"GRANT {privilege} ON {what.upper()} {name} TO {user};{note}"]
    to = who or f"{task.principal_hint('database user')} (not named in the error)"
    summary = f"Grant {privilege} on {what} {name} to {to}."
    return _proposal("grant_permission", summary, steps, platform="postgres", permission=privilege,
                     principal=who, member=who, resource=name, resource_type=what, project=None, role=None)


def _grant_k8s(task: _Task) -> dict[str, Any] | None:
    m = _K8S_FORBIDDEN.search(task.text)
    if not m:
        return None
    who, verb, res, ns = _cap(m["who"]), m["verb"], m["res"], m["ns"] or "NAMESPACE"
    group = f" in API group {m['group']}" if m["group"] else ""
    qualified = f"{res}.{m['group']}" if m["group"] else res
    steps = [f"kubectl create role healer-{verb}-{res} --verb={verb} --resource={qualified} -n {ns}"]
    sa = re.fullmatch(r"system:serviceaccount:([\w.-]{1,100}):([\w.-]{1,100})", who or "")
    subject = f"--serviceaccount={sa[1]}:{sa[2]}" if sa else f"--user={who}"
    steps.append(f"kubectl create rolebinding healer-{verb}-{res} --role=healer-{verb}-{res} {subject} -n {ns}")
    summary = f"Let {who} {verb} {res}{group} in namespace {ns} (a Role and a RoleBinding)."
    return _proposal("grant_permission", summary, steps, platform="kubernetes", permission=f"{verb} {res}",
                     principal=who, member=who, resource=res, resource_type="kubernetes", project=None, role=None)


def _grant_posix(task: _Task) -> dict[str, Any]:
    path = _search(_POSIX, task.text, "path")
    target = path or "PATH"
    steps = [f"ls -ld {target}   # who owns it and its mode",
             f"sudo chown -R TASK_USER {target}   # or chmod/setfacl to give the user the task runs as access"]
    where = path or "a path the error does not name"
    return _proposal("grant_permission", f"Give the user the task runs as access to {where} on the worker.", steps,
                     platform="posix", permission=None, principal=None, member=None, resource=path,
                     resource_type="path" if path else None, project=None, role=None)


def _grant(task: _Task) -> dict[str, Any]:
    for special in (_grant_k8s, _grant_sql):
        proposal = special(task)
        if proposal:
            return proposal
    text = task.text
    if _AWS_DENIED.search(text) or _AWS_OPERATION.search(text) or "arn:aws:" in text:
        return _grant_aws(task)
    if _POSIX.search(text) and not _GCP_PERMISSION.search(text):
        return _grant_posix(task)
    return _grant_gcp(task)


# --- schema_mismatch -> update_schema ---------------------------------------------------------------------
_COL = r"[\w.$-]{1,300}"
_SCHEMA_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("add", re.compile(rf"Cannot add fields \(field: (?P<name>{_COL})\)")),
    ("add", re.compile(rf"no such field:?\s{{0,3}}['\"]?(?P<name>{_COL}?)['\"]?(?=[.,;\s'\"]|$)", re.I)),
    ("add", re.compile(rf"column \"(?P<name>{_COL})\" of relation \"(?P<table>{_COL})\" does not exist")),
    ("type", re.compile(rf"Field '?(?P<name>{_COL}?)'? has changed type from (?P<from>\w{{1,40}}) to "
                        r"(?P<to>\w{1,40})")),
    ("mode", re.compile(rf"Field '?(?P<name>{_COL}?)'? has changed mode from (?P<from>\w{{1,40}}) to "
                        r"(?P<to>\w{1,40})")),
    ("mode", re.compile(rf"Field '?(?P<name>{_COL}?)'? is specified as (?P<to>\w{{1,40}}) in provided schema which "
                        r"does not match (?P<from>\w{1,40})")),
    ("drop", re.compile(rf"Field '?(?P<name>{_COL}?)'? is missing in new schema")),
    ("type", re.compile(rf"Query column \d{{1,5}} has type (?P<to>\w{{1,40}}) which cannot be inserted into column "
                        rf"(?P<name>{_COL}), which has type (?P<from>\w{{1,40}})")),
    ("type", re.compile(rf"column: (?P<name>{_COL}?)'s declared type \((?P<to>[\w.]{{1,100}})\) does not match the "
                        r"schema found in file metadata\. Column [\w.$-]{1,300} is of type: (?P<from>\w{1,40})")),
    ("type", re.compile(r"AvroTypeException: Found (?P<to>[\w.]{1,100}), expecting (?P<from>[\w.]{1,100})")),
    ("type", re.compile(r"operator does not exist: (?P<from>[\w ]{1,40}?) = (?P<to>[\w ]{1,40}?)"
                        r"(?:$|\s*\n|\s{2})", re.M)),
    ("missing", re.compile(rf"column \"?(?P<name>{_COL}?)\"? does not exist")),
    ("missing", re.compile(rf"Unrecognized name: (?P<name>{_COL}?)(?=[\s;,.]|$)")),
    ("missing", re.compile(rf"ORA-00904: \"?(?P<name>{_COL}?)\"?: invalid identifier")),
    ("missing", re.compile(r"KeyError: ['\"](?P<name>[^'\"\n]{1,300})['\"]\s*$", re.M)),
    ("missing", re.compile(r"\[(?P<list>['\"][^\]]{1,1000})\]\s{0,3}not in index")),
    ("missing", re.compile(r"None of \[Index\(\[(?P<list>[^\]]{1,1000})\]")),
)
_COUNT = re.compile(r"wrong column count; Has (?P<has>\d{1,5}), expected (?P<want>\d{1,5})"
                    r"|target table has (?P<want2>\d{1,5}) column\(s\) but the inserted data has (?P<has2>\d{1,5})")
_BQ_HINT = re.compile(r"bigquery|Provided Schema does not match Table|(?:JSON|CSV) table encountered", re.I)
_SPARK_TABLE = re.compile(r"Cannot write to '(?P<t>[\w.`-]{1,300})'")
_PG_RELATION = re.compile(rf"(?:relation|table) \"(?P<t>{_COL})\"")
_DBT_SECTION = re.compile(r"(?P<what>Source columns not in target|Target columns not in source|New column types):"
                          r"\s{0,3}\[(?P<items>[^\]]{0,2000})\]")
_DBT_COLUMN = re.compile(r"<\w{0,40}Column (?P<name>[\w$-]{1,300}) \((?P<type>[\w ]{1,60})(?:, (?P<mode>\w{1,20}))?\)>"
                         r"|'name': '(?P<name2>[\w$-]{1,300})', 'data_type': '(?P<type2>[\w ]{1,60})'"
                         r"|'column_name': '(?P<name3>[\w$-]{1,300})', 'new_type': '(?P<type3>[\w ]{1,60})'")
_SCHEMA_LINE = re.compile(r"^\s{0,10}(?:\|?\s{0,4}--\s)?(?P<name>[\w$-]{1,300}):\s(?P<type>[\w\[\], =:/+-]{1,80}?)"
                          r"(?:\s\(nullable = \w{1,5}\))?\s*$", re.M)
_TWO_SCHEMAS = re.compile(r"(?:Schema at index \d{1,5} was different:|Table schema:)(?P<a>.{0,4000}?)"
                          r"(?:\nvs\n|Data schema:)(?P<b>.{0,4000})", re.S)
#: Types other systems print, as BigQuery names them. Only faithful translations: anything else is unknown.
_TO_BIGQUERY = {
    "int8": "INTEGER", "int16": "INTEGER", "int32": "INTEGER", "int64": "INTEGER", "long": "INTEGER",
    "bigint": "INTEGER", "integer": "INTEGER", "int": "INTEGER", "short": "INTEGER", "smallint": "INTEGER",
    "string": "STRING", "large_string": "STRING", "utf8": "STRING", "text": "STRING", "varchar": "STRING",
    "double": "FLOAT", "float64": "FLOAT", "float": "FLOAT", "double precision": "FLOAT",
    "bool": "BOOLEAN", "boolean": "BOOLEAN", "binary": "BYTES", "large_binary": "BYTES", "date32[day]": "DATE",
    "date": "DATE", "timestamp": "TIMESTAMP",
}


def _bigquery_type(raw: str | None) -> str | None:
    if not raw:
        return None
    raw = raw.strip()
    if raw.upper() in COLUMN_TYPES:
        return raw.upper()
    low = raw.lower()
    if low.startswith("timestamp["):  # pyarrow: tz-aware is TIMESTAMP, naive is DATETIME (as BigQuery loads it)
        return "TIMESTAMP" if "tz=" in low else "DATETIME"
    return _TO_BIGQUERY.get(low)


def _schema_block(block: str) -> dict[str, str]:
    return {m["name"]: m["type"].strip() for m in _SCHEMA_LINE.finditer(block) if m["name"] != "root"}


def _schema_changes(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """The fields a message names as changed, and a table it names in the same breath."""
    changes: list[dict[str, Any]] = []
    table = None
    for change, pattern in _SCHEMA_SHAPES:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            names = [groups.get("name")]
            if groups.get("list"):
                names = re.findall(r"['\"]([^'\"]{1,300})['\"]", groups["list"])
            for name in names:
                entry = {"name": _cap(name), "change": change}
                if groups.get("from"):
                    entry.update(from_type=_cap(groups["from"]), to_type=_cap(groups["to"]))
                changes.append(entry)
            table = table or _cap(groups.get("table"))
            if len(changes) >= 50:
                return changes, table
    for section in _DBT_SECTION.finditer(text):
        change = {"Source": "add", "Target": "drop", "New": "type"}[section["what"].split()[0]]
        for col in _DBT_COLUMN.finditer(section["items"]):
            name = col["name"] or col["name2"] or col["name3"]
            raw = col["type"] or col["type2"] or col["type3"]
            entry = {"name": _cap(name), "change": change}
            entry.update({"to_type": _cap(raw)} if change == "type" else {"source_type": _cap(raw)})
            changes.append(entry)
    two = _TWO_SCHEMAS.search(text)
    if two:
        first, second = _schema_block(two["a"]), _schema_block(two["b"])
        for name, raw in second.items():
            if name not in first:
                changes.append({"name": _cap(name), "change": "add", "source_type": _cap(raw)})
            elif first[name] != raw:
                changes.append({"name": _cap(name), "change": "type", "from_type": _cap(first[name]),
                                "to_type": _cap(raw)})
        changes += [{"name": _cap(n), "change": "drop"} for n in first if n not in second]
    return [c for c in changes if c.get("name") or c["change"] == "type"], table


def _named_type(text: str, name: str) -> str | None:
    """A BigQuery type the message gives ``name`` (``name: INT64``, ``name (FLOAT)``, ``name of type DATE``)."""
    m = re.search(rf"(?<![\w.]){re.escape(name)}['\"]?(?::\s?|\s\(|\sof type\s)['\"]?"
                  r"(?P<t>[A-Za-z][\w\[\], =:/]{1,40}?)(?=[\s,)'\"]|$)", text)
    return _bigquery_type(m["t"]) if m else None


def _add_fields(text: str, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fields = []
    for change in changes:
        if change["change"] != "add" or not change.get("name"):
            continue
        known = _bigquery_type(change.get("source_type")) or _named_type(text, change["name"])
        entry: dict[str, Any] = {"name": change["name"], "type": known or "STRING", "mode": "NULLABLE"}
        if not known:
            entry.update(type_guessed=True, note="STRING is a guess: the error does not name the type")
        if all(f["name"].lower() != entry["name"].lower() for f in fields):
            fields.append(entry)
    return fields


def _schema_steps(table: str | None, table_kind: str, changes: list[dict[str, Any]],
                  add_fields: list[dict[str, Any]], text: str) -> list[str]:
    steps: list[str] = []
    guessed = [f["name"] for f in add_fields if f.get("type_guessed")]
    if guessed:
        steps.append(f"Decide the type of {', '.join(guessed)} from the source data (STRING is only a guess).")
    if add_fields and table_kind == "bigquery":
        columns = ", ".join(f"ADD COLUMN IF NOT EXISTS {f['name']} {f['type']}" for f in add_fields)
        steps.append(f"bq query --use_legacy_sql=false 'ALTER TABLE `{table or 'PROJECT.DATASET.TABLE'}` {columns}'")
        steps.append("Or let the load add new columns itself: schema_update_options=['ALLOW_FIELD_ADDITION'].")
    elif add_fields:
        columns = ", ".join(f"ADD COLUMN {f['name']} {'COLUMN_TYPE' if f.get('type_guessed') else f['type']}"
                            for f in add_fields)
        steps.append(f"ALTER TABLE {table or 'TABLE'} {columns};")
    if add_fields and "mergeSchema" in text:
        steps.append('Or write with .option("mergeSchema", "true") so Delta adds the new columns.')
    if add_fields and "on_schema_change" in text:
        steps.append("Or set on_schema_change='append_new_columns' in the dbt model's config.")
    for c in changes:
        name = c.get("name") or "the column"
        if c["change"] == "mode":
            steps.append(f"Make the modes of {name} agree ({c.get('to_type')} in the source, {c.get('from_type')} "
                         "expected): fix the source's schema, or (a person) relax the column; BigQuery relaxes "
                         "REQUIRED to NULLABLE only.")
        elif c["change"] == "type":
            steps.append(f"Map {name} in the task (CAST it to {c.get('from_type') or 'the table type'}), or migrate "
                         f"the table's column to {c.get('to_type') or 'the new type'} (a person: BigQuery changes a "
                         "column's type in place only to widen it).")
        elif c["change"] == "drop":
            steps.append(f"The source no longer has {name}: restore it upstream, or map or drop it on purpose.")
        elif c["change"] == "missing":
            steps.append(f"The task reads {name}, which is not there: it was renamed or dropped upstream; map the "
                         "new name in the task or restore it.")
    if not changes and _COUNT.search(text):
        steps.append(f"Name the columns in the INSERT (INSERT INTO {table or 'TABLE'} (col_a, col_b, ...) SELECT ...), "
                     "or make the source produce the table's columns.")
    elif not changes:
        show = f"bq show --schema --format=prettyjson {_colon(table)}" if table_kind == "bigquery" and table else ""
        steps.append("Compare the source's schema with the table's" + (f": {show}" if show else "."))
    return steps[:20]


def _schema(task: _Task) -> dict[str, Any]:
    text = task.text
    changes, named_table = _schema_changes(text)
    count = _COUNT.search(text)
    bq = _bq_tables(text)
    other = named_table or _search(_SPARK_TABLE, text, "t") or _search(_PG_RELATION, text, "t")
    table, table_kind = (bq[0], "bigquery") if bq else (other, "other" if other else None)
    if table_kind != "bigquery" and _BQ_HINT.search(text):
        table_kind = "bigquery"
    add_fields = _add_fields(text, changes)
    kinds = {c["change"] for c in changes}
    additive: bool | None = True if kinds == {"add"} else (False if kinds else None)
    apply = None
    if additive and bq and add_fields and all(
            not f.get("type_guessed") and COLUMN_NAME.fullmatch(f["name"]) for f in add_fields):
        apply = {"kind": "bigquery_add_columns", "table": bq[0],
                 "fields": [{"name": f["name"], "type": f["type"], "mode": "NULLABLE"} for f in add_fields]}
    where = f"table {table}" if table else "the table (not named in the error)"
    names = ", ".join(f["name"] + ("" if f.get("type_guessed") else f" {f['type']}") for f in add_fields)
    if additive:
        summary = f"Add column(s) {names} (NULLABLE) to {where}: an additive change."
        if not apply:
            summary += " The healer cannot add it itself: " + (
                "a type is not named in the error." if any(f.get("type_guessed") for f in add_fields)
                else "the table is not a fully named BigQuery table.")
    elif additive is False:
        described = "; ".join(_describe(c) for c in changes[:5])
        summary = (f"Not additive ({described}) in {where}: a person must migrate the table or map the column "
                   "in the task.")
    elif count:
        has, want = count["has"] or count["has2"], count["want"] or count["want2"]
        summary = (f"The rows have {has} columns and {where} has {want}: the error does not say which column "
                   "differs; list the columns in the INSERT or align the source.")
    else:
        summary = f"The data's schema does not match {where}; the error names no field: compare the two schemas."
    steps = _schema_steps(table, table_kind or "other", changes, add_fields, text)
    return _proposal("update_schema", summary, steps, table=table, table_kind=table_kind, fields=changes[:50],
                     additive=additive, add_fields=add_fields, apply=apply)


def _describe(change: dict[str, Any]) -> str:
    name = change.get("name") or "a column"
    if change.get("from_type"):
        return f"{name} {change['change']} {change['from_type']} -> {change['to_type']}"
    return {"drop": f"{name} dropped", "missing": f"{name} missing", "add": f"{name} new"}.get(
        change["change"], f"{name} changed")


# --- data_corruption -> quarantine_data -------------------------------------------------------------------
_LOCAL = re.compile(r"(?<![\w\"])[\"'](?P<p>/[^\"'\s]{1,1000})[\"']|\b(?:gzip|zcat|unzip|tar): (?P<z>[^\s:]{1,300}):"
                    r"|(?<![\w/:.])(?P<u>(?:/[\w.@%+=$-]{1,255}){1,30}\."
                    r"(?:csv|tsv|json|jsonl|ndjson|parquet|avro|orc|gz|bz2|zst|zip|txt|xml))\b")
_CODE_PATH = re.compile(r"\.(?:py|pyc|java|scala|jar|so)$|/(?:site|dist)-packages/|/lib/python")
_LOCATIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("byte_offset", re.compile(r"(?:row|line) starting at position:?\s{0,3}(\d{1,15})", re.I)),
    ("row", re.compile(r"\brows? #?(\d{1,15})\b(?![;:]\s?errors)", re.I)),
    ("line", re.compile(r"\bline(?:_number)?[: ]\s{0,2}(\d{1,15})\b(?!, in )", re.I)),
    ("byte_offset", re.compile(r"byte[ _]offset(?:_to_start_of_line)?[: ]\s{0,2}(\d{1,15})"
                               r"|at (?:byte )?offset (\d{1,15})", re.I)),
    ("position", re.compile(r"in position (\d{1,15})")),
    ("column", re.compile(r"column_name: \"?([\w$-]{1,300})")),
)
#: Formats, the file's own before its compression.
_FORMATS = tuple((name, re.compile(p, re.I)) for name, p in (
    ("Parquet", r"parquet"), ("Avro", r"\bavro"), ("ORC", r"\borc\b"), ("CSV", r"\bcsv"), ("JSON", r"\bjson"),
    ("gzip", r"\bgzip|\.gz\b"), ("zip", r"\.zip\b"), ("snappy", r"snappy")))
_PROBLEMS = (("checksum_mismatch", r"checksum|crc32c|md5 mismatch"),
             ("bad_encoding", r"codec can't decode|invalid utf-?8"),
             ("not_the_format", r"is not a \w{1,20} file|magic number"),
             ("corrupt_compression", r"invalid compressed data|crc error|crc check failed|incorrect header check"
                                     r"|snappy.{0,40}corrupt"),
             ("truncated", r"truncated|unexpected end of|premature end|\bEOF\b"),
             ("bad_character", r"bad character"), ("bad_rows", r"too many errors|malformed|could not parse|bad record"))
_PROBLEM = re.compile("|".join(f"(?P<p{i}>{p})" for i, (_, p) in enumerate(_PROBLEMS)), re.I)
_JOB_ID = re.compile(r"\bJob ID:?\s{0,3}['\"]?([\w:.-]{4,300})|\bjob_id=\"?([\w:.-]{4,300})")


def _quarantine_step(path: str) -> str:
    scheme, sep, rest = path.partition("://")
    if sep:
        authority, _, key = rest.partition("/")
        target = f"{scheme}://{authority}/quarantine/{key}"
        tool = {"gs": "gcloud storage mv", "s3": "aws s3 mv", "s3a": "aws s3 mv"}.get(scheme, "hdfs dfs -mv")
        return f"{tool} {path} {target}"
    folder, _, name = path.rpartition("/")
    quarantine = f"{folder}/quarantine" if folder else "quarantine"
    return f"mkdir -p {quarantine} && mv {path} {quarantine}/{name}"


def _corruption(task: _Task) -> dict[str, Any]:
    text = task.text
    files = _gcs_uris(text) + [u for u in _unique(m[0] for m in _URI.finditer(text)) if not u.startswith("gs://")]
    for m in _LOCAL.finditer(text):
        path = m["p"] or m["z"] or m["u"]
        if path and not _CODE_PATH.search(path):
            files.append(path)
    files = _unique(files)[:20]
    locations = []
    for what, pattern in _LOCATIONS:
        for m in pattern.finditer(text):
            value = next(g for g in m.groups() if g is not None)
            locations.append({what: int(value) if value.isdigit() else _cap(value)})
            if len(locations) >= 20:
                break
    named = " ".join(files)
    fmt = next((name for where in (named, text) for name, p in _FORMATS if p.search(where)), None)
    pm = _PROBLEM.search(text)
    problem = _PROBLEMS[int(pm.lastgroup[1:])][0] if pm and pm.lastgroup else None
    job = _JOB_ID.search(text)
    job_id = _cap(job[1] or job[2]) if job else None
    steps = []
    if problem == "checksum_mismatch":
        steps.append("Download it again first: a checksum mismatch can be a transfer error; if it repeats, the "
                     "object is corrupt at its source.")
    steps += [_quarantine_step(f) for f in files if not f.startswith(("https://", "http://"))]
    if problem == "bad_rows" or ("BigQuery" in text or "Error while reading data" in text):
        steps.append("Or load with a bad-record allowance so the good rows load: --max_bad_records=N "
                     "(max_bad_records in the job configuration).")
        if job_id:
            steps.append(f"bq show --format=prettyjson -j {job_id}   # the job's error stream names the bad rows")
    if locations and not files:
        steps.append("Find the input the task read in its log: the error names the place but not the file.")
    steps.append("Re-run the task on the rest: clear it in this run once the bad input is aside.")
    where = ", ".join(f"{k} {v}" for loc in locations[:3] for k, v in loc.items())
    if files:
        summary = (f"Move {', '.join(files[:3])}{' and more' if len(files) > 3 else ''} aside to a quarantine "
                   f"prefix and re-run on the rest{f' (bad at {where})' if where else ''}.")
    elif locations:
        summary = f"The input is bad at {where}, but the error names no file: find it in the task's log, move it aside."
    else:
        summary = "The input is bad, but the error names no file, row or offset: find the input in the task's log."
    if fmt or problem:
        summary += f" [{' '.join(x for x in (fmt, (problem or '').replace('_', ' ')) if x)}]"
    return _proposal("quarantine_data", summary, steps, files=files, locations=locations, format=fmt,
                     problem=problem, job_id=job_id)


# --- missing_dependency -> install_dependency -------------------------------------------------------------
#: Import names whose distribution is called something else.
_DISTRIBUTIONS = {
    "yaml": "PyYAML", "sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "Pillow", "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil", "psycopg2": "psycopg2-binary", "dotenv": "python-dotenv", "jwt": "PyJWT",
    "attr": "attrs", "Crypto": "pycryptodome", "MySQLdb": "mysqlclient", "skimage": "scikit-image",
    "googleapiclient": "google-api-python-client", "google.protobuf": "protobuf", "google.auth": "google-auth",
    "google.cloud.secretmanager": "google-cloud-secret-manager", "snowflake.connector": "snowflake-connector-python",
    "pkg_resources": "setuptools",
}
_PROVIDER_NAMESPACES = {"apache", "cncf", "microsoft", "common", "atlassian", "dbt"}
#: Programs and where they come from: (installer, package).
_PROGRAMS = {"dbt": ("pip", "dbt-core"), "aws": ("pip", "awscli"), "gcloud": ("apt", "google-cloud-cli"),
             "gsutil": ("apt", "google-cloud-cli"), "bq": ("apt", "google-cloud-cli"),
             "psql": ("apt", "postgresql-client"), "java": ("apt", "default-jre"), "git": ("apt", "git"),
             "unzip": ("apt", "unzip")}
_NO_MODULE = re.compile(r"No module named ['\"]?(?P<m>[\w.]{1,1000}?)['\"]?(?=[\s;,]|$|['\"])", re.M)
_CANNOT_IMPORT = re.compile(r"cannot import name ['\"]?(?P<name>\w{1,300})['\"]?(?: from ['\"]?(?P<m>[\w.]{1,300}))?")
#: A program the shell could not find, most telling shape first ("zsh: command not found: dbt" names zsh too).
_PROGRAMS_MISSING = tuple(re.compile(p) for p in (
    r"command not found: (?P<p>[\w.+-]{1,100})", r"(?P<p>[\w.+-]{1,100}): command not found",
    r"/bin/\w{1,10}: (?:\d{1,6}: )?(?:line \d{1,6}: )?(?P<p>[\w.+-]{1,100}): not found",
    r"No such file or directory: ['\"](?P<p>[\w.+-]{1,100})['\"]"))
_JAVA_CLASS = re.compile(r"Failed to load class for data source: (?P<ds>[\w.$]{1,300})"
                         r"|(?:ClassNotFoundException|NoClassDefFoundError):\s{0,3}"
                         r"(?P<init>Could not initialize class\s)?"
                         r"(?P<c>[\w$]{1,100}(?:[./][\w$]{1,100}){1,20})"
                         r"|No suitable driver found for (?P<jdbc>jdbc:[\w]{1,40})")
_MISSING_OBJECTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bigquery_table", re.compile(rf"Not found: Table (?P<o>{_PROJECT}:\w{{1,300}}\.{_NAME})(?: was not found in "
                                  r"location (?P<loc>[\w-]{1,40}))?")),
    ("bigquery_dataset", re.compile(rf"Not found: Dataset (?P<o>{_PROJECT}:\w{{1,300}})(?: was not found in "
                                    r"location (?P<loc>[\w-]{1,40}))?")),
    ("gcs_object", re.compile(r"No such object: (?P<o>[a-z0-9][\w.-]{1,221}/[^\s'\"]{1,1000})")),
    ("gcs_bucket", re.compile(r"(?:specified bucket does not exist|bucket does not exist|NoSuchBucket)")),
    ("s3_object", re.compile(r"NoSuchKey")),
    ("pubsub", re.compile(r"Resource not found \(resource=(?P<o>[\w.-]{1,300})\)|(?:Topic|Subscription) not found")),
    ("table", re.compile(rf"relation \"(?P<o>{_COL})\" does not exist|Table ['\"`]?(?P<o2>{_COL})['\"`]? (?:does not "
                         r"exist|doesn't exist|not found)")),
    ("file", re.compile(r"No such file or directory: ['\"](?P<o>[^'\"\n]{0,1000}/[^'\"\n]{0,1000})['\"]")),
)


def _distribution(module: str) -> str:
    for name in (module, ".".join(module.split(".")[:3]), ".".join(module.split(".")[:2]), module.split(".")[0]):
        if name in _DISTRIBUTIONS:
            return _DISTRIBUTIONS[name]
    parts = module.split(".")
    if parts[:2] == ["google", "cloud"] and len(parts) > 2:
        return "google-cloud-" + re.sub(r"_v\d\w*$", "", parts[2]).replace("_", "-")
    if parts[:2] == ["airflow", "providers"] and len(parts) > 2:
        provider = parts[2:4] if parts[2] in _PROVIDER_NAMESPACES and len(parts) > 3 else parts[2:3]
        return "apache-airflow-providers-" + "-".join(provider).replace("_", "-")
    return parts[0]


def _install_steps(package: str, where: str) -> list[str]:
    if where == "dataflow":
        return [f"Add {package} to the pipeline's requirements.txt and pass --requirements_file=requirements.txt "
                "(the Dataflow workers install it), or build it into a custom SDK container image."]
    composer = f"gcloud composer environments update ENVIRONMENT --location LOCATION --update-pypi-package {package}"
    if where == "composer":
        return [composer]
    return [f"pip install {package}   # and add it to the image's requirements.txt", f"On Cloud Composer: {composer}"]


def _dependency(task: _Task) -> dict[str, Any]:
    text = task.text
    where = _where_from(task.operator, text)
    fields: dict[str, Any] = dict(module=None, package=None, binary=None, java_class=None, version_problem=False,
                                  missing_object=None, object_type=None, location=None)
    m = _CANNOT_IMPORT.search(text)
    if m:
        module = _cap(m["m"])
        package = _distribution(module) if module else None
        fields.update(module=module, package=package, version_problem=True)
        name = m["name"]
        summary = (f"{module or 'A module'} is installed but has no {name}: a version problem. Install the version of "
                   f"{package or 'the package'} that provides {name} (the error does not say which).")
        steps = [f"pip show {package or 'PACKAGE'}   # the installed version",
                 f"Pin the version the code was written for: pip install '{package or 'PACKAGE'}==VERSION'"]
        return _proposal("install_dependency", summary, steps, **fields)
    m = _NO_MODULE.search(text)
    if m:
        module = _cap(m["m"]) or ""
        package = _distribution(module)
        fields.update(module=module, package=package)
        summary = f"Install the Python package {package}: module {module} is missing" + (
            " on the Dataflow workers." if where == "dataflow" else ".")
        return _proposal("install_dependency", summary, _install_steps(package, where), **fields)
    m = next((found for found in map(lambda p: p.search(text), _PROGRAMS_MISSING) if found), None)
    if m:
        program = _cap(m["p"])
        installer, package = _PROGRAMS.get(program or "", (None, None))
        fields.update(binary=program, package=package)
        if installer == "pip":
            steps = _install_steps(package, where)
        elif installer == "apt":
            steps = [f"Install {package} in the worker image (apt-get install {package}), or run the command in an "
                     "image that has it (KubernetesPodOperator)."]
        else:
            steps = [f"Install the program that provides {program} in the worker image, or run the command in an "
                     "image that has it (KubernetesPodOperator)."]
        if program == "dbt":
            steps.append("Install the dbt adapter too (dbt-bigquery, dbt-postgres ...).")
        summary = (f"Install {package or 'the program ' + str(program)}: the command {program} is not on the "
                   "worker's PATH.")
        return _proposal("install_dependency", summary, steps, **fields)
    m = _JAVA_CLASS.search(text)
    if m:
        java_class = _cap((m["c"] or m["ds"] or m["jdbc"] or "").replace("/", "."))
        fields.update(java_class=java_class)
        if m["init"]:
            summary = (f"Class {java_class} is on the classpath but failed to initialise (see the first error "
                       "before this one): often two versions of a library clash.")
        else:
            summary = f"Add the JAR that provides {java_class} to the job's classpath."
        steps = ["Spark: --packages GROUP:ARTIFACT:VERSION (spark.jars.packages) or --jars PATH.jar; Dataflow/Beam: "
                 "add the dependency to the pipeline's build (pom.xml/build.gradle) or --filesToStage.",
                 "Check for clashing versions of the library (mvn dependency:tree)."]
        return _proposal("install_dependency", summary, steps, **fields)
    return _missing_object(task, fields)


def _missing_object(task: _Task, fields: dict[str, Any]) -> dict[str, Any]:
    text = task.text
    for object_type, pattern in _MISSING_OBJECTS:
        m = pattern.search(text)
        if not m:
            continue
        groups = m.groupdict()
        obj = _cap(groups.get("o") or groups.get("o2"))
        if object_type in ("gcs_bucket", "s3_object", "pubsub") and not obj:
            uris = _gcs_uris(text) + _unique(x[0] for x in _URI.finditer(text))
            paths = [p for p in _unique(x[0] for x in _GCP_PATH.finditer(text))
                     if "/topics/" in p or "/subscriptions/" in p]
            obj = (paths or uris or [None])[0]
        if object_type == "gcs_object" and obj:
            obj = "gs://" + obj
        location = _cap(groups.get("loc"))
        fields.update(missing_object=obj, object_type=object_type, location=location)
        label = object_type.replace("_", " ")
        what = f"{label} {obj}" if obj else f"a {label} the error does not name"
        summary = f"The upstream {what} does not exist: the upstream task or a person must create it."
        if location:
            summary += f" (Or it exists in another location than {location}: then set the task's location.)"
        check = {"bigquery_table": f"bq show {obj}", "bigquery_dataset": f"bq show {obj}",
                 "gcs_object": f"gcloud storage ls {obj}", "gcs_bucket": f"gcloud storage ls {obj}",
                 "file": f"ls -l {obj}"}.get(object_type)
        steps = ([f"{check}   # confirm it is missing"] if check and obj else []) + [
            "Find the task that creates it and make this task depend on it (or wait for it with a sensor).",
            "Or create it by hand, if it is an input a person provides."]
        return _proposal("install_dependency", summary, steps, **fields)
    summary = ("Something the task needs is missing, but the error names no module, program or object: "
               + _first_line(text))
    return _proposal("install_dependency", summary, ["Read the task's log for what it failed to find."], **fields)


# --- configuration_error -> change_setting ----------------------------------------------------------------
_CONFIG_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("airflow_variable", re.compile(r"Variable ['\"]?(?P<name>[\w.-]{1,250})['\"]? does not exist")),
    ("airflow_connection", re.compile(r"conn_id [`'\"](?P<name>[\w.-]{1,250})[`'\"] isn't defined")),
    ("airflow_config", re.compile(r"section/key \[(?P<section>\w{1,100})/(?P<name>\w{1,100})\] not found in config")),
    ("gcp_api", re.compile(r"apis/api/(?P<name>[\w.-]{1,100}\.googleapis\.com)"
                           r"(?:/overview\?project=(?P<project>[\w-]{1,63}))?"
                           r"|(?P<name2>[\w.-]{1,100}\.googleapis\.com) (?:is not enabled|has not been used)")),
    ("dbt_var", re.compile(r"Required var '(?P<name>[\w.-]{1,250})' not found in config")),
    ("env_var", re.compile(r"(?i:environment variable|env var)\s{1,3}['\"`]?(?P<name>[A-Za-z_]\w{0,250})['\"`]?\s{1,3}"
                           r"(?:is not set|not set|is missing|must be set|is required|is not defined)"
                           r"|['\"`]?(?P<name2>[A-Z_][A-Z0-9_]{1,250})['\"`]? (?:environment variable|env var) "
                           r"(?:is )?(?:not set|missing|required)")),
    ("env_var", re.compile(r"os\.environ\[['\"](?P<name>[A-Za-z_]\w{0,250})['\"]\]")),
    ("env_var", re.compile(r"KeyError: ['\"](?P<name>[A-Z][A-Z0-9_]{1,250})['\"]\s*$", re.M)),
    ("option", re.compile(r"Missing required (?:pipeline )?options?: (?P<name>[\w, -]{1,250}?)\s*$", re.M)),
    ("option", re.compile(r"argument (?P<name>--[\w-]{1,100}): Invalid choice: '(?P<value>[^'\n]{1,300})'")),
    ("option", re.compile(r"[Ii]nvalid (?:value|choice) for (?:parameter|field|option|argument|flag|setting)s?\s{0,3}"
                          r"['\"`]?(?P<name>--?[\w.-]{1,100}|[\w.-]{1,100})['\"`]?\s{0,3}[:=]\s{0,3}['\"]?"
                          r"(?P<value>[^'\"\n]{1,300}?)['\"]?(?=[\s.,;]|$)")),
    ("option", re.compile(r"Invalid (?P<what>[\w ]{1,40}?) \((?P<value>[^)\n]{1,300})\), given for the option: "
                          r"(?P<name>\w{1,100})")),
    ("option", re.compile(r"[Ii]nvalid (?:value for )?['\"`]?(?P<name>[\w.-]{1,100})['\"`]? "
                          r"(?:setting|option|parameter)"
                          r"(?:[:=]\s{0,3}['\"]?(?P<value>[^'\"\s]{1,300}))?")),
    ("project", re.compile(r"Not found: Project (?P<value>[\w:.-]{1,100})"
                           r"|(?P<name>ProjectId|project_id|project) must be "
                           r"(?:non-empty|set|specified)")),
    ("location", re.compile(r"Cannot read and write in different locations: source: (?P<value>[\w-]{1,40}), "
                            r"destination: "
                            r"(?P<value2>[\w-]{1,40})")),
    ("spark_setting", re.compile(r"(?P<option>--[\w-]{1,60}) option or (?P<name>spark\.[\w.]{1,200})")),
)


_SETTING_LABELS = {"airflow_variable": "Airflow Variable", "airflow_connection": "Airflow connection",
                   "airflow_config": "Airflow setting", "dbt_var": "dbt var", "env_var": "environment variable",
                   "spark_setting": "Spark setting"}


def _setting_steps(setting_type: str, name: str | None, groups: dict[str, Any], where: str) -> list[str]:
    n = name or "NAME"
    if setting_type == "airflow_variable":
        return [f"airflow variables set {n} VALUE   # or Admin > Variables in the UI, or the secrets backend"]
    if setting_type == "airflow_connection":
        return [f"airflow connections add {n} --conn-type CONN_TYPE --conn-host HOST --conn-login LOGIN "
                "--conn-password PASSWORD   # or Admin > Connections, or the secrets backend"]
    if setting_type == "airflow_config":
        section = groups.get("section") or "SECTION"
        return [f"Set AIRFLOW__{section.upper()}__{n.upper()}=VALUE in the environment, or [{section}] {n} in "
                "airflow.cfg",
                f"On Cloud Composer: gcloud composer environments update ENVIRONMENT --location LOCATION "
                f"--update-airflow-configs={section}-{n}=VALUE"]
    if setting_type == "gcp_api":
        return [f"gcloud services enable {n} --project={groups.get('project') or 'PROJECT_ID'}"]
    if setting_type == "dbt_var":
        return [f"dbt run --vars '{{\"{n}\": VALUE}}'   # or vars: in dbt_project.yml"]
    if setting_type == "env_var":
        composer = (f"gcloud composer environments update ENVIRONMENT --location LOCATION "
                    f"--update-env-variables={n}=VALUE")
        return [composer] if where == "composer" else [
            f"Set {n} in the workers' environment (docker-compose environment:, Helm env:, or the task's env=)",
            f"On Cloud Composer: {composer}"]
    if setting_type == "project":
        return ["Set the project: project_id= on the task, or the 'project' extra of its Google Cloud connection."]
    if setting_type == "location":
        return ["Run the job in the dataset's location (location= on the task), or copy the data to one location."]
    return [f"Set {n} to a valid value where the task configures it (operator argument, pipeline options or "
            "connection extra)."]


def _setting(task: _Task) -> dict[str, Any]:
    text = task.text
    where = _where_from(task.operator, text)
    for setting_type, pattern in _CONFIG_SHAPES:
        m = pattern.search(text)
        if not m:
            continue
        groups = m.groupdict()
        name = _cap(groups.get("name") or groups.get("name2"))
        value = _cap(groups.get("value"))
        project = _cap(groups.get("project"))
        label = _SETTING_LABELS.get(setting_type, setting_type.replace("_", " "))
        if setting_type == "location":
            value, name = f"{value} -> {_cap(groups['value2'])}", "location"
            summary = f"The source is in {groups['value']} and the destination in {groups['value2']}: use one location."
        elif setting_type == "project":
            summary = (f"Project {value} does not exist or is not the one meant: set the task's project." if value
                       else "No project is set: set the task's project_id or its connection's project.")
        elif setting_type == "gcp_api":
            summary = f"Enable {name} in project {project or 'PROJECT_ID (not named in the error)'}."
        elif value:
            summary = f"Set {label} {name} to a valid value: {value!r} is not one."
        elif setting_type == "spark_setting":
            summary = f"Raise {label} {name}: the job asks for a larger value than it has."
        else:
            summary = f"Set {label} {name}: the task needs it and it is not defined."
        if groups.get("option"):
            summary += f" (command-line {groups['option']})"
        steps = _setting_steps(setting_type, name, groups, where)
        return _proposal("change_setting", summary, steps, setting_type=setting_type, setting=name, value=value,
                         project=project)
    summary = "A setting is missing or invalid, but the error does not name it: " + _first_line(text)
    return _proposal("change_setting", summary, ["Read the task's log for the setting it could not use."],
                     setting_type=None, setting=None, value=None, project=None)


# --- resource_exhaustion, memory_leak, disk_space_full -> add_ladder --------------------------------------
_QUOTA = re.compile(r"quota|Too many open files", re.I)
_POD = re.compile(r"ephemeral-storage|OOMKilled|\bEvicted\b|\bpod/[\w.-]")


def _ladder(task: _Task, error_type: E) -> dict[str, Any]:
    operator = task.operator or ""
    disk = error_type is E.DISK_SPACE_FULL
    in_pod = "KubernetesPod" in operator or "GKEStartPod" in operator or (not operator and _POD.search(task.text))
    if in_pod:
        tier, ladder, key = ("ephemeral_storage", ["2Gi", "4Gi", "8Gi"], "ephemeral-storage") if disk else (
            "memory", ["1Gi", "2Gi", "4Gi"], "memory")
        field_name = "container_resources"
        snippet = (f'container_resources=k8s.V1ResourceRequirements(limits={{"{key}": '
                   f"\"{{{{ healer.tier('{tier}', {ladder}) }}}}\"}})")
    elif "Bash" in operator:
        tier, ladder = ("disk_gb", [10, 20, 50]) if disk else ("memory_mb", [512, 1024, 2048])
        field_name = "env"
        snippet = f"env={{\"{tier.upper()}\": \"{{{{ healer.tier('{tier}', {ladder}) }}}}\"}}"
    else:
        tier, ladder = ("disk_gb", [10, 20, 50]) if disk else ("memory_mb", [512, 1024, 2048])
        field_name = "op_kwargs"
        snippet = f"op_kwargs={{\"{tier}\": \"{{{{ healer.tier('{tier}', {ladder}) }}}}\"}}"
    resource = "ephemeral_storage" if disk and field_name == "container_resources" else ("disk" if disk else "memory")
    quota = bool(_QUOTA.search(task.text)) and error_type is E.RESOURCE_EXHAUSTION
    summary = f"Declare a ladder for {resource} in {field_name}: {snippet}; the healer then climbs one rung a retry."
    steps = [f"Add to the task: {snippet}",
             "Use the value where the size is set (the function's argument, a Dataflow machine type or disk size, "
             "a Dataproc or BigQuery configuration): any templated field works."]
    if field_name != "container_resources" and disk:
        steps.append("On a shared worker a ladder cannot grow its disk: free space there, or run the task in a pod.")
    if error_type is E.MEMORY_LEAK:
        steps.append("A leak grows with any limit: the healer climbs one rung, then hands over to a person.")
    if quota:
        steps.insert(0, "This is a quota or limit, not the task's size: a bigger rung will not help; raise the "
                        "quota (or the ulimit) or ask for less.")
    return _proposal("add_ladder", summary, steps, resource=resource, field=field_name, tier=tier, ladder=ladder,
                     snippet=snippet, operator=task.operator, quota=quota)


# --- entry point ----------------------------------------------------------------------------------------
_BUILDERS: dict[E, Callable[[_Task], dict[str, Any]]] = {
    E.PERMISSION_DENIED: _grant, E.SCHEMA_MISMATCH: _schema, E.DATA_CORRUPTION: _corruption,
    E.MISSING_DEPENDENCY: _dependency, E.CONFIGURATION_ERROR: _setting,
}
_LADDER_TYPES = (E.RESOURCE_EXHAUSTION, E.MEMORY_LEAK, E.DISK_SPACE_FULL)


def _escalate(text: str) -> dict[str, Any]:
    return _proposal("escalate", _first_line(text) or "The error has no message.",
                     ["A person looks: the healer has no proposal for this error."])


def _bounded(message: Any) -> str:
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message[: MAX_CHARS * 4]).decode("utf-8", errors="replace")[:MAX_CHARS]
    return (message if isinstance(message, str) else str(message or ""))[:MAX_CHARS]


def propose(error_type: E | str, message: str, *, dag_id: str = "", task_id: str = "", operator: str | None = None,
            conn_ids: list[str] | None = None) -> dict[str, Any]:
    """A proposal with concrete content for a person to approve (see the module docstring for its keys).

    :param error_type: the classified type; an unknown value gives kind ``escalate``.
    :param message: the error text; only its first 20,000 characters are read.
    :param dag_id: the failed task's DAG, recorded with the proposal.
    :param task_id: the failed task, recorded with the proposal.
    :param operator: its operator class name: it picks the snippet of an ``add_ladder`` proposal.
    :param conn_ids: the connections it uses: they name the principal when the error does not.
    """
    try:
        text = _bounded(message)
        try:
            etype = E(error_type)
        except ValueError:
            etype = E.UNKNOWN
        task = _Task(text, operator if isinstance(operator, str) else None,
                     [c for c in (conn_ids or []) if isinstance(c, str)])
        if etype in _LADDER_TYPES:
            result = _ladder(task, etype)
        elif etype in _BUILDERS:
            result = _BUILDERS[etype](task)
        else:
            result = _escalate(text)
    except Exception:  # a proposal must never fail the incident it describes; a person gets the raw error
        log.exception("Could not build a proposal for a %s error; escalating", error_type)
        etype = error_type if isinstance(error_type, E) else E.UNKNOWN
        result = _escalate(message[:MAX_CHARS] if isinstance(message, str) else "")
        result["note"] = "the healer could not read this error (logged); a person looks"
    result["error_type"] = etype.value
    if dag_id or task_id:
        result["task"] = f"{dag_id}.{task_id}"
    return result
