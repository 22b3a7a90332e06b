"""The classifier's command line: classify, evaluate, kb and model."""

import io
import json

import pytest

from airflow_healer.cli import main
from airflow_healer.core.classify import save_model
from airflow_healer.core.classify.model import load_default
from airflow_healer.core.store import open_store


def run(capsys, monkeypatch, argv, stdin=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_classify_reads_json_lines_and_reports_bad_ones(config, capsys, monkeypatch):
    stdin = (b'{"id": "q1", "text": "psycopg2.OperationalError: could not connect to server: Connection timed out"}\n'
             b'\xff\xfe garbage\n'
             b'{"text": "No space left on device", "exception_type": "OSError"}\n')
    code, out, err = run(capsys, monkeypatch, ["classify", "-"], stdin)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and "line 2: not JSON" in err
    assert [r["id"] for r in rows] == ["q1", "3"]
    assert [r["error_type"] for r in rows] == ["network_timeout", "disk_space_full"]
    assert set(rows[0]) == {"id", "error_type", "confidence", "strategy", "similar"}
    assert all({"id", "score", "error_type"} == set(s) for s in rows[0]["similar"])


def test_classify_refuses_an_oversized_line_and_goes_on(config, capsys, monkeypatch):
    huge = json.dumps({"text": "x" * 2_000_000}).encode()
    code, out, err = run(capsys, monkeypatch, ["classify"], huge + b'\n{"text": "Read timed out"}\n')
    assert code == 1 and "line 1: 2,000,013 bytes" in err
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["2"]


def test_evaluate_reports_both_views(config, capsys, monkeypatch, tmp_path):
    data = tmp_path / "eval.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [
        {"text": "java.lang.OutOfMemoryError: Java heap space", "label": "memory_leak"},
        {"text": "429 Too Many Requests: rate limit exceeded", "label": "rate_limiting", "ambiguous": 1},
    ]))
    code, out, _ = run(capsys, monkeypatch, ["evaluate", str(data), "--json"])
    report = json.loads(out)
    assert code == 0 and report["n_ambiguous"] == 1
    assert report["all"]["n"] == 2 and report["unambiguous"]["n"] == 1
    assert report["unambiguous"]["accuracy"] == 1.0


def test_evaluate_refuses_unlabelled_rows(config, capsys, monkeypatch, tmp_path):
    data = tmp_path / "eval.jsonl"
    data.write_text('{"text": "x"}\n')
    code, _, err = run(capsys, monkeypatch, ["evaluate", str(data)])
    assert code == 2 and "without a 'label'" in err


def test_kb_template_imports_cleanly_and_exports(config, capsys, monkeypatch, tmp_path):
    code, template, _ = run(capsys, monkeypatch, ["kb", "template"])
    assert code == 0 and template.startswith("id,kind,")
    path = tmp_path / "kb.csv"
    path.write_text(template)
    code, out, _ = run(capsys, monkeypatch, ["kb", "import", str(path)])
    assert code == 0 and "added" in out
    stored = len(open_store(config.store_url).list_knowledge())
    assert stored == len(template.strip().splitlines()) - 1
    code, exported, _ = run(capsys, monkeypatch, ["kb", "export"])
    assert code == 0 and exported.count("\n") > stored


def test_kb_import_of_a_bad_file_names_rows_and_imports_nothing(config, capsys, monkeypatch, tmp_path):
    code, template, _ = run(capsys, monkeypatch, ["kb", "template"])
    header, first, *_ = template.splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([header, first, first.replace(first.split(",")[1], "nonsense_kind", 1)]) + "\n")
    code, _, err = run(capsys, monkeypatch, ["kb", "import", str(bad)])
    assert code == 1 and "nothing was imported" in err and "row 3" in err
    assert open_store(config.store_url).list_knowledge() == []


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary", b"PK\x03\x04not really a zip"])
def test_kb_import_of_garbage_is_a_clear_error(config, capsys, monkeypatch, tmp_path, content):
    path = tmp_path / "kb.xlsx"
    path.write_bytes(content)
    code, _, err = run(capsys, monkeypatch, ["kb", "import", str(path)])
    assert code == 1 and "nothing was imported" in err


def test_model_list_and_activate(config, capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, ["model", "list"])
    assert "shipped default model" in out
    version = save_model(open_store(config.store_url), load_default(), activate=False)
    code, out, _ = run(capsys, monkeypatch, ["model", "activate", version])
    assert code == 0
    code, out, _ = run(capsys, monkeypatch, ["model", "list"])
    assert out.startswith(f"* {version}")
    code, _, err = run(capsys, monkeypatch, ["model", "activate", "v-missing"])
    assert code == 2 and "No model version" in err


def test_drift_compares_recent_incidents_with_a_held_out_sample(config, capsys, monkeypatch):
    from airflow_healer.core.capture import make_failure

    store = open_store(config.store_url)
    code, out, _ = run(capsys, monkeypatch, ["drift", "--baseline", "240"])
    assert code == 0 and "no drift" in out  # no incidents yet: nothing to compare, said plainly
    for n in range(40):
        store.record_failure(make_failure(dag_id="etl", task_id=f"t{n}", run_id="r",
                                          message=f"zorblax quux flimflam wibble stage {n} glorped the snarfle"))
    code, out, _ = run(capsys, monkeypatch, ["drift", "--baseline", "240", "--json"])
    report = json.loads(out)
    assert code == 3 and report["drift"] is True
    assert report["unseen_vocabulary"]["p_value"] < 0.01
    assert "zorblax" in {term for term, _ in report["unseen_vocabulary"]["top_terms"]}


def test_train_stores_and_activates_a_new_version(config, capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, ["train", "--n-per-class", "15", "--jobs", "1"])
    assert code == 0 and "it is now the active model" in out
    assert "knowledge entries" in out
    [model] = __import__("airflow_healer.core.classify", fromlist=["list_models"]).list_models(
        open_store(config.store_url))
    assert model["active"] and model["meta"]["n_examples"] >= 12 * 15
    code, out, _ = run(capsys, monkeypatch, ["classify"], b'{"text": "java.lang.OutOfMemoryError: Java heap space"}\n')
    assert json.loads(out)["error_type"] == "memory_leak"
