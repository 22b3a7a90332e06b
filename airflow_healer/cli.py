"""``airflow-healer``: the command line of the healer (reads the same [healer] settings as Airflow)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from airflow_healer.core.config import HealerConfig
from airflow_healer.exceptions import HealerError

#: Bytes of one input line that are read; the normaliser caps the text further.
MAX_LINE_BYTES = 1_000_000


def _store(args: argparse.Namespace):
    from airflow_healer.core.store import open_store

    config = HealerConfig.load()
    return open_store(args.store_url or config.store_url)


def _incident_row(incident: Any) -> str:
    actions = ", ".join(f"{a.strategy}#{a.attempt}:{a.outcome}" for a in incident.actions) or "-"
    label = f"{incident.error_type or '?'}" + (f" ({incident.confidence:.2f})" if incident.confidence is not None else "")
    return (f"{incident.created_at[:19]}  {incident.dag_id}.{incident.task_id}  {incident.run_id}  "
            f"tries={incident.last_try_number}  {label}  {incident.status}  actions: {actions}"
            + (f"\n    reason: {incident.reason}" if incident.reason else ""))


def cmd_incidents_list(args: argparse.Namespace) -> int:
    incidents = _store(args).list_incidents(dag_id=args.dag_id, status=args.status, limit=args.limit)
    if args.format == "json":
        json.dump([i.as_dict() for i in incidents], sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif not incidents:
        print("No incidents.")
    else:
        for incident in incidents:
            print(_incident_row(incident))
    return 0


def cmd_incidents_show(args: argparse.Namespace) -> int:
    incident = _store(args).get_incident(args.incident_id)
    if incident is None:
        print(f"No incident {args.incident_id}.", file=sys.stderr)
        return 1
    json.dump(incident.as_dict(), sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    for event in _store(args).ledger(args.incident_id, limit=args.limit):
        print(json.dumps(event, default=str))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from airflow_healer.core.capture import Spool

    config = HealerConfig.load()
    spool = Spool(config.spool_dir)
    waiting = len(spool)
    written = spool.replay(_store(args))
    print(f"Replayed {written} of {waiting} spooled failure(s) from {spool.path}.")
    return 0 if written == waiting else 1


def cmd_pubsub_consume(args: argparse.Namespace) -> int:
    from airflow_healer.core.healer import Healer
    from airflow_healer.gcp.pubsub import consume

    config = HealerConfig.load()
    store = _store(args)
    report = consume(config, store, healer=Healer(config, store=store), max_messages=args.max)
    print(report.summary())
    for error in report.errors:
        print(f"error: {error}")
    return 0 if not report.failed and not report.errors else 1


def cmd_pubsub_replay(args: argparse.Namespace) -> int:
    from airflow_healer.gcp.pubsub import replay_pubsub_spool, spooled_events

    config = HealerConfig.load()
    if not config.pubsub_topic:
        print("[healer] pubsub_topic is not set: there is no topic to replay the spooled events to.", file=sys.stderr)
        return 2
    waiting = spooled_events(config)
    published = replay_pubsub_spool(config)
    print(f"Published {published} of {waiting} spooled event(s) to {config.pubsub_topic}.")
    return 0 if published == waiting else 1


# -- classification -----------------------------------------------------------------------


def _iter_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, row, error) for each non-blank line of a JSON-lines file or stdin (``-``).

    Streams: a file of any length costs one line of memory at a time (each line's text capped).
    """
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115 - closed below
    try:
        for number, raw in enumerate(stream, start=1):
            if len(raw) > MAX_LINE_BYTES:
                yield number, None, f"line {number}: {len(raw):,} bytes, over the {MAX_LINE_BYTES:,} a line may have"
                continue
            line = raw.decode("utf-8", errors="replace")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                yield number, None, f"line {number}: not JSON ({exc})"
                continue
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                yield number, None, f"line {number}: needs an object with a string 'text'"
                continue
            row.setdefault("id", str(number))
            yield number, row, ""
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def _read_jsonl(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    rows, errors = [], []
    for _, row, error in _iter_jsonl(path):
        if row is None:
            errors.append(error)
        else:
            rows.append(row)
    return rows, errors


def _classifier(args: argparse.Namespace) -> Any:
    from airflow_healer.core.classify import get_classifier

    config = HealerConfig.load()
    return get_classifier(config, _store(args))


def _batch_classify(classifier: Any) -> Any:
    """A function classifying rows in chunks (the rule fallback has no batch method)."""

    def run(rows: list[dict[str, Any]]) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(rows), 512):
            chunk = rows[start:start + 512]
            if hasattr(classifier, "classify_batch"):
                out.extend(classifier.classify_batch(chunk, evidence=False))
            else:
                out.extend(classifier.classify(r["text"], exception_type=r.get("exception_type"),
                                               operator=r.get("operator")) for r in chunk)
        return out

    return run


