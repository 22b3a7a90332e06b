"""The knowledge base: past incidents, runbooks and team know-how that retrieval draws on.

Entries are plain dataclasses kept in memory by :class:`KnowledgeBase`; the store persists them
through :meth:`KnowledgeBase.to_records` / :meth:`KnowledgeBase.from_records`.

Operators maintain the knowledge base in a spreadsheet made from :func:`template_csv`, then import it
with :meth:`KnowledgeBase.import_file` (CSV or .xlsx). Imports are all-or-nothing: the whole file is
validated first and a single bad row rejects the file with every problem listed by its spreadsheet
row number, so a half-imported file never leaves the knowledge base in a state nobody asked for.

Spreadsheet cells are untrusted both ways: a cell that a spreadsheet would run as a formula is
neutralised on export (prefixed with ``'``) and imported cells are only ever read as text.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_healer.core.types import ErrorType
from airflow_healer.exceptions import KnowledgeImportError

log = logging.getLogger(__name__)

#: The kinds of knowledge the healer keeps, in the order the template lists them.
KINDS: tuple[str, ...] = (
    "historical_error",
    "runbook",
    "best_practice",
    "infrastructure_doc",
    "team_expertise",
    "config_template",
    "escalation_procedure",
)

#: Spreadsheet columns, in template order.
COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "title",
    "message",
    "error_type",
    "solution",
    "context",
    "strategy",
    "source",
    "confidence",
    "success_count",
    "failure_count",
    "tags",
    "created_at",
)
#: Columns an imported file must have; the others fall back to defaults when absent.
REQUIRED_COLUMNS: tuple[str, ...] = ("kind", "title", "message", "error_type", "solution")

#: Per-kind fields that must not be blank (``kind`` and ``title`` are always required).
REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    "historical_error": ("message", "error_type", "solution"),
    "runbook": ("solution",),
    "best_practice": ("solution",),
    "infrastructure_doc": ("context",),
    "team_expertise": ("context",),
    "config_template": ("solution",),
    "escalation_procedure": ("solution",),
}

#: Longest accepted value per text field, in characters. Error messages are capped by the capture
#: layer already; these caps keep one pasted log from bloating the index and the UI.
MAX_LENGTHS: dict[str, int] = {
    "id": 128,
    "kind": 64,
    "title": 300,
    "message": 8_000,
    "error_type": 64,
    "solution": 10_000,
    "context": 10_000,
    "strategy": 64,
    "source": 1_000,
    "tags": 1_000,
    "created_at": 64,
}

#: Largest file :meth:`KnowledgeBase.import_file` accepts, in bytes.
MAX_IMPORT_BYTES = 10 * 1024 * 1024
#: Largest total uncompressed size of an .xlsx archive (a zip bomb is small on disk).
MAX_XLSX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
#: Most data rows one import accepts.
MAX_IMPORT_ROWS = 50_000

# OWASP's list of characters that make a spreadsheet treat a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_STRATEGY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TAG_SPLIT = re.compile(r"[;,]")
# Characters openpyxl refuses to write (XML 1.0 forbids them).
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_VALID_ERROR_TYPES = frozenset(t.value for t in ErrorType.known())
_SEED_PATH = Path(__file__).with_name("data") / "knowledge_seed.jsonl"


def _now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class RowError:
    """One problem in an imported file.

    :param row: the row number as a spreadsheet shows it (the header is row 1).
    :param column: the column at fault, or ``""`` when the whole row is.
    :param reason: what is wrong and what would fix it.
    """

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column '{self.column}'" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did.

    :param fmt: ``"csv"`` or ``"xlsx"``.
    :param rows: data rows read (blank rows are not counted).
    :param added: ids of entries that were new.
    :param updated: ids of entries that replaced an existing entry with the same id.
    """

    fmt: str
    rows: int
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


