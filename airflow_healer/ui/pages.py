"""The Healer pages (server-rendered HTML) and the JSON API they use, under ``/healer``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from airflow_healer.core.remediate.registry import STRATEGIES
from airflow_healer.ui.common import MAX_PAGE, Reader, StoreDep, Writer, editor, page, templates, user_name

router = APIRouter()
api = APIRouter(prefix="/api", tags=["healer"])

STATUSES = ("open", "healing", "recovered", "not_recovered", "escalated")
ERROR_TYPES = ("network_timeout", "timeout_exceeded", "rate_limiting", "resource_exhaustion", "memory_leak",
               "disk_space_full", "authentication_failure", "permission_denied", "schema_mismatch",
               "data_corruption", "missing_dependency", "configuration_error", "unknown")
MODES = ("observe", "recommend", "act")


def _page(store: Any, **filters: Any) -> dict[str, Any]:
    try:
        return store.incident_page(**filters)
    except ValueError as exc:  # a cursor that is not one of ours
        raise HTTPException(400, f"{exc}: start from the first page") from exc


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        raise HTTPException(422, f"{name} must be one of {', '.join(allowed)}")
    return value


def _incident_or_404(store: Any, incident_id: str) -> Any:
    incident = store.get_incident(incident_id)
    if incident is None:
        raise HTTPException(404, f"No incident {incident_id!r}: it may have been removed, or the id is wrong.")
    return incident


def ti_links(incident: Any, store: Any = None) -> dict[str, str]:
    """Links into Airflow's own UI for the incident's task instance and its log; for a job outside Airflow,
    into the Google Cloud console's page of the job."""
    if incident.dag_id.startswith("external:"):
        from airflow_healer.gcp.jobs import console_url

        job = store.get_pipeline_job(incident.run_id) if store is not None else None
        job_type = incident.dag_id.split(":", 1)[1]
        return {"console": console_url(job_type, incident.run_id, (job or {}).get("project", ""),
                                       (job or {}).get("location", ""))}
    dag, run, task = (quote(x, safe="") for x in (incident.dag_id, incident.run_id, incident.task_id))
    base = f"/dags/{dag}/runs/{run}/tasks/{task}" + (f"/mapped/{incident.map_index}" if incident.map_index >= 0 else "")
    return {"task_instance": base, "log": f"{base}?try_number={incident.last_try_number}"}


def highlighted_excerpt(incident: Any) -> list[tuple[str, bool]]:
    """The log excerpt's lines, each marked when it is one of the lines that decided the classification."""
    telling = {line.get("text", "").strip() for line in incident.log_lines if line.get("text")}
    return [(line, line.strip() in telling) for line in (incident.log_excerpt or "").splitlines()]


# -- the JSON API --------------------------------------------------------------------------------------


@api.get("/overview")
def overview_json(user: Reader, store: StoreDep) -> dict[str, Any]:
    """Counts, active incidents, per-DAG health and recent events: what the overview shows."""
    return {**store.overview(), "healer": healer_health(store)}


@api.get("/incidents")
def incidents_json(user: Reader, store: StoreDep, dag_id: str | None = None, status: str | None = None,
                   error_type: str | None = None, search: str | None = Query(None, max_length=200),
                   limit: int = Query(50, ge=1, le=MAX_PAGE), before: str | None = Query(None, max_length=200),
                   ) -> dict[str, Any]:
    """One page of incidents, newest first; ``next`` is the cursor of the following page."""
    return _page(store, dag_id=dag_id or None, status=_choice(status, STATUSES, "status"),
                               error_type=_choice(error_type, ERROR_TYPES, "error_type"), search=search or None,
                               limit=limit, before=before or None)


@api.get("/incidents/{incident_id}")
def incident_json(incident_id: str, user: Reader, store: StoreDep) -> dict[str, Any]:
    return _incident_or_404(store, incident_id).as_dict()


@api.get("/analytics")
def analytics_json(user: Reader, store: StoreDep, days: int = Query(30, ge=1, le=366)) -> dict[str, Any]:
    return store.analytics(days=days)


