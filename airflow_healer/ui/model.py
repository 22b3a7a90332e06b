"""The model page and its API, under ``/healer/model`` and ``/healer/api/model``.

What the active classifier gets right and wrong (per-class precision, recall, F1 and the confusion
matrix, on generated messages no training uses), its versions with activation and roll-back, training
on an uploaded CSV in the background, an A/B comparison of two versions on recent incidents, and drift.
Training, evaluation, activation and drift are the classifier's own functions (what the CLI calls).

Training runs in a thread of the API server process: a job is kept in this process's memory (its id,
stage and progress), one at a time; the version it makes, its evaluation and who trained it go to the
store. Activations are recorded in the store (who, when, what was active before), which is what
roll-back follows.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.store.base import utcnow
from airflow_healer.core.types import ErrorType
from airflow_healer.exceptions import ClassifierError
from airflow_healer.ui.common import (
    MAX_PAGE,
    Reader,
    StoreDep,
    Writer,
    can,
    config,
    editor,
    page,
    templates,
    user_name,
)
from airflow_healer.ui.knowledge import CSV_TYPES, UPLOAD_SCHEMA, Upload, read_upload, rejected

log = logging.getLogger(__name__)

router = APIRouter()
api = APIRouter(prefix="/api/model", tags=["model"])

#: The name the page gives the model shipped in the package (it is not a stored version).
SHIPPED = "shipped"
#: Store blobs: a version's evaluation (and who trained it), and the activation history.
EVAL_PREFIX = "model-eval/"
HISTORY_BLOB = "settings/model-activations"
#: The generator seed ``airflow-healer drift`` samples its held-out baseline with: training never uses it.
HELD_OUT_SEED = 9_999
#: Generated messages a class that the evaluation scores (0.4 s for the twelve classes).
EVAL_PER_CLASS = 25
VERSIONS_PAGE = 20
DISAGREEMENTS_PAGE = 50
#: Seconds a drift report is reused: it costs a second or two (twelve hundred baseline messages).
DRIFT_TTL = 300.0
MAX_TRAIN_ROWS = 50_000
MAX_TEXT = 20_000
KNOWN = tuple(t.value for t in ErrorType.known())

ConfigDep = Annotated[HealerConfig, Depends(config)]
Version = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


def trainer() -> Callable[..., Any]:
    """The training function a job calls (a dependency: a test can hold a job at its training stage)."""
    from airflow_healer.core.classify.model import train

    return train


Trainer = Annotated[Callable[..., Any], Depends(trainer)]


# -- models, their evaluation and versions ---------------------------------------------------------------

_models: OrderedDict[tuple[str, str], Any] = OrderedDict()
_evaluations: dict[tuple[str, str], dict[str, Any]] = {}
_drift: dict[tuple[Any, ...], tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def active_version(store: Any) -> str:
    from airflow_healer.core.classify import ACTIVE_MODEL

    blob = store.get_blob(ACTIVE_MODEL)
    return blob.decode() if blob else SHIPPED


def model_for(store: Any, version: str) -> Any:
    """The model of ``version`` (``shipped``: the package's), loaded once: a version's bytes never change."""
    from airflow_healer.core.classify import MODEL_PREFIX
    from airflow_healer.core.classify.model import ErrorClassifier, ModelFormatError, load_default

    if version == SHIPPED:
        return load_default()
    key = (repr(store), version)
    with _cache_lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    blob = store.get_blob(MODEL_PREFIX + version)
    if blob is None:
        raise HTTPException(404, f"No model version {version!r} in the store: see the versions on the model page.")
    try:
        model = ErrorClassifier.from_bytes(blob)
    except ModelFormatError as exc:
        raise HTTPException(409, f"Model {version} cannot be loaded: {exc}") from exc
    with _cache_lock:
        _models[key] = model
        while len(_models) > 3:
            _models.popitem(last=False)
    return model


def evaluate_model(model: Any) -> dict[str, Any]:
    """Per-class precision/recall/F1 and the confusion matrix on generated messages no training uses."""
    from airflow_healer.core.classify.corpus import generate
    from airflow_healer.core.classify.evaluate import evaluate

    rows = generate(n_per_class=EVAL_PER_CLASS, seed=HELD_OUT_SEED)
    report = evaluate(model, rows, labels=list(KNOWN))
    return {**report["all"], "corpus": f"{len(rows)} generated messages (seed {HELD_OUT_SEED}, never trained on)",
            "computed_at": utcnow()}


def evaluation_of(store: Any, version: str) -> dict[str, Any]:
    """The evaluation stored with a version trained here; computed once per process for the others."""
    blob = store.get_blob(EVAL_PREFIX + version) if version != SHIPPED else None
    if blob:
        return json.loads(blob)
    key = (repr(store), version)
    with _cache_lock:
        if key in _evaluations:
            return _evaluations[key]
    report = evaluate_model(model_for(store, version))
    with _cache_lock:
        _evaluations[key] = report
    return report


def _describe(version: str, meta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    scores = [b.get("cv_macro_f1") for b in (meta.get("cv_best") or {}).values() if b.get("cv_macro_f1") is not None]
    return {"version": version, "created": meta.get("created", ""), "model": meta.get("model"),
            "n_examples": meta.get("n_examples"), "cv_macro_f1": max(scores, default=None), **extra}


def versions(store: Any) -> list[dict[str, Any]]:
    """Every stored version, newest first, with who trained it when it was trained here."""
    from airflow_healer.core.classify import list_models

    trained = {b["name"][len(EVAL_PREFIX):]: b["meta"] for b in store.list_blobs(EVAL_PREFIX)}
    rows = [_describe(m["version"], m["meta"], active=m["active"], size=m["size"],
                      trained_by=trained.get(m["version"], {}).get("trained_by"))
            for m in list_models(store)]
    return sorted(rows, key=lambda r: r["created"], reverse=True)


def shipped_info() -> dict[str, Any]:
    from airflow_healer.core.classify.model import load_default

    return _describe(SHIPPED, load_default().metadata_, active=False, size=None, trained_by="the package")


def _history(store: Any) -> list[dict[str, Any]]:
    blob = store.get_blob(HISTORY_BLOB)
    return json.loads(blob) if blob else []


def activate(store: Any, version: str, by: str, action: str = "activate") -> str:
    """Make ``version`` active and record who did it and what was active before; returns that."""
    from airflow_healer.core.classify import activate_model

    previous = active_version(store)
    try:
        activate_model(store, version)
    except ClassifierError as exc:
        raise HTTPException(404, str(exc)) from exc
    record = {"version": version, "previous": previous, "action": action, "by": by, "at": utcnow()}
    store.put_blob(HISTORY_BLOB, json.dumps((_history(store) + [record])[-200:]).encode(), record)
    return previous


def previous_version(store: Any, listing: list[dict[str, Any]]) -> str | None:
    """What a roll-back returns to: the version active before the active one was activated (by the
    activation history; for a version activated elsewhere, the newest version created before it)."""
    active = active_version(store)
    known = {v["version"]: v for v in listing}
    if active not in known:
        return None
    for record in reversed(_history(store)):
        if record["version"] == active and record["action"] == "activate":
            previous = record.get("previous")
            return previous if previous in known and previous != active else None
    older = [v for v in listing if v["created"] < known[active]["created"]]
    return max(older, key=lambda v: v["created"])["version"] if older else None


# -- training --------------------------------------------------------------------------------------------


@dataclass
class TrainingJob:
    """One training: who started it on what, how far it is, and what it made."""

    id: str
    by: str
    source: str
    n_uploaded: int
    activate: bool
    state: str = "running"  # running, done, failed
    stage: str = "queued"
    progress: float = 0.0
    started_at: str = field(default_factory=utcnow)
    finished_at: str | None = None
    seconds: float | None = None
    n_examples: int | None = None
    version: str | None = None
    macro_f1: float | None = None
    error: str | None = None
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def step(self, stage: str, progress: float) -> None:
        self.stage, self.progress = stage, progress
        log.info("Training job %s: %s", self.id, stage)

    def end(self, state: str, stage: str, **result: Any) -> None:
        for name, value in result.items():
            setattr(self, name, value)
        self.state, self.stage, self.finished_at = state, stage, utcnow()
        self.seconds = round(time.monotonic() - self._t0, 1)
        if state == "done":
            self.progress = 1.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_t0")
        out["elapsed_seconds"] = self.seconds if self.seconds is not None else round(time.monotonic() - self._t0, 1)
        return out


_jobs: OrderedDict[str, TrainingJob] = OrderedDict()
_jobs_lock = threading.Lock()


class TrainOptions(BaseModel):
    """The form fields beside the uploaded CSV."""

    model_config = ConfigDict(extra="forbid")

    include_corpus: bool = False
    n_per_class: int = Field(300, ge=1, le=2000)
    activate: bool = False


def training_rows(data: bytes) -> tuple[list[str], list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """Texts, labels and metadata of a ``text,label`` CSV (``exception_type``, ``operator`` optional), and
    its bad rows by number (the header is row 1)."""
    text = data.decode("utf-8-sig")
    delimiter = max((",", ";", "\t"), key=text.split("\n", 1)[0].count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    texts: list[str] = []
    labels: list[str] = []
    meta: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if "text" not in header or "label" not in header:
            raise HTTPException(422, f"The first row must name the columns text and label (exception_type and "
                                     f"operator are optional); it names {header[:10]}.")
        for number, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(texts) + len(errors) >= MAX_TRAIN_ROWS:
                raise HTTPException(422, f"More than {MAX_TRAIN_ROWS} rows: train on a sample.")
            cells = dict(zip(header, record, strict=False))
            message = cells.get("text", "").strip()
            label = re.sub(r"[\s-]+", "_", cells.get("label", "").strip().lower())
            problems = []
            if not message or len(message) > MAX_TEXT:
                problems.append(("text", f"empty or over {MAX_TEXT} characters: give the error text"))
            if label not in KNOWN:
                problems.append(("label", f"{cells.get('label', '')!r} is not one of {', '.join(KNOWN)}"))
            errors += [{"row": number, "column": column, "reason": reason} for column, reason in problems]
            if not problems:
                texts.append(message)
                labels.append(label)
                meta.append({k: cells.get(k) or None for k in ("exception_type", "operator")})
    except csv.Error as exc:
        raise HTTPException(400, f"Malformed CSV near row {reader.line_num}: {exc}; check the quoting.") from exc
    if not texts and not errors:
        raise HTTPException(422, "The CSV has a header but no rows: add labelled error texts.")
    return texts, labels, meta, errors


def folds(labels: list[str], options: TrainOptions) -> int:
    """Cross-validation folds the data allows (at most five); 422 when a label has too few examples."""
    counts = Counter(labels)
    if options.include_corpus:
        counts.update({label: options.n_per_class for label in KNOWN})
    if len(counts) < 2:
        raise HTTPException(422, "Only one label in the data: a classifier needs at least two (or include the "
                                 "generated corpus).")
    few = sorted(label for label, n in counts.items() if n < 2)
    if few:
        raise HTTPException(422, f"Too few examples of {', '.join(few)}: give each label at least two (or include "
                                 "the generated corpus).")
    return min(5, min(counts.values()))


def _run(job: TrainingJob, store: Any, train: Callable[..., Any], texts: list[str], labels: list[str],
         meta: list[dict[str, Any]], options: TrainOptions, cv: int) -> None:
    from airflow_healer.core.classify import save_model

    try:
        if options.include_corpus:
            job.step("generating the corpus", 0.05)
            from airflow_healer.core.classify.corpus import generate

            rows = generate(n_per_class=options.n_per_class, seed=0)
            texts = [r["text"] for r in rows] + texts
            labels = [r["label"] for r in rows] + labels
            meta = [{k: r.get(k) for k in ("exception_type", "operator", "system")} for r in rows] + meta
        job.n_examples = len(texts)
        job.step(f"cross-validating RandomForest and a linear model ({cv} folds, {len(texts)} examples), "
                 "then fitting the better one", 0.1)
        model = train(texts, labels, meta, cv=cv, n_jobs=1)
        job.step("evaluating on held-out messages", 0.85)
        report = evaluate_model(model)
        job.step("storing the version", 0.95)
        version = save_model(store, model, activate=False)
        store.put_blob(EVAL_PREFIX + version, json.dumps(report).encode(),
                       {"version": version, "trained_by": job.by, "job_id": job.id, "source": job.source,
                        "macro_f1": report["macro_f1"]})
        if options.activate:
            activate(store, version, job.by)
        job.end("done", f"stored {version}" + (", now active" if options.activate else ""), version=version,
                macro_f1=report["macro_f1"])
    except Exception as exc:  # noqa: BLE001 - the job says what went wrong; the server carries on
        log.exception("Training job %s failed", job.id)
        job.end("failed", "failed", error=f"{type(exc).__name__}: {exc}"[:1000])


def training_jobs() -> list[dict[str, Any]]:
    with _jobs_lock:
        return [j.as_dict() for j in reversed(_jobs.values())]


# -- A/B comparison and drift ----------------------------------------------------------------------------


def _answers(model: Any, incidents: list[Any], min_confidence: float) -> list[tuple[str, float]]:
    """The model's label for each incident (``unknown`` below ``min_confidence``, as the healer answers)."""
    proba = model.predict_proba([i.message for i in incidents],
                                [{"exception_type": i.exception_type, "operator": i.operator} for i in incidents])
    out = []
    for row in proba:
        k = int(row.argmax())
        confident = float(row[k]) >= min_confidence
        out.append((str(model.classes_[k]) if confident else ErrorType.UNKNOWN.value, round(float(row[k]), 4)))
    return out


def compare(store: Any, cfg: HealerConfig, a: str, b: str, n: int, offset: int = 0,
            limit: int = DISAGREEMENTS_PAGE) -> dict[str, Any]:
    """How two versions label the last ``n`` classified incidents: agreement, label counts, disagreements."""
    if a == b:
        raise HTTPException(422, "Choose two different versions to compare.")
    model_a, model_b = model_for(store, a), model_for(store, b)
    incidents = [i for i in store.list_incidents(limit=min(4 * n, 2000)) if i.error_type and i.message][:n]
    out: dict[str, Any] = {"a": a, "b": b, "n": len(incidents), "offset": offset, "limit": limit}
    if not incidents:
        return {**out, "agreement": None, "distribution": [], "matches_recorded": None, "disagreements": [],
                "n_disagreements": 0, "next_offset": None,
                "message": "No classified incidents in the store yet: nothing to compare on."}
    answers_a = _answers(model_a, incidents, cfg.min_confidence)
    answers_b = _answers(model_b, incidents, cfg.min_confidence)
    recorded = [i.error_type.value for i in incidents]
    differ = [{"incident_id": i.id, "dag_id": i.dag_id, "task_id": i.task_id, "created_at": i.created_at,
               "message": i.message[:300], "recorded": recorded[k], "a": answers_a[k][0],
               "a_confidence": answers_a[k][1], "b": answers_b[k][0], "b_confidence": answers_b[k][1]}
              for k, i in enumerate(incidents) if answers_a[k][0] != answers_b[k][0]]
    count_a, count_b, count_r = (Counter(x) for x in ([x for x, _ in answers_a], [x for x, _ in answers_b], recorded))
    labels = sorted(set(count_a) | set(count_b) | set(count_r))
    end = offset + limit
    return {**out, "agreement": 1 - len(differ) / len(incidents),
            "distribution": [{"label": lb, "a": count_a[lb], "b": count_b[lb], "recorded": count_r[lb]} for lb in labels],
            "matches_recorded": {"a": sum(x == r for (x, _), r in zip(answers_a, recorded, strict=True)) / len(incidents),
                                 "b": sum(x == r for (x, _), r in zip(answers_b, recorded, strict=True)) / len(incidents)},
            "disagreements": differ[offset:end], "n_disagreements": len(differ),
            "next_offset": end if end < len(differ) else None,
            "message": f"{len(incidents) - len(differ)} of {len(incidents)} recent incidents labelled alike."}


def drift(store: Any, cfg: HealerConfig, limit: int = 500, baseline: int = 1200) -> dict[str, Any]:
    """What ``airflow-healer drift`` reports for the model healers load, reused for a few minutes."""
    from airflow_healer.core.classify import load_model
    from airflow_healer.core.classify.corpus import generate
    from airflow_healer.core.classify.drift import drift_report

    key = (repr(store), active_version(store), cfg.model_path, cfg.min_confidence, limit, baseline)
    with _cache_lock:
        hit = _drift.get(key)
    if hit and time.monotonic() - hit[0] < DRIFT_TTL:
        return hit[1]
    try:
        model = load_model(cfg, store)
    except ClassifierError as exc:
        raise HTTPException(409, str(exc)) from exc
    recent = [i.message for i in store.list_incidents(limit=limit) if i.message]
    sample = [r["text"] for r in generate(n_per_class=max(1, baseline // 12), seed=HELD_OUT_SEED)]
    report = {**drift_report(model, recent, sample, min_confidence=cfg.min_confidence), "computed_at": utcnow()}
    with _cache_lock:
        _drift[key] = (time.monotonic(), report)
    return report


# -- the JSON API ----------------------------------------------------------------------------------------


def _active_info(store: Any, listing: list[dict[str, Any]]) -> dict[str, Any]:
    active = active_version(store)
    return next((v for v in listing if v["version"] == active), None) or shipped_info()


@api.get("")
def model_json(user: Reader, store: StoreDep, cfg: ConfigDep) -> dict[str, Any]:
    """The active model, its evaluation (per class and the confusion matrix), and whether a file overrides it."""
    info = _active_info(store, versions(store))
    return {"active": info, "model_path": cfg.model_path or None, "evaluation": evaluation_of(store, info["version"])}


@api.get("/versions")
def versions_json(user: Reader, store: StoreDep, offset: int = Query(0, ge=0),
                  limit: int = Query(VERSIONS_PAGE, ge=1, le=MAX_PAGE)) -> dict[str, Any]:
    listing = versions(store)
    end = offset + limit
    return {"versions": listing[offset:end], "total": len(listing), "active": active_version(store),
            "rollback_to": previous_version(store, listing), "offset": offset,
            "next_offset": end if end < len(listing) else None}


@api.post("/versions/{version}/activate")
def activate_json(version: Version, user: Writer, store: StoreDep) -> dict[str, Any]:
    """Make a stored version the model every healer loads (edit rights on every DAG)."""
    editor(user, None)
    previous = activate(store, version, user_name(user))
    return {"active": version, "previous": previous,
            "message": f"Model {version} is now active (was {previous}); healers load it on their next start."}


@api.post("/rollback")
def rollback_json(user: Writer, store: StoreDep) -> dict[str, Any]:
    """Go back to the version that was active before the active one."""
    editor(user, None)
    target = previous_version(store, versions(store))
    if target is None:
        raise HTTPException(409, "No earlier stored version to roll back to (the shipped model cannot be "
                                 "re-activated from the store): activate a version by its id.")
    previous = activate(store, target, user_name(user), action="rollback")
    return {"active": target, "previous": previous, "message": f"Rolled back from {previous} to {target}."}


async def _training_set(request: Request, user: Writer) -> Upload:
    editor(user, None)  # before a byte of the body is read
    return await read_upload(request, {".csv": CSV_TYPES})


@api.post("/train", status_code=202, openapi_extra=UPLOAD_SCHEMA,
          responses={409: {"description": "a training runs already"}, 422: {"description": "the rows at fault"}})
def train_json(request: Request, user: Writer, store: StoreDep, train: Trainer,
               upload: Annotated[Upload, Depends(_training_set)]) -> Any:
    """Train a version on an uploaded ``text,label`` CSV (optionally with the generated corpus) in the
    background; poll ``status_url`` for its stage and progress. One training at a time."""
    try:
        options = TrainOptions.model_validate(upload.fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise HTTPException(422, f"Invalid training options: {problems}") from exc
    texts, labels, meta, errors = training_rows(upload.data)
    if errors:
        return rejected(f"Nothing was trained: {len(errors)} problem(s) in {upload.name}", errors)
    cv = folds(labels, options)
    with _jobs_lock:
        running = next((j for j in _jobs.values() if j.state == "running"), None)
        if running is not None:
            raise HTTPException(409, f"A training runs already (job {running.id}, started by {running.by} at "
                                     f"{running.started_at[:19]}): wait for it to finish.")
        job = TrainingJob(id=uuid.uuid4().hex[:12], by=user_name(user), source=upload.name, n_uploaded=len(texts),
                          activate=options.activate)
        _jobs[job.id] = job
        while len(_jobs) > 20:
            _jobs.popitem(last=False)
    threading.Thread(target=_run, args=(job, store, train, texts, labels, meta, options, cv),
                     name=f"healer-train-{job.id}", daemon=True).start()
    base = str(request.scope.get("root_path", "")).rstrip("/")
    return {"job_id": job.id, "status_url": f"{base}/api/model/train/{job.id}",
            "message": f"Training on {len(texts)} uploaded row(s) started (job {job.id})."}


@api.get("/train")
def jobs_json(user: Reader) -> dict[str, Any]:
    """The training jobs this API server process ran lately, newest first."""
    return {"jobs": training_jobs()}


@api.get("/train/{job_id}")
def job_json(job_id: Annotated[str, PathParam(max_length=64)], user: Reader) -> dict[str, Any]:
    with _jobs_lock:
        job = _jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"No training job {job_id!r} in this API server process (jobs are kept in its "
                                 "memory: it may have restarted); its version, if any, is in the versions list.")
    return job.as_dict()


VersionQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@api.get("/compare")
def compare_json(a: VersionQuery, b: VersionQuery, user: Reader, store: StoreDep, cfg: ConfigDep,
                 n: int = Query(200, ge=1, le=500), offset: int = Query(0, ge=0),
                 limit: int = Query(DISAGREEMENTS_PAGE, ge=1, le=MAX_PAGE)) -> dict[str, Any]:
    """Two versions (``shipped`` for the package's model) on the last ``n`` classified incidents."""
    return compare(store, cfg, a, b, n, offset, limit)


@api.get("/drift")
def drift_json(user: Reader, store: StoreDep, cfg: ConfigDep, limit: int = Query(500, ge=1, le=5000),
               baseline: int = Query(1200, ge=12, le=12_000)) -> dict[str, Any]:
    """Have recent incidents drifted from what the model was trained on (``airflow-healer drift``)?"""
    return drift(store, cfg, limit, baseline)


# -- the pages -------------------------------------------------------------------------------------------


@router.get("/model", response_class=HTMLResponse)
def model_page(request: Request, user: Reader, store: StoreDep, cfg: ConfigDep,
               page_number: int = Query(1, ge=1, le=10_000, alias="page"), a: str = Query("", max_length=64),
               b: str = Query("", max_length=64), n: int = Query(200, ge=1, le=500),
               offset: int = Query(0, ge=0)) -> HTMLResponse:
    listing = versions(store)
    info = _active_info(store, listing)
    start = (page_number - 1) * VERSIONS_PAGE
    comparison = compare(store, cfg, a, b, n, offset) if a and b else None
    return page(request, "model.html", user, title="Model", info=info, model_path=cfg.model_path,
                evaluation=evaluation_of(store, info["version"]), versions=listing[start:start + VERSIONS_PAGE],
                n_versions=len(listing), page_number=page_number, pages=max(1, -(-len(listing) // VERSIONS_PAGE)),
                choices=[v["version"] for v in listing] + [SHIPPED], rollback_to=previous_version(store, listing),
                history=_history(store)[-10:][::-1], jobs=training_jobs()[:5], comparison=comparison,
                compare_args={"a": a, "b": b, "n": n}, can_edit=can(user, "PUT"), known=KNOWN)


@router.get("/model/fragment/drift", response_class=HTMLResponse, include_in_schema=False)
def drift_fragment(request: Request, user: Reader, store: StoreDep, cfg: ConfigDep) -> HTMLResponse:
    try:
        report, problem = drift(store, cfg), ""
    except HTTPException as exc:
        report, problem = None, str(exc.detail)
    return HTMLResponse(templates().get_template("model_drift.html").render(report=report, problem=problem))
