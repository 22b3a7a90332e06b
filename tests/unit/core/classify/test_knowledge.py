"""Knowledge base: entries, spreadsheet import/export, validation, the shipped seed."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from airflow_healer.core.classify import knowledge as kn
from airflow_healer.core.classify.knowledge import (
    COLUMNS,
    KINDS,
    KnowledgeBase,
    KnowledgeEntry,
    KnowledgeImportError,
    load_seed,
    template_csv,
    template_xlsx,
)
from airflow_healer.core.types import ErrorType

HEADER = ",".join(COLUMNS)


def _row(**values: object) -> str:
    base = {
        "id": "e1",
        "kind": "historical_error",
        "title": "A title",
        "message": "boom",
        "error_type": "network_timeout",
        "solution": "retry",
        "confidence": "0.7",
    }
    base.update({k: str(v) for k, v in values.items()})
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([base.get(c, "") for c in COLUMNS])
    return buffer.getvalue()


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return (header + "\n" + "".join(rows)).encode()


@pytest.fixture
def kb() -> KnowledgeBase:
    base = KnowledgeBase()
    base.add(KnowledgeEntry(id="existing", kind="runbook", title="Old", solution="do things"))
    return base


@pytest.fixture
def tricky_entries() -> list[KnowledgeEntry]:
    return [
        KnowledgeEntry(
            id="f1",
            kind="historical_error",
            title='=HYPERLINK("http://evil","click")',
            message="-bash: gsutil: command not found",
            error_type="missing_dependency",
            solution='+1 install it\nsecond line, with "quotes"',
            context="@SUM(A1:A2)",
            strategy="escalate",
            source="\tcmd",
            confidence=0.25,
            success_count=2,
            failure_count=1,
            tags=["gcs", "cli"],
            created_at="2025-02-03T04:05:06+00:00",
        ),
        KnowledgeEntry(
            id="f2",
            kind="best_practice",
            title="Ünïcødé title ✓",
            solution="use timeouts",
            created_at="2025-02-03T04:05:06+00:00",
        ),
    ]


class TestEntry:
    def test_success_rate_has_a_prior(self) -> None:
        entry = KnowledgeEntry(id="a", kind="runbook", title="t")
        assert entry.success_rate == pytest.approx(0.5)
        entry.success_count = 1
        assert 0.5 < entry.success_rate < 1.0

    def test_record_outcome_counts(self, kb: KnowledgeBase) -> None:
        kb.record_outcome("existing", True)
        kb.record_outcome("existing", False)
        kb.record_outcome("existing", True)
        entry = kb["existing"]
        assert (entry.success_count, entry.failure_count) == (2, 1)
        assert entry.success_rate == pytest.approx(3 / 5)
        with pytest.raises(KeyError, match="no knowledge entry"):
            kb.record_outcome("nope", True)

    def test_records_round_trip(self, tricky_entries: list[KnowledgeEntry]) -> None:
        base = KnowledgeBase(tricky_entries)
        again = KnowledgeBase.from_records(base.to_records())
        assert again.to_records() == base.to_records()

    def test_from_records_rejects_bad_record(self) -> None:
        with pytest.raises(KnowledgeImportError, match="confidence"):
            KnowledgeBase.from_records(
                [{"id": "x", "kind": "runbook", "title": "t", "solution": "s", "confidence": 3}]
            )

    def test_add_update_remove(self, kb: KnowledgeBase) -> None:
        with pytest.raises(KeyError, match="already exists"):
            kb.add(KnowledgeEntry(id="existing", kind="runbook", title="t", solution="s"))
        kb.update("existing", title="New", error_type="rate_limiting")
        assert kb["existing"].title == "New"
        with pytest.raises(KnowledgeImportError, match="error_type"):
            kb.update("existing", error_type="bogus")
        assert kb["existing"].error_type == "rate_limiting"
        kb.remove("existing")
        assert "existing" not in kb and len(kb) == 0


class TestImport:
    def test_csv_round_trip(self, tricky_entries: list[KnowledgeEntry]) -> None:
        exported = KnowledgeBase(tricky_entries).export_csv()
        target = KnowledgeBase()
        report = target.import_file(exported.encode())
        assert report.fmt == "csv" and report.rows == 2 and report.added == ["f1", "f2"]
        assert target.to_records() == KnowledgeBase(tricky_entries).to_records()

    def test_xlsx_round_trip(self, tricky_entries: list[KnowledgeEntry], tmp_path) -> None:
        path = tmp_path / "kb.xlsx"
        path.write_bytes(KnowledgeBase(tricky_entries).export_xlsx())
        target = KnowledgeBase()
        report = target.import_file(path)
        assert report.fmt == "xlsx" and report.added == ["f1", "f2"]
        assert target.to_records() == KnowledgeBase(tricky_entries).to_records()

    def test_reimport_updates_not_duplicates(self, kb: KnowledgeBase) -> None:
        data = _csv(_row(id="existing", kind="runbook", title="Changed", solution="x", error_type=""))
        report = kb.import_file(data)
        assert report.updated == ["existing"] and report.added == []
        assert kb["existing"].title == "Changed" and len(kb) == 1

    def test_blank_id_gets_a_stable_id(self) -> None:
        data = _csv(_row(id=""))
        first, second = KnowledgeBase(), KnowledgeBase()
        first.import_file(data)
        second.import_file(data)
        assert first.ids() == second.ids() and first.ids()[0]

    @pytest.mark.parametrize("maker", [template_csv, template_xlsx])
    def test_template_imports_cleanly(self, maker) -> None:
        base = KnowledgeBase()
        content = maker()
        report = base.import_file(content.encode() if isinstance(content, str) else content)
        assert {e.kind for e in base} == set(KINDS)
        assert report.rows == len(KINDS)

    def test_excel_bom_and_blank_rows_are_accepted(self) -> None:
        data = b"\xef\xbb\xbf" + _csv(_row(id="a"), "\n", ",,,,,,,,,,,,,\n", _row(id="b"))
        base = KnowledgeBase()
        assert base.import_file(data, fmt="csv").added == ["a", "b"]

    def test_semicolon_separated_csv(self) -> None:
        data = _csv(_row(id="a", title="x, y")).decode()
        rows = list(csv.reader(io.StringIO(data)))
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=";").writerows(rows)
        base = KnowledgeBase()
        base.import_file(buffer.getvalue().encode())
        assert base["a"].title == "x, y"

    def test_formula_cells_are_data_on_import(self) -> None:
        import openpyxl

        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.append(list(COLUMNS))
        sheet.append(
            ["x1", "runbook", "=1+1", "", "", '=WEBSERVICE("http://evil")', "", "", "", 0.5, 0, 0, "", ""]
        )
        buffer = io.BytesIO()
        workbook.save(buffer)
        base = KnowledgeBase()
        base.import_file(buffer.getvalue())
        assert base["x1"].title == "=1+1"
        assert base["x1"].solution.startswith("=WEBSERVICE")


class TestExportNeutralisesFormulas:
    def test_csv(self, tricky_entries: list[KnowledgeEntry]) -> None:
        rows = list(csv.reader(io.StringIO(KnowledgeBase(tricky_entries).export_csv())))
        cells = [cell for row in rows[1:] for cell in row]
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
        assert '\'=HYPERLINK("http://evil","click")' in cells
        assert "'-bash: gsutil: command not found" in cells

    def test_xlsx(self, tricky_entries: list[KnowledgeEntry]) -> None:
        import openpyxl

        workbook = openpyxl.load_workbook(io.BytesIO(KnowledgeBase(tricky_entries).export_xlsx()))
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r"))


def _xlsx_with_garbage_row() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(COLUMNS))
    sheet.append(["a", "runbook", "t", "", "", "s", "", "", "", 0.5, 0, 0, "", ""])
    sheet.append(["b", "runbook", "t", "", "", "s", "", "", "", "high", -1, 0, "", ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _zip_not_xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return buffer.getvalue()


# (content, fmt, expected fragment of the message, expected (row, column) pairs)
BAD_FILES = {
    "unknown kind": (_csv(_row(kind="wisdom")), None, "unknown kind", [(2, "kind")]),
    "unknown error_type": (
        _csv(_row(error_type="cosmic_rays")),
        None,
        "unknown error_type",
        [(2, "error_type")],
    ),
    "confidence not a number": (_csv(_row(confidence="high")), None, "between 0 and 1", [(2, "confidence")]),
    "confidence out of range": (_csv(_row(confidence="1.5")), None, "between 0 and 1", [(2, "confidence")]),
    "confidence nan": (_csv(_row(confidence="nan")), None, "between 0 and 1", [(2, "confidence")]),
    "negative count": (_csv(_row(success_count="-2")), None, "whole number", [(2, "success_count")]),
    "fractional count": (_csv(_row(failure_count="1.5")), None, "whole number", [(2, "failure_count")]),
    "missing title": (_csv(_row(title="")), None, "title", [(2, "title")]),
    "historical without message": (_csv(_row(message="")), None, "needs a message", [(2, "message")]),
    "field too long": (_csv(_row(title="x" * 301)), None, "too long", [(2, "title")]),
    "bad date": (_csv(_row(created_at="yesterday")), None, "ISO-8601", [(2, "created_at")]),
    "bad id": (_csv(_row(id="has space")), None, "invalid id", [(2, "id")]),
    "duplicate id": (_csv(_row(id="a"), _row(id="b"), _row(id="a")), None, "duplicate id", [(4, "id")]),
    "extra cells": (_csv(_row().rstrip("\n") + ",surplus\n"), None, "extra cells", [(2, "")]),
    "errors on several rows": (
        _csv(_row(id="a"), _row(id="b", kind="nope"), _row(id="c", confidence="2")),
        None,
        "nothing was imported",
        [(3, "kind"), (4, "confidence")],
    ),
    "row number counts multi-line cells as one row": (
        _csv(_row(id="a", solution="line1\nline2\nline3"), _row(id="b", kind="nope")),
        None,
        "row 3",
        [(3, "kind")],
    ),
    "xlsx row errors": (_xlsx_with_garbage_row(), None, "row 3", [(3, "confidence"), (3, "success_count")]),
    "missing columns": (b"kind,title\nrunbook,t\n", None, "missing columns", []),
    "unknown column": (_csv(header=HEADER + ",colour"), None, "unknown columns", []),
    "duplicate column": (_csv(header=HEADER + ",title"), None, "duplicate columns", []),
    "empty file": (b"", None, "empty", []),
    "whitespace only": (b"  \n\n ", None, "empty", []),
    "header only": (HEADER.encode() + b"\n", None, "no data rows", []),
    "not utf-8": (HEADER.encode() + b"\n" + _row(title="caf\xe9").encode("latin-1"), None, "UTF-8", []),
    "binary garbage": (bytes(range(256)) * 8, None, "binary", []),
    "xlsx that is not a zip": (b"this is not a zip", "xlsx", "not a zip", []),
    "zip that is not a workbook": (_zip_not_xlsx(), None, "cannot read the .xlsx", []),
    "unsupported format": (b"a,b", "ods", "unsupported format", []),
}


@pytest.mark.parametrize(
    ("content", "fmt", "fragment", "row_errors"), list(BAD_FILES.values()), ids=list(BAD_FILES)
)
def test_bad_file_is_rejected_and_changes_nothing(kb, content, fmt, fragment, row_errors) -> None:
    before = kb.to_records()
    version = kb.version
    with pytest.raises(KnowledgeImportError) as info:
        kb.import_file(content, fmt=fmt)
    assert fragment in str(info.value)
    assert [(e.row, e.column) for e in info.value.errors] == row_errors
    for error in info.value.errors:
        assert f"row {error.row}" in str(info.value)
    assert kb.to_records() == before and kb.version == version


def test_huge_file_is_rejected_before_reading(kb, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(kn, "MAX_IMPORT_BYTES", 1000)
    path = tmp_path / "big.csv"
    path.write_bytes(_csv(*[_row(id=f"r{i}") for i in range(50)]))
    with pytest.raises(KnowledgeImportError, match="limit"):
        kb.import_file(path)
    with pytest.raises(KnowledgeImportError, match="limit"):
        kb.import_file(path.read_bytes())
    assert len(kb) == 1


def test_missing_path_is_a_clear_error(kb, tmp_path) -> None:
    with pytest.raises(KnowledgeImportError, match="cannot read"):
        kb.import_file(tmp_path / "nope.csv")


class TestSeed:
    def test_seed_loads_and_covers_every_kind_and_type(self) -> None:
        seed = load_seed()
        assert {e.kind for e in seed} == set(KINDS)
        historical = seed.by_kind("historical_error")
        for error_type in ErrorType.known():
            assert len([e for e in historical if e.error_type == error_type.value]) >= 5, error_type
            assert seed.by_error_type(error_type) and any(
                e.kind == "runbook" for e in seed.by_error_type(error_type)
            )

    def test_seed_survives_export_import(self) -> None:
        seed = load_seed()
        again = KnowledgeBase()
        again.import_file(seed.export_xlsx())
        assert again.to_records() == seed.to_records()