@dataclass
class KnowledgeEntry:
    """One piece of knowledge.

    :param id: stable identifier; generated from kind, title and message when left blank.
    :param kind: one of :data:`KINDS`.
    :param title: short human title.
    :param message: the error text the entry applies to (what retrieval matches a failure against).
    :param error_type: one of the twelve :class:`ErrorType` values, or ``""`` for general knowledge.
    :param solution: what to do about it.
    :param context: where it happens, why, who knows more.
    :param strategy: the remediation strategy name it suggests (``retry``, ``rescale``, ``escalate``...).
    :param source: where the knowledge came from (a url, a ticket, a person, ``seed``).
    :param confidence: how much the author trusts the entry, 0..1.
    :param success_count: times the suggested remediation worked.
    :param failure_count: times it did not.
    :param tags: free labels (systems, teams).
    :param created_at: ISO-8601 timestamp.
    """

    id: str
    kind: str
    title: str
    message: str = ""
    error_type: str = ""
    solution: str = ""
    context: str = ""
    strategy: str = ""
    source: str = ""
    confidence: float = 0.5
    success_count: int = 0
    failure_count: int = 0
    tags: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=_now_iso)

    @property
    def success_rate(self) -> float:
        """Share of successful outcomes under a uniform Beta(1, 1) prior.

        An entry nobody has used yet scores 0.5, and one success out of one is 2/3 rather than a
        certainty, so a fresh entry can neither dominate nor be written off by a single outcome.
        """
        return (self.success_count + 1) / (self.success_count + self.failure_count + 2)

    def to_record(self) -> dict[str, Any]:
        """Plain dict (JSON-ready) of the entry."""
        record = dataclasses.asdict(self)
        record["tags"] = list(self.tags)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> KnowledgeEntry:
        """Build and validate an entry from a plain dict (as :meth:`to_record` makes).

        :raises KnowledgeImportError: when the record is not a valid entry.
        """
        entry, problems = _entry_from_cells(dict(record), row=0, strict_columns=False)
        if entry is None:
            raise KnowledgeImportError(f"invalid knowledge record {record.get('id', '')!r}", problems)
        return entry


def make_id(kind: str, title: str, message: str) -> str:
    """A deterministic id for an entry imported without one: re-importing the same row updates it."""
    digest = hashlib.sha1(f"{kind}\x1f{title}\x1f{message}".encode()).hexdigest()[:12]
    return f"{kind[:4]}-{digest}"


# --------------------------------------------------------------------------- validation