@api.get("/proposals")
def proposals_json(user: Reader, store: StoreDep, status: str | None = None,
                   limit: int = Query(100, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    status = _choice(status, ("pending", "approved", "rejected", "expired"), "status")
    proposals = store.list_proposals(status=status, limit=limit + 1, offset=offset)
    more = len(proposals) > limit
    return {"proposals": proposals[:limit], "next_offset": offset + limit if more else None}


class Decision(BaseModel):
    note: str = Field("", max_length=2000)


@api.post("/proposals/{proposal_id}/approve")
def approve(proposal_id: str, body: Decision, user: Writer, store: StoreDep) -> dict[str, Any]:
    """Approve a pending proposal: its healer retries the task in its run (edit rights on its DAG)."""
    return _decide(store, proposal_id, True, body.note, user)


@api.post("/proposals/{proposal_id}/reject")
def reject(proposal_id: str, body: Decision, user: Writer, store: StoreDep) -> dict[str, Any]:
    """Reject a pending proposal: its run ends failed with the reason (edit rights on its DAG)."""
    return _decide(store, proposal_id, False, body.note, user)


def _decide(store: Any, proposal_id: str, approve: bool, note: str, user: Any) -> dict[str, Any]:
    from airflow_healer.approvals import decide
    from airflow_healer.exceptions import StoreError

    proposal = store.get_proposal(proposal_id)
    if proposal is None:
        raise HTTPException(404, f"No proposal {proposal_id!r}.")
    editor(user, proposal["dag_id"])
    try:
        decided, message = decide(store, proposal_id, approve, user_name(user), note)
    except StoreError as exc:
        raise HTTPException(409, str(exc)) from exc
    return {"proposal": decided, "message": message}


class RemediationRequest(BaseModel):
    dag_id: str = Field(..., min_length=1, max_length=250)
    run_id: str = Field(..., min_length=1, max_length=250)
    task_id: str = Field(..., min_length=1, max_length=250)
    map_index: int = Field(-1, ge=-1)
    strategy: str = Field("auto", pattern="^(auto|retry|rescale|refresh_credentials)$")
    dry_run: bool = True
    reason: str = Field("", max_length=1000)


@api.post("/remediate")
def remediate(body: RemediationRequest, request: Request, user: Writer) -> dict[str, Any]:
    """Trigger ``healer_remediate`` for one failed task instance, as the signed-in user (dry run first)."""
    editor(user, body.dag_id)
    run = _as_user(request).post("/api/v2/dags/healer_remediate/dagRuns",
                                 {"logical_date": None, "conf": body.model_dump()})
    what = "dry run" if body.dry_run else "remediation"
    return {"dag_run_id": run.get("dag_run_id"),
            "message": f"Triggered healer_remediate ({what}) for {body.dag_id}.{body.task_id}: run {run.get('dag_run_id')}."}


class Pause(BaseModel):
    is_paused: bool


@api.post("/dags/{dag_id}/pause")
def pause(dag_id: str, body: Pause, request: Request, user: Writer) -> dict[str, Any]:
    """Pause or resume a DAG, as the signed-in user."""
    editor(user, dag_id)
    _as_user(request).patch(f"/api/v2/dags/{quote(dag_id, safe='')}", {"is_paused": body.is_paused})
    return {"message": f"{dag_id} is {'paused' if body.is_paused else 'resumed'}."}


class Mode(BaseModel):
    mode: str = Field(..., pattern="^(observe|recommend|act)$")
    reason: str = Field("", max_length=1000)


@api.get("/mode")
def mode_json(user: Reader, store: StoreDep) -> dict[str, Any]:
    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.healer import mode_override

    return {"configured": HealerConfig.load().mode, "override": mode_override(store)}


@api.post("/mode")
def set_mode(body: Mode, user: Writer, store: StoreDep) -> dict[str, Any]:
    """Switch the healer's mode everywhere (``observe`` is the emergency stop); edit rights on every DAG."""
    from airflow_healer.core.healer import set_mode_override

    editor(user, None)
    set_mode_override(store, body.mode, user_name(user), body.reason)
    return {"mode": body.mode, "message": f"The healer's mode is now {body.mode} (set by {user_name(user)})."}


class _UserApi:
    """Airflow's REST API called with the signed-in user's own token: Airflow checks their rights and
    records them as the one who acted."""

    def __init__(self, request: Request):
        import httpx

        token = request.headers.get("authorization", "")
        if not token.lower().startswith("bearer "):
            token = "Bearer " + request.cookies.get("_token", "")
        self.client = httpx.Client(base_url=str(request.base_url).split("/healer")[0], timeout=30,
                                   headers={"Authorization": token})

    def _call(self, method: str, path: str, body: Any) -> Any:
        import httpx

        try:
            response = self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"Airflow's API did not answer: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise HTTPException(response.status_code, f"Airflow refused: {str(detail)[:500]}")
        return response.json() if response.content else {}

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self._call("PATCH", path, body)


def _as_user(request: Request) -> _UserApi:
    return _UserApi(request)


def healer_health(store: Any) -> dict[str, Any]:
    """The healer's own health: its store, the model in use, the watchdog's last cycle."""
    from airflow_healer.core.watchdog import read_state
    from airflow_healer.ui.model import active_version

    out: dict[str, Any] = {"store": "ok"}
    try:
        state = read_state(store)
        out["watchdog"] = {"last_cycle": state.get("last_cycle"), "watermark": state.get("watermark")}
    except Exception as exc:  # noqa: BLE001 - health says what is wrong
        out["watchdog"] = {"error": str(exc)[:300]}
    try:
        out["model"] = active_version(store)
    except Exception as exc:  # noqa: BLE001
        out["model"] = f"unreadable: {str(exc)[:300]}"
    return out


# -- the pages ---------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, user: Reader, store: StoreDep) -> HTMLResponse:
    data = store.overview()
    return page(request, "overview.html", user, title="Overview", data=data, health=healer_health(store),
                window_hours=24)


@router.get("/fragment/overview", response_class=HTMLResponse, include_in_schema=False)
def overview_fragment(request: Request, user: Reader, store: StoreDep) -> HTMLResponse:
    html = templates().get_template("overview_live.html").render(
        data=store.overview(), window_hours=24, base=str(request.scope.get("root_path", "")).rstrip("/"))
    return HTMLResponse(html)


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, user: Reader, store: StoreDep, dag_id: str = "", status: str = "",
                   error_type: str = "", search: str = Query("", max_length=200),
                   before: str = Query("", max_length=200)) -> HTMLResponse:
    result = _page(store, dag_id=dag_id or None, status=_choice(status, STATUSES, "status"),
                                 error_type=_choice(error_type, ERROR_TYPES, "error_type"), search=search or None,
                                 limit=50, before=before or None)
    filters = {"dag_id": dag_id, "status": status, "error_type": error_type, "search": search}
    return page(request, "incidents.html", user, title="Incidents", result=result, filters=filters,
                statuses=STATUSES, error_types=ERROR_TYPES)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: str, request: Request, user: Reader, store: StoreDep) -> HTMLResponse:
    incident = _incident_or_404(store, incident_id)
    strategy = next((s for s in STRATEGIES if incident.error_type in s.handles), None)
    record = store.strategy_record(strategy.name) if strategy else None
    similar = store.similar_incidents(incident.id, limit=10)
    proposals = [p for p in store.list_proposals(limit=MAX_PAGE) if p["incident_id"] == incident.id]
    return page(request, "incident.html", user, title=f"{incident.dag_id}.{incident.task_id}", incident=incident,
                excerpt=highlighted_excerpt(incident), strategy=strategy, record=record, similar=similar, proposals=proposals,
                links=ti_links(incident, store), ledger=store.ledger(incident.id, limit=200))