def cmd_classify(args: argparse.Namespace) -> int:
    classify = _batch_classify(_classifier(args))
    errors = 0
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        for row, c in zip(chunk, classify(chunk), strict=True):
            print(json.dumps({
                "id": row["id"], "error_type": c.error_type.value, "confidence": round(c.confidence, 4),
                "strategy": c.strategy,
                "similar": [{"id": s["id"], "score": s["score"], "error_type": s["error_type"]} for s in c.similar],
            }))
        chunk.clear()

    for _, row, error in _iter_jsonl(args.file):
        if row is None:
            errors += 1
            print(f"airflow-healer classify: {error}", file=sys.stderr)
            continue
        chunk.append(row)
        if len(chunk) == 512:
            flush()
    flush()
    return 1 if errors else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from airflow_healer.core.classify.evaluate import evaluate, format_report

    rows, errors = _read_jsonl(args.file)
    if errors:
        for error in errors:
            print(f"airflow-healer evaluate: {error}", file=sys.stderr)
        return 2
    unlabeled = [r["id"] for r in rows if not r.get("label")]
    if unlabeled:
        print(f"airflow-healer evaluate: rows without a 'label': {', '.join(unlabeled[:10])}", file=sys.stderr)
        return 2
    from airflow_healer.core.types import ErrorType

    predictions = [(c.error_type.value, c.confidence) for c in _batch_classify(_classifier(args))(rows)]
    # Answers below min_confidence are 'unknown': they count as misses, not as a thirteenth class.
    report = evaluate(lambda texts: predictions, rows, labels=[t.value for t in ErrorType.known()])
    print(json.dumps(report, indent=2, default=str) if args.json else format_report(report))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from airflow_healer.core.classify import load_knowledge, save_model
    from airflow_healer.core.classify.corpus import generate
    from airflow_healer.core.classify.model import train

    store = _store(args)
    rows = generate(n_per_class=args.n_per_class, seed=args.seed)
    texts = [r["text"] for r in rows]
    labels = [r["label"] for r in rows]
    meta = [{k: r.get(k) for k in ("exception_type", "operator", "system")} for r in rows]
    learnt = [e for e in load_knowledge(store) if e.kind == "historical_error" and e.error_type and e.message]
    incidents = [i for i in store.list_incidents(status="recovered", limit=100_000) if i.error_type]
    for message, label, extra in ([(e.message, e.error_type, {}) for e in learnt]
                                  + [(i.message, i.error_type.value, {"exception_type": i.exception_type,
                                                                      "operator": i.operator}) for i in incidents]):
        texts.append(message)
        labels.append(label)
        meta.append(extra)
    print(f"Training on {len(texts)} examples ({len(rows)} generated, {len(learnt)} knowledge entries, "
          f"{len(incidents)} resolved incidents); 5-fold CV of RandomForest and a linear model ...", flush=True)
    model = train(texts, labels, meta, n_jobs=args.jobs)
    for family, best in (model.metadata_.get("cv_best") or {}).items():
        print(f"  {family:<7} best {best['params']}: CV macro-F1 {best['cv_macro_f1']:.4f}")
    print(f"  kept: {model.metadata_.get('chosen')} ({model.metadata_.get('train_seconds', 0):.0f} s)")
    version = save_model(store, model, activate=not args.no_activate)
    print(f"Stored model {version} ({model.metadata_.get('model')})"
          + ("" if args.no_activate else "; it is now the active model."))
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    from airflow_healer.core.classify import list_models

    models = list_models(_store(args))
    if not models:
        print("No trained models in the store; the shipped default model is in use.")
    for m in models:
        meta = m["meta"]
        print(f"{'*' if m['active'] else ' '} {m['version']}  {meta.get('created', '')}  {meta.get('model', '')}"
              f"  n={meta.get('n_examples', '?')}  {m['size'] / 1e6:.1f} MB")
    return 0


