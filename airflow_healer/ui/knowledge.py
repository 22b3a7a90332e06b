"""The knowledge base page and its API, under ``/healer/knowledge`` and ``/healer/api/knowledge``.

Search, one entry at a time (add, edit), spreadsheet import and the import template. The knowledge
base is shared by every DAG's healer, so changing it takes edit rights on every DAG; every change is
written with the user's name in the store's ledger (``put_knowledge``'s source). Validation is the
classifier's own (:mod:`airflow_healer.core.classify.knowledge`): an import is all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from airflow_healer.core.classify.knowledge import KINDS, MAX_LENGTHS
from airflow_healer.core.types import ErrorType
from airflow_healer.ui.common import MAX_PAGE, Reader, StoreDep, Writer, can, editor, page, user_name

router = APIRouter()
api = APIRouter(prefix="/api/knowledge", tags=["knowledge"])

#: Entries a page shows.
PAGE_SIZE = 50
#: Largest upload accepted (a knowledge sheet, a training set), in bytes.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: Fields the search looks in (a case-insensitive substring).
SEARCHED = ("title", "message", "solution", "error_type")
#: The content types a browser or a client sends for each accepted suffix ("" when it sends none).
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "text/x-csv", "application/vnd.ms-excel",
                       "application/octet-stream", ""})
XLSX_TYPES = frozenset({"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/zip",
                        "application/octet-stream", ""})
_ZIP = b"PK\x03\x04"
#: The multipart body of an upload, for the OpenAPI document (the route reads the form itself).
UPLOAD_SCHEMA = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


# -- uploads (shared with the model page) ---------------------------------------------------------------


@dataclass
class Upload:
    """One uploaded file, checked: its name, its suffix (``.csv``), its bytes and the form's other fields."""

    name: str
    suffix: str
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)


async def read_upload(request: Request, types: dict[str, frozenset[str]], limit: int = MAX_UPLOAD_BYTES) -> Upload:
    """The ``file`` field of a multipart upload, refused with a clear 400/411/413 when it cannot be what
    ``types`` (suffix -> content types) accepts. The size is checked before the body is read."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, "Send the file with a Content-Length header (a browser's upload does).")
    if int(length) > limit + 64 * 1024:  # the multipart envelope around the file is small
        raise HTTPException(413, f"The upload is {int(length) / 2**20:.1f} MB: {_too_big(limit)}")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise HTTPException(400, "Send the file as multipart/form-data, in a field named 'file'.")
    form = await request.form(max_files=1, max_fields=20)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(400, "No file in the form: send it in a field named 'file'.")
        name = PurePosixPath((upload.filename or "").replace("\\", "/")).name
        suffix = PurePosixPath(name).suffix.lower()
        accepted = " or ".join(types)
        if suffix not in types:
            hint = " (save the sheet as .xlsx or CSV UTF-8)" if suffix in (".xls", ".ods", ".numbers") else ""
            raise HTTPException(400, f"{name or 'The file'} is not a {accepted} file{hint}.")
        sent = (upload.content_type or "").split(";")[0].strip().lower()
        if sent not in types[suffix]:
            raise HTTPException(400, f"{name} was sent as {sent}, which is not a {suffix} file's type.")
        data = await upload.read(limit + 1)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()
    if len(data) > limit:
        raise HTTPException(413, f"{name} is over {limit / 2**20:.0f} MB: {_too_big(limit)}")
    _check_content(name, suffix, data)
    return Upload(name, suffix, data, fields)


def _too_big(limit: int) -> str:
    return f"files up to {limit / 2**20:.0f} MB are accepted; split the file."


def _check_content(name: str, suffix: str, data: bytes) -> None:
    """400 when the bytes are not what the name says: a workbook is a zip archive, a CSV is UTF-8 text."""
    if not data.strip():
        raise HTTPException(400, f"{name} is empty: start from the template.")
    if suffix == ".xlsx":
        if not data.startswith(_ZIP):
            raise HTTPException(400, f"{name} is not an .xlsx workbook (it is not a zip archive): save it again "
                                     "as .xlsx, or as CSV UTF-8.")
        return
    if data.startswith(_ZIP):
        raise HTTPException(400, f"{name} is a workbook or a zip archive, not CSV text: upload it with an .xlsx "
                                 "name, or save it as CSV UTF-8.")
    if b"\x00" in data:
        raise HTTPException(400, f"{name} looks binary (it contains NUL bytes), not CSV text: save it as CSV UTF-8.")
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"{name} is not UTF-8 text (bad byte at offset {exc.start}): save it as "
                                 "'CSV UTF-8'.") from exc


def rejected(message: str, errors: list[dict[str, Any]]) -> JSONResponse:
    """A 422 with the reason and every bad row (what a page shows as the validation report)."""
    return JSONResponse({"detail": message, "errors": errors[:1000], "n_errors": len(errors)}, status_code=422)


# -- the JSON API ---------------------------------------------------------------------------------------


def _knowledge(store: Any) -> Any:
    from airflow_healer.core.classify import load_knowledge

    return load_knowledge(store)


def search(knowledge: Any, q: str = "", kind: str = "", offset: int = 0, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of the entries whose title, message, solution or error type holds ``q`` (any case), newest first."""
    needle = q.strip().casefold()
    hits = [e for e in knowledge if (not kind or e.kind == kind)
            and (not needle or any(needle in str(getattr(e, name) or "").casefold() for name in SEARCHED))]
    hits.sort(key=lambda e: (e.created_at, e.id), reverse=True)
    end = offset + limit
    return {"entries": [e.to_record() for e in hits[offset:end]], "total": len(hits), "offset": offset,
            "limit": limit, "next_offset": end if end < len(hits) else None}