def _cell_text(value: Any) -> str:
    """Text of a cell; import never evaluates anything, so a formula is just its source text."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    # Only spaces are trimmed: a leading tab or CR is content that export neutralises, and
    # trimming it would make export -> import lossy.
    text = str(value).strip(" ")
    # Undo our own export neutralisation so export -> import round-trips exactly.
    if len(text) > 1 and text[0] == "'" and text[1] in _FORMULA_START:
        text = text[1:]
    return text


def _parse_count(raw: str) -> int | None:
    try:
        number = float(raw)
    except ValueError:
        return None
    if not math.isfinite(number) or not number.is_integer() or number < 0:
        return None
    return int(number)


def _entry_from_cells(
    cells: dict[str, Any], row: int, strict_columns: bool = True
) -> tuple[KnowledgeEntry | None, list[RowError]]:
    """Validate one row of cells; return the entry or the list of its problems."""
    problems: list[RowError] = []

    def bad(column: str, reason: str) -> None:
        problems.append(RowError(row, column, reason))

    tags_value = cells.get("tags")
    text: dict[str, str] = {}
    for name in COLUMNS:
        if name == "tags" and isinstance(tags_value, (list, tuple)):
            text[name] = ";".join(str(t) for t in tags_value)
        else:
            text[name] = _cell_text(cells.get(name))
    if not strict_columns:
        unknown = sorted(set(cells) - set(COLUMNS))
        if unknown:
            bad("", f"unknown fields {unknown}; allowed fields are {list(COLUMNS)}")

    for name, limit in MAX_LENGTHS.items():
        if len(text[name]) > limit:
            bad(name, f"too long ({len(text[name])} characters, at most {limit}); shorten it")

    kind = text["kind"].lower()
    if not kind:
        bad("kind", f"missing; use one of {', '.join(KINDS)}")
    elif kind not in KINDS:
        bad("kind", f"unknown kind {text['kind']!r}; use one of {', '.join(KINDS)}")
    if not text["title"]:
        bad("title", "missing; give the entry a short title")

    error_type = re.sub(r"[\s-]+", "_", text["error_type"].lower())
    if error_type and error_type not in _VALID_ERROR_TYPES:
        bad(
            "error_type",
            f"unknown error_type {text['error_type']!r}; use one of {', '.join(sorted(_VALID_ERROR_TYPES))} or leave it blank",
        )
    for name in REQUIRED_BY_KIND.get(kind, ()):
        if not text[name]:
            bad(name, f"missing; a {kind} entry needs a {name}")

    entry_id = text["id"]
    if entry_id and not _ID_RE.match(entry_id):
        bad(
            "id",
            f"invalid id {entry_id!r}; use letters, digits and . _ : - (starting with a letter or digit)",
        )

    strategy = text["strategy"].lower()
    if strategy and not _STRATEGY_RE.match(strategy):
        bad(
            "strategy",
            f"invalid strategy {text['strategy']!r}; use a strategy name like retry, rescale or escalate",
        )

    confidence = 0.5
    raw_conf = cells.get("confidence")
    if isinstance(raw_conf, (int, float)) and not isinstance(raw_conf, bool):
        conf_value: float | None = float(raw_conf)
    elif text["confidence"]:
        try:
            conf_value = float(text["confidence"])
        except ValueError:
            conf_value = None
    else:
        conf_value = 0.5
    if conf_value is None or not math.isfinite(conf_value) or not 0.0 <= conf_value <= 1.0:
        bad("confidence", f"{text['confidence']!r} is not a number between 0 and 1")
    else:
        confidence = conf_value

    counts: dict[str, int] = {}
    for name in ("success_count", "failure_count"):
        raw = text[name]
        value = _parse_count(raw) if raw else 0
        if value is None:
            bad(name, f"{raw!r} is not a whole number >= 0")
        else:
            counts[name] = value

    created_at = text["created_at"]
    if created_at:
        try:
            parsed = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        except ValueError:
            bad("created_at", f"{created_at!r} is not an ISO-8601 date (e.g. 2025-01-31T12:00:00+00:00)")
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            created_at = parsed.isoformat()
    else:
        created_at = _now_iso()

    if problems:
        return None, problems
    tags = [t.strip() for t in _TAG_SPLIT.split(text["tags"]) if t.strip()]
    entry = KnowledgeEntry(
        id=entry_id or make_id(kind, text["title"], text["message"]),
        kind=kind,
        title=text["title"],
        message=text["message"],
        error_type=error_type,
        solution=text["solution"],
        context=text["context"],
        strategy=strategy,
        source=text["source"],
        confidence=confidence,
        success_count=counts["success_count"],
        failure_count=counts["failure_count"],
        tags=tags,
        created_at=created_at,
    )
    return entry, []


# --------------------------------------------------------------------------- file reading


def _detect_format(data: bytes, fmt: str | None, name: str | None) -> str:
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt not in ("csv", "xlsx"):
            raise KnowledgeImportError(f"unsupported format {fmt!r}; use 'csv' or 'xlsx'")
        return fmt
    if name:
        suffix = Path(name).suffix.lower()
        if suffix == ".xlsx":
            return "xlsx"
        if suffix == ".csv":
            return "csv"
        if suffix in (".xls", ".ods", ".numbers"):
            raise KnowledgeImportError(
                f"{suffix} files are not supported; save the sheet as .xlsx or CSV UTF-8"
            )
    return "xlsx" if data[:4] == b"PK\x03\x04" else "csv"


def _read_csv_rows(data: bytes) -> list[tuple[int, list[str]]]:
    if b"\x00" in data:
        raise KnowledgeImportError(
            "the file looks binary (it contains NUL bytes), not CSV; export the sheet as CSV UTF-8"
        )
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeImportError(
            f"the file is not valid UTF-8 (bad byte at offset {exc.start}); save it as 'CSV UTF-8'"
        ) from exc
    # Spreadsheets in locales with a decimal comma save CSV with ';' (or tabs): follow the header.
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        # A spreadsheet shows one row per record even when a quoted cell spans lines.
        for number, record in enumerate(reader, start=1):
            rows.append((number, record))
            if number > MAX_IMPORT_ROWS + 1:
                raise KnowledgeImportError(f"too many rows (more than {MAX_IMPORT_ROWS}); split the file")
    except csv.Error as exc:
        raise KnowledgeImportError(
            f"malformed CSV near row {reader.line_num}: {exc}; check the quoting"
        ) from exc
    return rows


def _read_xlsx_rows(data: bytes) -> list[tuple[int, list[Any]]]:
    import openpyxl  # only the xlsx path needs it

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise KnowledgeImportError(
            "the file is not a valid .xlsx (it is not a zip archive); save the sheet as .xlsx or CSV UTF-8"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise KnowledgeImportError(f"the .xlsx archive is damaged ({exc}); save the sheet again") from exc
    if total > MAX_XLSX_UNCOMPRESSED_BYTES:
        raise KnowledgeImportError(
            f"the .xlsx expands to {total} bytes (limit {MAX_XLSX_UNCOMPRESSED_BYTES}); split the file"
        )
    try:
        # data_only=False: a formula cell yields its source text, which we keep as plain data.
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise KnowledgeImportError(
            f"cannot read the .xlsx ({type(exc).__name__}: {exc}); save the sheet again as .xlsx"
        ) from exc
    try:
        sheet = workbook["knowledge"] if "knowledge" in workbook.sheetnames else workbook.worksheets[0]
        rows: list[tuple[int, list[Any]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            rows.append((number, list(values)))
            if number > MAX_IMPORT_ROWS + 1:
                raise KnowledgeImportError(f"too many rows (more than {MAX_IMPORT_ROWS}); split the file")
    finally:
        workbook.close()
    return rows


def _blank(values: Iterable[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def parse_file(
    source: str | os.PathLike[str] | bytes, fmt: str | None = None
) -> tuple[str, int, list[KnowledgeEntry]]:
    """Read and validate a knowledge file without touching any knowledge base.

    :param source: a path, or the file's bytes (as an upload gives them).
    :param fmt: ``"csv"`` or ``"xlsx"``; guessed from the suffix or the content when ``None``.
    :return: the format, the number of data rows and the validated entries.
    :raises KnowledgeImportError: on any problem; ``errors`` lists every bad row.
    """
    name: str | None = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > MAX_IMPORT_BYTES:
            raise KnowledgeImportError(
                f"the file is {len(data)} bytes, over the {MAX_IMPORT_BYTES}-byte limit; split it"
            )
    else:
        path = Path(source)
        name = path.name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise KnowledgeImportError(f"cannot read {name!r}: {exc.strerror}; check the path") from exc
        if size > MAX_IMPORT_BYTES:
            raise KnowledgeImportError(
                f"the file is {size} bytes, over the {MAX_IMPORT_BYTES}-byte limit; split it"
            )
        data = path.read_bytes()
    if not data.strip():
        raise KnowledgeImportError("the file is empty; start from the template (airflow-healer kb template)")
    kind = _detect_format(data, fmt, name)
    raw_rows: list[tuple[int, list[Any]]] = _read_xlsx_rows(data) if kind == "xlsx" else _read_csv_rows(data)  # type: ignore[assignment]

    # The header is the first non-blank row; blank rows around data are common in sheets.
    while raw_rows and _blank(raw_rows[0][1]):
        raw_rows.pop(0)
    if not raw_rows:
        raise KnowledgeImportError(
            "the file has no header row; start from the template (airflow-healer kb template)"
        )
    header_row, header_cells = raw_rows[0]
    header = [_cell_text(h).lower() for h in header_cells]
    while header and not header[-1]:
        header.pop()  # trailing empty header cells from sheets with formatted empty columns
    unknown = [h for h in header if h not in COLUMNS]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    problems = []
    if unknown:
        problems.append(f"unknown columns {unknown}")
    if "" in header:
        problems.append("a column has no name")
    if duplicates:
        problems.append(f"duplicate columns {duplicates}")
    if missing:
        problems.append(f"missing columns {missing}")
    if problems:
        raise KnowledgeImportError(
            f"bad header in row {header_row}: {'; '.join(problems)}; the header must use the template's columns {list(COLUMNS)}"
        )

    errors: list[RowError] = []
    entries: list[KnowledgeEntry] = []
    seen: dict[str, int] = {}
    data_rows = 0
    for number, values in raw_rows[1:]:
        if _blank(values):
            continue
        data_rows += 1
        extra = values[len(header) :]
        if not _blank(extra):
            errors.append(
                RowError(
                    number,
                    "",
                    f"{len(values)} cells but the header has {len(header)} columns; remove the extra cells",
                )
            )
            continue
        cells = dict(zip(header, values, strict=False))  # short rows: missing cells are blank
        entry, row_problems = _entry_from_cells(cells, number)
        if entry is None:
            errors.extend(row_problems)
            continue
        if entry.id in seen:
            errors.append(
                RowError(
                    number,
                    "id",
                    f"duplicate id {entry.id!r} (first used in row {seen[entry.id]}); give each row its own id",
                )
            )
            continue
        seen[entry.id] = number
        entries.append(entry)
    if data_rows == 0:
        raise KnowledgeImportError("the file has a header but no data rows; add at least one entry")
    if errors:
        raise KnowledgeImportError(f"{len(errors)} problem(s) in the file, nothing was imported", errors)
    return kind, data_rows, entries


# --------------------------------------------------------------------------- export


def neutralise(value: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula with ``'`` so it stays text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _export_row(entry: KnowledgeEntry) -> list[Any]:
    record = entry.to_record()
    record["tags"] = ";".join(entry.tags)
    out: list[Any] = []
    for name in COLUMNS:
        value = record[name]
        if isinstance(value, str):
            value = neutralise(value)
        out.append(value)
    return out


def export_csv(entries: Iterable[KnowledgeEntry]) -> str:
    """CSV text (header + one row per entry) that :func:`parse_file` reads back unchanged."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        writer.writerow(_export_row(entry))
    return buffer.getvalue()