@router.get("/analytics", response_class=HTMLResponse)
def analytics_page(request: Request, user: Reader, store: StoreDep,
                   days: int = Query(30, ge=1, le=366)) -> HTMLResponse:
    from airflow_healer.ui.charts import bars

    data = store.analytics(days=days)
    charts = {
        "trend": bars([(d["date"], d["count"]) for d in data["daily"]], title="Incidents per day"),
        "types": bars([(t["error_type"] or "unclassified", t["count"]) for t in data["error_types"]],
                      title="Incidents per type", height=180),
        "strategies": bars([(s["strategy"], 100 * s["success_rate"]) for s in data["strategies"]
                            if s["success_rate"] is not None], title="Success rate per strategy", height=180, unit=" %"),
    }
    return page(request, "analytics.html", user, title="Analytics", data=data, days=days, charts=charts)


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, user: Reader, store: StoreDep, offset: int = Query(0, ge=0)) -> HTMLResponse:
    from airflow_healer.core.config import HealerConfig
    from airflow_healer.core.healer import mode_override

    pending = store.list_proposals(status="pending", limit=MAX_PAGE + 1, offset=offset)
    decided = [p for p in store.list_proposals(limit=50) if p["status"] != "pending"]
    more = len(pending) > MAX_PAGE
    return page(request, "approvals.html", user, title="Approvals and manual override", pending=pending[:MAX_PAGE],
                next_offset=offset + MAX_PAGE if more else None, decided=decided,
                configured_mode=HealerConfig.load().mode, override=mode_override(store), modes=MODES)


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, user: Reader, store: StoreDep, job_type: str = Query("", max_length=40),
              status: str = Query("", max_length=40), offset: int = Query(0, ge=0)) -> HTMLResponse:
    jobs = store.list_pipeline_jobs(job_type=job_type or None, status=status or None, limit=51, offset=offset)
    return page(request, "jobs.html", user, title="External jobs", jobs=jobs[:50],
                next_offset=offset + 50 if len(jobs) > 50 else None, filters={"job_type": job_type, "status": status})


@api.get("/jobs")
def jobs_json(user: Reader, store: StoreDep, job_type: str | None = Query(None, max_length=40),
              status: str | None = Query(None, max_length=40), limit: int = Query(50, ge=1, le=MAX_PAGE),
              offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """Dataflow, Workflows and BigQuery jobs as polled, most recently updated first."""
    return {"jobs": store.list_pipeline_jobs(job_type=job_type, status=status, limit=limit, offset=offset)}