def _kind(kind: str) -> str:
    if kind and kind not in KINDS:
        raise HTTPException(422, f"kind must be one of {', '.join(KINDS)}")
    return kind


@api.get("")
def list_json(user: Reader, store: StoreDep, q: str = Query("", max_length=200), kind: str = Query("", max_length=64),
              offset: int = Query(0, ge=0), limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE)) -> dict[str, Any]:
    """Entries of the knowledge base (the shipped seed and the store's), searched and a page at a time."""
    return search(_knowledge(store), q, _kind(kind), offset, limit)


@api.get("/template.csv", response_class=Response)
def template_csv(user: Reader) -> Response:
    """The import template: the header and one example row per kind."""
    from airflow_healer.core.classify.knowledge import template_csv

    return Response(template_csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="knowledge_template.csv"'})


@api.get("/template.xlsx", response_class=Response)
def template_xlsx(user: Reader) -> Response:
    """The import template as an Excel workbook."""
    from airflow_healer.core.classify.knowledge import template_xlsx

    return Response(template_xlsx(), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="knowledge_template.xlsx"'})


EntryId = Annotated[str, PathParam(min_length=1, max_length=MAX_LENGTHS["id"])]


def _entry_or_404(knowledge: Any, entry_id: str) -> Any:
    entry = knowledge.get(entry_id)
    if entry is None:
        raise HTTPException(404, f"No knowledge entry {entry_id!r}: search for it on the knowledge base page.")
    return entry


@api.get("/{entry_id}")
def entry_json(entry_id: EntryId, user: Reader, store: StoreDep) -> dict[str, Any]:
    return _entry_or_404(_knowledge(store), entry_id).to_record()


def _text(name: str) -> Any:
    return Field(None, max_length=MAX_LENGTHS[name])


class EntryChanges(BaseModel):
    """Fields of an entry to change; the changed entry is validated like an imported row."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = _text("kind")
    title: str | None = _text("title")
    message: str | None = _text("message")
    error_type: str | None = _text("error_type")
    solution: str | None = _text("solution")
    context: str | None = _text("context")
    strategy: str | None = _text("strategy")
    source: str | None = _text("source")
    confidence: float | None = Field(None, ge=0, le=1)
    success_count: int | None = Field(None, ge=0)
    failure_count: int | None = Field(None, ge=0)
    tags: str | list[str] | None = None


class NewEntry(EntryChanges):
    """A new entry; without an id, one is derived from its kind, title and message."""

    id: str = Field("", max_length=MAX_LENGTHS["id"])
    kind: str = Field(..., min_length=1, max_length=MAX_LENGTHS["kind"])
    title: str = Field(..., min_length=1, max_length=MAX_LENGTHS["title"])


def _invalid(exc: Any) -> HTTPException:
    problems = "; ".join(f"{e.column or 'entry'}: {e.reason}" for e in exc.errors) or str(exc)
    return HTTPException(422, f"The entry is not valid: {problems}")


def save_entries(store: Any, entries: list[Any], user: Any, how: str) -> None:
    """Write entries to the store (the ledger records who and how) and into a persisted retrieval index."""
    from airflow_healer.core.classify import INDEX_BLOB, save_index
    from airflow_healer.core.classify.retrieval import VectorIndex

    store.put_knowledge([e.to_record() for e in entries], source=f"{how} on the Healer page by {user_name(user)}")
    blob = store.get_blob(INDEX_BLOB)
    if blob:  # healers load it and add what it lacks; an edited entry must replace its old vector
        index = VectorIndex.from_bytes(blob)
        index.add(entries)
        save_index(store, index)


@api.post("", status_code=201)
def add_json(body: NewEntry, user: Writer, store: StoreDep) -> dict[str, Any]:
    """Add one entry (edit rights on every DAG: every healer reads the knowledge base)."""
    from airflow_healer.core.classify.knowledge import KnowledgeEntry, KnowledgeImportError

    editor(user, None)
    record = body.model_dump(exclude_none=True)
    record["source"] = record.get("source") or f"Healer page ({user_name(user)})"
    try:
        entry = KnowledgeEntry.from_record(record)
    except KnowledgeImportError as exc:
        raise _invalid(exc) from exc
    if entry.id in _knowledge(store):
        raise HTTPException(409, f"An entry {entry.id!r} exists already: edit it, or give the new one its own id.")
    save_entries(store, [entry], user, "added")
    return {"entry": entry.to_record(), "message": f"Added {entry.id}."}


@api.put("/{entry_id}")
def edit_json(entry_id: EntryId, body: EntryChanges, user: Writer, store: StoreDep) -> dict[str, Any]:
    """Change fields of one entry (a shipped one too: the store's version then wins)."""
    from airflow_healer.core.classify.knowledge import KnowledgeImportError

    editor(user, None)
    knowledge = _knowledge(store)
    _entry_or_404(knowledge, entry_id)
    try:
        entry = knowledge.update(entry_id, **body.model_dump(exclude_none=True))
    except KnowledgeImportError as exc:
        raise _invalid(exc) from exc
    save_entries(store, [entry], user, "edited")
    return {"entry": entry.to_record(), "message": f"Saved {entry_id}."}


async def _sheet(request: Request, user: Writer) -> Upload:
    editor(user, None)  # before a byte of the body is read
    return await read_upload(request, {".csv": CSV_TYPES, ".xlsx": XLSX_TYPES})


@api.post("/import", openapi_extra=UPLOAD_SCHEMA, responses={422: {"description": "the rows at fault"}})
def import_json(user: Writer, store: StoreDep, upload: Annotated[Upload, Depends(_sheet)]) -> Any:
    """Import a CSV or .xlsx sheet made from the template: every row, or none when any row is bad."""
    from airflow_healer.core.classify.knowledge import KnowledgeImportError, parse_file

    try:
        fmt, rows, entries = parse_file(upload.data, upload.suffix.lstrip("."))
    except KnowledgeImportError as exc:
        return rejected(f"Nothing was imported from {upload.name}: {exc}",
                        [{"row": e.row, "column": e.column, "reason": e.reason} for e in exc.errors])
    known = set(_knowledge(store).ids())
    save_entries(store, entries, user, f"imported from {upload.name}")
    added = [e.id for e in entries if e.id not in known]
    updated = [e.id for e in entries if e.id in known]
    return {"fmt": fmt, "rows": rows, "added": added, "updated": updated,
            "message": f"Imported {rows} row(s) from {upload.name}: {len(added)} added, {len(updated)} updated."}


# -- the pages ------------------------------------------------------------------------------------------


def _form_context(user: Any) -> dict[str, Any]:
    return {"kinds": KINDS, "error_types": [t.value for t in ErrorType.known()], "can_edit": can(user, "PUT"),
            "lengths": MAX_LENGTHS}


@router.get("/knowledge", response_class=HTMLResponse)
def knowledge_page(request: Request, user: Reader, store: StoreDep, q: str = Query("", max_length=200),
                   kind: str = Query("", max_length=64), page_number: int = Query(1, ge=1, le=100_000, alias="page"),
                   ) -> HTMLResponse:
    result = search(_knowledge(store), q, _kind(kind), (page_number - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, -(-result["total"] // PAGE_SIZE))
    return page(request, "knowledge.html", user, title="Knowledge base", result=result, q=q, kind=kind,
                page_number=page_number, pages=pages, max_upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
                **_form_context(user))


@router.get("/knowledge/{entry_id}", response_class=HTMLResponse)
def entry_page(entry_id: EntryId, request: Request, user: Reader, store: StoreDep) -> HTMLResponse:
    entry = _entry_or_404(_knowledge(store), entry_id)
    return page(request, "knowledge_entry.html", user, title=f"Knowledge: {entry.title}", entry=entry,
                tags=";".join(entry.tags), **_form_context(user))