def export_xlsx(entries: Iterable[KnowledgeEntry]) -> bytes:
    """An .xlsx workbook (one sheet named ``knowledge``) that :func:`parse_file` reads back unchanged."""
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("knowledge")
    sheet.append(list(COLUMNS))
    for entry in entries:
        row = [(_XML_ILLEGAL.sub(" ", v) if isinstance(v, str) else v) for v in _export_row(entry)]
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


_TEMPLATE_EXAMPLES: tuple[dict[str, Any], ...] = (
    {
        "id": "example-historical",
        "kind": "historical_error",
        "title": "BigQuery load hit the per-table update rate",
        "message": "403 Exceeded rate limits: too many table update operations for this table",
        "error_type": "rate_limiting",
        "solution": "Batch the loads into one job per table per minute; retry with exponential backoff.",
        "context": "Nightly partition loads that write the same table in a loop.",
        "strategy": "retry",
        "source": "postmortem PM-123",
        "confidence": 0.9,
        "success_count": 3,
        "failure_count": 0,
        "tags": "bigquery;load",
    },
    {
        "id": "example-runbook",
        "kind": "runbook",
        "title": "Runbook: worker out of memory",
        "error_type": "memory_leak",
        "solution": "1. Check the worker's memory graph. 2. Rerun on a bigger machine type. 3. Open a ticket if it repeats.",
        "strategy": "rescale",
        "source": "wiki/runbooks/oom",
        "confidence": 0.8,
    },
    {
        "id": "example-best-practice",
        "kind": "best_practice",
        "title": "Set execution_timeout on every task",
        "solution": "A task without execution_timeout can hang a worker slot forever; set one slightly above its p99 runtime.",
        "confidence": 0.8,
        "tags": "airflow",
    },
    {
        "id": "example-infrastructure",
        "kind": "infrastructure_doc",
        "title": "Warehouse network layout",
        "context": "Workers reach the warehouse through a private endpoint; public IPs are blocked by firewall.",
        "confidence": 0.7,
    },
    {
        "id": "example-expertise",
        "kind": "team_expertise",
        "title": "Who knows the Spark cluster",
        "context": "The platform team owns cluster sizing; ask in #data-platform.",
        "strategy": "escalate",
        "confidence": 0.7,
    },
    {
        "id": "example-config",
        "kind": "config_template",
        "title": "Task retry defaults",
        "error_type": "network_timeout",
        "solution": "default_args = {'retries': 3, 'retry_delay': timedelta(minutes=2), 'retry_exponential_backoff': True}",
        "strategy": "retry",
        "confidence": 0.8,
    },
    {
        "id": "example-escalation",
        "kind": "escalation_procedure",
        "title": "Escalate permission problems",
        "error_type": "permission_denied",
        "solution": "Do not grant roles automatically. Page the data platform on-call with the principal and the resource.",
        "strategy": "escalate",
        "confidence": 0.9,
    },
)