def cmd_model_activate(args: argparse.Namespace) -> int:
    from airflow_healer.core.classify import activate_model

    activate_model(_store(args), args.version)
    print(f"Model {args.version} is now active.")
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    from airflow_healer.core.classify import load_model
    from airflow_healer.core.classify.corpus import generate
    from airflow_healer.core.classify.drift import drift_report, format_drift

    config = HealerConfig.load()
    store = _store(args)
    recent = [i.message for i in store.list_incidents(limit=args.limit) if i.message]
    # A held-out sample of the generator (a seed training never uses), not the training texts:
    # those contain every word of the vocabulary by construction.
    baseline = [r["text"] for r in generate(n_per_class=max(1, args.baseline // 12), seed=9_999)]
    report = drift_report(load_model(config, store), recent, baseline, min_confidence=config.min_confidence,
                          alpha=args.alpha)
    print(json.dumps(report, indent=2, default=str) if args.json else format_drift(report))
    return 3 if report["drift"] else 0


def cmd_kb_template(args: argparse.Namespace) -> int:
    from airflow_healer.core.classify.knowledge import template_csv, template_xlsx

    if args.format == "xlsx":
        sys.stdout.buffer.write(template_xlsx())
    else:
        sys.stdout.write(template_csv())
    return 0


def cmd_kb_import(args: argparse.Namespace) -> int:
    from airflow_healer.core.classify import import_knowledge
    from airflow_healer.core.classify.knowledge import KnowledgeImportError

    try:
        report = import_knowledge(_store(args), args.file)
    except KnowledgeImportError as exc:
        print(f"airflow-healer kb import: nothing was imported.\n{exc}", file=sys.stderr)
        return 1
    print(f"Imported {report.rows} row(s) from {args.file} ({report.fmt}): "
          f"{len(report.added)} added, {len(report.updated)} updated.")
    return 0


def cmd_kb_export(args: argparse.Namespace) -> int:
    from airflow_healer.core.classify import load_knowledge

    knowledge = load_knowledge(_store(args))
    data = knowledge.export_xlsx() if args.format == "xlsx" else knowledge.export_csv().encode()
    if args.output:
        with open(args.output, "wb") as fh:
            fh.write(data)
        print(f"Exported {len(knowledge)} entries to {args.output}.", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
    return 0


# -- task logs and the watchdog ------------------------------------------------------------


def _log_file(path: str) -> str:
    from airflow_healer.core.logs import read_tail

    if path == "-":
        from airflow_healer.core.logs.read import MAX_LOG_BYTES

        data = sys.stdin.buffer.read()
        return data[-MAX_LOG_BYTES:].decode("utf-8", errors="replace")
    try:
        return read_tail(path)
    except OSError as exc:
        raise HealerError(f"Cannot read the log {path}: {exc}") from exc


def cmd_logs_locate(args: argparse.Namespace) -> int:
    from airflow_healer.core.capture import make_failure
    from airflow_healer.core.healer import Healer

    healer = Healer(HealerConfig.load(), store=_store(args))
    failure = make_failure(dag_id="-", task_id="-", run_id="-", message=args.message or "")
    located = healer.read_log(failure, _log_file(args.file))
    from airflow_healer.core.logs import compose

    text = compose(failure.message, [line["text"] for line in failure.log_lines])
    classification = healer.classifier.classify(text) if text.strip() else None
    out = {
        "lines": failure.log_lines, "note": failure.log_note, "exception": located.exception,
        "read_lines": located.total_lines, "boilerplate_lines": located.boilerplate,
        "classification": classification.as_dict() if classification else None,
    }
    if args.json:
        json.dump(out, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    print(f"{located.total_lines} line(s) read, {located.boilerplate} boilerplate; the lines that say why:")
    for line in failure.log_lines:
        print(f"  {line['line']:>5}  {line['why']:<12} {line['text'][:300]}")
    if not failure.log_lines:
        print("  (none)")
    if failure.log_note:
        print(f"note: {failure.log_note}")
    if classification:
        print(f"classified: {classification.error_type} ({classification.confidence:.2f}), "
              f"strategy {classification.strategy}")
    return 0


def cmd_logs_learn(args: argparse.Namespace) -> int:
    from airflow_healer.core.healer import Healer
    from airflow_healer.core.logs import parse_log

    healer = Healer(HealerConfig.load(), store=_store(args))
    total = 0
    for path in args.files:
        new = healer.learn_boilerplate([line.text for line in parse_log(_log_file(path))])
        print(f"{path}: {new} new template(s)")
        total += new
    print(f"Learnt {total} boilerplate template(s) from {len(args.files)} log(s) of successful tries.")
    return 0


def cmd_watchdog_status(args: argparse.Namespace) -> int:
    from airflow_healer.core.watchdog import read_state, read_watermark

    config = HealerConfig.load()
    store = _store(args)
    state = read_state(store)
    out = {"watermark": read_watermark(store, config), "last_cycle": state.get("last_cycle"),
           "retries_in_flight": len(state.get("pending", [])), "last_report": state.get("last_report")}
    if args.json:
        json.dump(out, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    if not state:
        print(f"The watchdog has not run yet; its first cycle looks back to {out['watermark']}.")
        return 0
    report = state.get("last_report") or {}
    print(f"last cycle: {out['last_cycle']}; failures after {out['watermark']} are new")
    print(f"it saw {report.get('seen', 0)}, recorded {report.get('recorded', 0)}, "
          f"{report.get('already_recorded', 0)} already recorded, {report.get('excluded', 0)} excluded; "
          f"classified {report.get('classified') or {}}; {out['retries_in_flight']} retry(ies) in flight")
    for error in report.get("errors", []):
        print(f"error: {error}")
    return 0


def cmd_external_poll(args: argparse.Namespace) -> int:
    from airflow_healer.core.healer import Healer
    from airflow_healer.gcp.poller import ExternalPoller
    from airflow_healer.gcp.sources import sources_from_config

    config = HealerConfig.load()
    sources = sources_from_config(config)
    if not sources:
        print("[healer] external_jobs is empty: name the services to poll (external_jobs = dataflow,workflows,"
              "bigquery).", file=sys.stderr)
        return 2
    report = ExternalPoller(Healer(config, store=_store(args)), sources, progress=print).cycle()
    print(report.summary())
    for error in report.errors:
        print(f"error: {error}")
    return 1 if report.errors else 0


def cmd_external_status(args: argparse.Namespace) -> int:
    from airflow_healer.gcp.poller import poll_status

    rows = poll_status(_store(args))
    if args.json:
        json.dump(rows, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("No external jobs were polled yet.")
    for row in rows:
        last = row.get("last_cycle") or {}
        print(f"{row['source']}: changes after {row['watermark']} are new; last poll {last.get('at', '?')} saw "
              f"{last.get('jobs', 0)} changed job(s)")
    return 0


# -- proposals: risky fixes wait for a person -------------------------------------------------


def _user(args: argparse.Namespace) -> str:
    import getpass

    return args.user or os.environ.get("AIRFLOW_HEALER_USER") or getpass.getuser()


def cmd_proposals_list(args: argparse.Namespace) -> int:
    proposals = _store(args).list_proposals(status=args.status, limit=args.limit)
    if args.format == "json":
        json.dump(proposals, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif not proposals:
        print("No proposals.")
    else:
        for p in proposals:
            decided = f" by {p['decided_by']}" if p["decided_by"] else f", expires {p['expires_at'][:19]}"
            print(f"{p['id']}  {p['status']}{decided}  {p['dag_id']}.{p['task_id']}  {p['run_id']}  {p['strategy']}"
                  f"\n    {p['change'][:300]}")
    return 0


def _decide(args: argparse.Namespace, approve: bool) -> int:
    from airflow_healer.approvals import decide
    from airflow_healer.exceptions import StoreError

    try:
        _, message = decide(_store(args), args.proposal_id, approve, _user(args),
                            (args.note if approve else args.reason) or "")
    except StoreError as exc:
        print(f"airflow-healer: {exc}", file=sys.stderr)
        return 1
    print(message)
    return 0


def cmd_proposals_approve(args: argparse.Namespace) -> int:
    return _decide(args, True)


def cmd_proposals_reject(args: argparse.Namespace) -> int:
    return _decide(args, False)


def _schema_needed(store: Any) -> int:
    """The schema version this airflow_healer needs of ``store`` (a BigQuery dataset has its own numbering)."""
    from airflow_healer.core.store.base import SCHEMA_VERSION

    return getattr(store, "schema_target", SCHEMA_VERSION)


def _check_one(store: Any) -> bool:
    version, needed = store.schema_version(), _schema_needed(store)
    print(f"store: {store!r}\nschema version: {version or 'none yet'} (this airflow_healer needs {needed})")
    if version and version > needed:
        print("The store is newer than this airflow_healer: upgrade airflow_healer here.", file=sys.stderr)
        return False
    if version < needed:
        what = "created" if not version else "upgraded"
        print(f"Run `airflow-healer db upgrade` to have it {what} (nothing written is lost).", file=sys.stderr)
        return False
    for step in getattr(store, "migrations", list)():
        print(f"  version {step['version']}: applied {step['applied_at']} by airflow_healer {step['package_version']}")
    return True


def cmd_db_check(args: argparse.Namespace) -> int:
    """Exit 0 when the store's schema (and its coordination store's) is the one this version needs; 1, with
    what to run, otherwise."""
    store = _store(args)
    stores = [store, *([store.coordination] if getattr(store, "coordination", None) is not None else [])]
    return 0 if all([_check_one(s) for s in stores]) else 1


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    store = _store(args)
    before = store.schema_version()
    applied = store.migrate()
    if isinstance(applied, dict):  # a BigQuery dataset: what was created and added, and its coordination store's
        print(f"{store!r}: schema {before or 'none'} -> {applied.get('schema_version')}: "
              + json.dumps({k: v for k, v in applied.items() if k != "schema_version"}, default=str))
    elif applied:
        print(f"{store!r}: schema {before or 'none'} -> {applied[-1]}" + (f" (applied {applied})" if before else ""))
    else:
        print(f"{store!r}: schema {before} is current; nothing to do.")
    return 0


def cmd_db_copy(args: argparse.Namespace) -> int:
    from airflow_healer.core.store import open_store
    from airflow_healer.core.store.copy import copy_store

    source, target = open_store(args.source), open_store(args.destination)
    last: dict[str, int] = {}

    def progress(table: str, rows: int) -> None:
        if rows - last.get(table, 0) >= 50_000 or not last.get(table):
            print(f"  {table}: {rows} rows", file=sys.stderr)
            last[table] = rows

    print(f"Copying {source!r} into {target!r} ...", file=sys.stderr)
    copied = copy_store(source, target, batch=args.batch, progress=progress)
    print(f"Copied {sum(copied.values())} rows, every count checked: "
          + ", ".join(f"{table} {n}" for table, n in copied.items()))
    print("Point [healer] store_url at the destination, then restart Airflow's components.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-healer", description=__doc__)
    parser.add_argument("--store-url", help="store to use instead of [healer] store_url")
    sub = parser.add_subparsers(dest="command", required=True)

    incidents = sub.add_parser("incidents", help="list and show incidents").add_subparsers(dest="sub", required=True)
    p = incidents.add_parser("list", help="recent incidents with their classification, actions and outcomes")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--dag-id")
    p.add_argument("--status", choices=("open", "healing", "recovered", "not_recovered", "escalated"))
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_incidents_list)
    p = incidents.add_parser("show", help="one incident with its failures and actions, as JSON")
    p.add_argument("incident_id")
    p.set_defaults(func=cmd_incidents_show)

    p = sub.add_parser("ledger", help="the append-only ledger, oldest first, one JSON object a line")
    p.add_argument("--incident-id")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=cmd_ledger)

    p = sub.add_parser("replay", help="write failures spooled while the store was down")
    p.set_defaults(func=cmd_replay)

    pubsub = sub.add_parser("pubsub", help="incidents as Pub/Sub events").add_subparsers(dest="sub", required=True)
    p = pubsub.add_parser("consume", help="pull [healer] pubsub_subscription into the store (bad messages: the "
                                          "dead-letter topic)")
    p.add_argument("--max", type=int, default=500, help="messages to pull at most (default 500)")
    p.set_defaults(func=cmd_pubsub_consume)
    p = pubsub.add_parser("replay", help="publish the events spooled while Pub/Sub was unreachable")
    p.set_defaults(func=cmd_pubsub_replay)

    p = sub.add_parser("classify", help="classify JSON lines ({text, id?, exception_type?, operator?})")
    p.add_argument("file", nargs="?", default="-", help="a JSON-lines file, or - for stdin (default)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("evaluate", help="macro-F1, per-class scores, confusion matrix and ECE on labelled rows")
    p.add_argument("file", help="JSON lines with text and label (ambiguous: 1 marks ambiguous rows)")
    p.add_argument("--json", action="store_true", help="the full report as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train a model on the corpus plus what the healer learnt, and store it")
    p.add_argument("--n-per-class", type=int, default=1700)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="CPU cores to use")
    p.add_argument("--no-activate", action="store_true", help="store the model without making it active")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("drift", help="are recent incidents unlike what the model was trained on? (exit 3 if so)")
    p.add_argument("--limit", type=int, default=500, help="recent incidents to look at")
    p.add_argument("--baseline", type=int, default=1200, help="size of the held-out baseline sample")
    p.add_argument("--alpha", type=float, default=0.01, help="significance level of the tests")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_drift)

    model = sub.add_parser("model", help="stored model versions").add_subparsers(dest="sub", required=True)
    p = model.add_parser("list", help="stored versions; * marks the active one")
    p.set_defaults(func=cmd_model_list)
    p = model.add_parser("activate", help="make a version active (a roll-back activates an older one)")
    p.add_argument("version")
    p.set_defaults(func=cmd_model_activate)

    logs = sub.add_parser("logs", help="task logs: find why a try failed, learn boilerplate").add_subparsers(
        dest="sub", required=True)
    p = logs.add_parser("locate", help="the lines of a task log that say why it failed, and their classification")
    p.add_argument("file", help="a task log (Airflow 3 JSON lines or text), or - for stdin; its tail is read")
    p.add_argument("--message", help="the exception's message, when known")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_logs_locate)
    p = logs.add_parser("learn", help="learn boilerplate templates from logs of successful tries (kept in the store)")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_logs_learn)

    proposals = sub.add_parser("proposals", help="risky fixes waiting for a person").add_subparsers(
        dest="sub", required=True)
    p = proposals.add_parser("list", help="proposals, newest first")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--status", choices=("pending", "approved", "rejected", "expired"))
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_proposals_list)
    p = proposals.add_parser("approve", help="approve a pending proposal: its task is retried in its run")
    p.add_argument("proposal_id")
    p.add_argument("--note", help="what you did or why, recorded with the decision")
    p.add_argument("--user", help="who decides (default: $AIRFLOW_HEALER_USER or your login)")
    p.set_defaults(func=cmd_proposals_approve)
    p = proposals.add_parser("reject", help="reject a pending proposal: its run ends failed with your reason")
    p.add_argument("proposal_id")
    p.add_argument("--reason", help="why, recorded with the decision")
    p.add_argument("--user", help="who decides (default: $AIRFLOW_HEALER_USER or your login)")
    p.set_defaults(func=cmd_proposals_reject)

    watchdog = sub.add_parser("watchdog", help="the healer_watchdog DAG's state").add_subparsers(
        dest="sub", required=True)
    p = watchdog.add_parser("status", help="its watermark and what its last cycle found")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_watchdog_status)

    external = sub.add_parser("external", help="jobs outside Airflow (Dataflow, Workflows, BigQuery)").add_subparsers(
        dest="sub", required=True)
    p = external.add_parser("poll", help="one poll of [healer] external_jobs into the store, now")
    p.set_defaults(func=cmd_external_poll)
    p = external.add_parser("status", help="each source's watermark and its last poll")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_external_status)

    db = sub.add_parser("db", help="the store's schema, upgrades and copies").add_subparsers(dest="sub", required=True)
    p = db.add_parser("check", help="is the store's schema the one this version needs? (exit 1 if not)")
    p.set_defaults(func=cmd_db_check)
    p = db.add_parser("upgrade", help="create or upgrade the store's schema in place, keeping every row")
    p.set_defaults(func=cmd_db_upgrade)
    p = db.add_parser("copy", help="copy every row of one store into a new, empty one (e.g. SQLite to PostgreSQL)")
    p.add_argument("source", help="store URL to copy from, e.g. sqlite:////opt/airflow/healer.db")
    p.add_argument("destination", help="empty store URL to copy into, e.g. postgresql+psycopg://u:p@host/healer")
    p.add_argument("--batch", type=int, default=5000, help="rows read and written at a time")
    p.set_defaults(func=cmd_db_copy)

    kb = sub.add_parser("kb", help="the knowledge base").add_subparsers(dest="sub", required=True)
    p = kb.add_parser("template", help="print the import template")
    p.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    p.set_defaults(func=cmd_kb_template)
    p = kb.add_parser("import", help="import a CSV or XLSX file made from the template (all rows or none)")
    p.add_argument("file")
    p.set_defaults(func=cmd_kb_import)
    p = kb.add_parser("export", help="export the knowledge base")
    p.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_kb_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HealerError as exc:
        print(f"airflow-healer: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