def template_csv() -> str:
    """The import template: the header and one example row per kind (delete or edit the examples)."""
    entries = [
        KnowledgeEntry.from_record({**row, "created_at": "2025-01-01T00:00:00+00:00"})
        for row in _TEMPLATE_EXAMPLES
    ]
    return export_csv(entries)


def template_xlsx() -> bytes:
    """The import template as an .xlsx workbook (same content as :func:`template_csv`)."""
    entries = [
        KnowledgeEntry.from_record({**row, "created_at": "2025-01-01T00:00:00+00:00"})
        for row in _TEMPLATE_EXAMPLES
    ]
    return export_xlsx(entries)


# --------------------------------------------------------------------------- the knowledge base


class KnowledgeBase:
    """In-memory collection of :class:`KnowledgeEntry`, keyed by id, in insertion order.

    :param entries: initial entries; a duplicate id replaces the earlier entry.
    """

    def __init__(self, entries: Iterable[KnowledgeEntry] = ()) -> None:
        self._entries: dict[str, KnowledgeEntry] = {}
        #: Bumped on every change, so a caller (the RAG layer, the store) can tell it is stale.
        self.version = 0
        self.upsert(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[KnowledgeEntry]:
        return iter(list(self._entries.values()))

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def __getitem__(self, entry_id: str) -> KnowledgeEntry:
        return self._entries[entry_id]

    def get(self, entry_id: str) -> KnowledgeEntry | None:
        """The entry with ``entry_id``, or ``None``."""
        return self._entries.get(entry_id)

    def ids(self) -> list[str]:
        """All ids, in insertion order."""
        return list(self._entries)

    def add(self, entry: KnowledgeEntry) -> None:
        """Add a new entry.

        :raises KeyError: when the id is taken (use :meth:`upsert` or :meth:`update` to replace).
        """
        if entry.id in self._entries:
            raise KeyError(
                f"knowledge entry {entry.id!r} already exists; use upsert() or update() to change it"
            )
        self._entries[entry.id] = entry
        self.version += 1

    def upsert(self, entries: Iterable[KnowledgeEntry]) -> tuple[list[str], list[str]]:
        """Add or replace entries by id; return ``(added_ids, updated_ids)``."""
        added: list[str] = []
        updated: list[str] = []
        for entry in entries:
            (updated if entry.id in self._entries else added).append(entry.id)
            self._entries[entry.id] = entry
        if added or updated:
            self.version += 1
        return added, updated

    def update(self, entry_id: str, **changes: Any) -> KnowledgeEntry:
        """Change fields of an entry; the result is validated like an imported row.

        :raises KeyError: when there is no such entry.
        :raises KnowledgeImportError: when the changed entry is invalid (the entry is left as it was).
        """
        current = self._entries.get(entry_id)
        if current is None:
            raise KeyError(f"no knowledge entry {entry_id!r}")
        if "id" in changes and changes["id"] != entry_id:
            raise ValueError("an entry's id cannot change; remove it and add a new one")
        record = {**current.to_record(), **changes}
        entry = KnowledgeEntry.from_record(record)
        self._entries[entry_id] = entry
        self.version += 1
        return entry

    def remove(self, entry_id: str) -> KnowledgeEntry:
        """Remove and return an entry.

        :raises KeyError: when there is no such entry.
        """
        try:
            entry = self._entries.pop(entry_id)
        except KeyError:
            raise KeyError(f"no knowledge entry {entry_id!r}") from None
        self.version += 1
        return entry

    def record_outcome(self, entry_id: str, success: bool) -> KnowledgeEntry:
        """Count one outcome of the remediation an entry suggested; return the updated entry.

        :raises KeyError: when there is no such entry.
        """
        entry = self._entries.get(entry_id)
        if entry is None:
            raise KeyError(f"no knowledge entry {entry_id!r}")
        if success:
            entry.success_count += 1
        else:
            entry.failure_count += 1
        self.version += 1
        return entry

    def by_kind(self, kind: str) -> list[KnowledgeEntry]:
        """Entries of one kind."""
        return [e for e in self._entries.values() if e.kind == kind]

    def by_error_type(self, error_type: str | ErrorType) -> list[KnowledgeEntry]:
        """Entries about one error type."""
        value = str(error_type)
        return [e for e in self._entries.values() if e.error_type == value]

    # -- persistence as plain data (the store owns where it goes)

    def to_records(self) -> list[dict[str, Any]]:
        """Every entry as a plain JSON-ready dict."""
        return [e.to_record() for e in self._entries.values()]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> KnowledgeBase:
        """Rebuild a knowledge base from :meth:`to_records` output, validating every record.

        :raises KnowledgeImportError: listing every invalid record (by position, from 1).
        """
        entries: list[KnowledgeEntry] = []
        errors: list[RowError] = []
        for position, record in enumerate(records, start=1):
            entry, problems = _entry_from_cells(dict(record), row=position, strict_columns=False)
            if entry is None:
                errors.extend(problems)
            else:
                entries.append(entry)
        if errors:
            raise KnowledgeImportError(f"{len(errors)} problem(s) in the knowledge records", errors)
        return cls(entries)

    # -- spreadsheets

    def import_file(self, source: str | os.PathLike[str] | bytes, fmt: str | None = None) -> ImportReport:
        """Import a CSV or .xlsx file made from the template; all or nothing.

        Rows whose id already exists replace that entry; rows without an id get one derived from
        kind, title and message, so re-importing the same sheet updates rather than duplicates.

        :param source: a path or the file's bytes.
        :param fmt: ``"csv"`` or ``"xlsx"``; guessed when ``None``.
        :raises KnowledgeImportError: on any problem; the knowledge base is then unchanged.
        """
        kind, rows, entries = parse_file(source, fmt)
        added, updated = self.upsert(entries)
        log.info(
            "Imported %d knowledge rows from %s: %d added, %d updated", rows, kind, len(added), len(updated)
        )
        return ImportReport(fmt=kind, rows=rows, added=added, updated=updated)

    def export_csv(self) -> str:
        """All entries as CSV text (formula-like cells neutralised)."""
        return export_csv(self._entries.values())

    def export_xlsx(self) -> bytes:
        """All entries as an .xlsx workbook (formula-like cells neutralised)."""
        return export_xlsx(self._entries.values())


def load_seed() -> KnowledgeBase:
    """The knowledge base shipped with the package (runbooks, practices, common historical errors)."""
    with _SEED_PATH.open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return KnowledgeBase.from_records(records)
