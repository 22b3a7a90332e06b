"""Error classification. Importing this package is cheap; the model loads on first use.

:func:`get_classifier` gives the best classifier available: the RAG classifier (the active model,
boosted by retrieval over the knowledge base), or the rule fallback when no model can be loaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from airflow_healer.core.config import HealerConfig
from airflow_healer.core.types import Classification
from airflow_healer.exceptions import ClassifierError

if TYPE_CHECKING:
    from airflow_healer.core.classify.knowledge import KnowledgeBase
    from airflow_healer.core.classify.retrieval import VectorIndex
    from airflow_healer.core.store import Store

log = logging.getLogger(__name__)

MODEL_PREFIX = "model/"
ACTIVE_MODEL = "model-active"
INDEX_BLOB = "knowledge-index"


class Classifier(Protocol):
    name: str

    def classify(self, text: str, *, exception_type: str | None = None, operator: str | None = None) -> Classification:
        ...


# -- models ---------------------------------------------------------------------------------


def load_model(config: HealerConfig, store: Store | None = None) -> Any:
    """The model to use: ``[healer] model_path``, else the store's active version, else the shipped one."""
    from airflow_healer.core.classify.model import ErrorClassifier, ModelFormatError, load_default

    try:
        if config.model_path:
            return ErrorClassifier.from_bytes(Path(config.model_path).read_bytes())
        if store is not None:
            version = store.get_blob(ACTIVE_MODEL)
            if version:
                blob = store.get_blob(MODEL_PREFIX + version.decode())
                if blob is None:
                    raise ClassifierError(f"The active model {version.decode()} is missing from the store; "
                                          "run `airflow-healer model activate VERSION`.")
                return ErrorClassifier.from_bytes(blob)
        return load_default()
    except (OSError, ModelFormatError) as exc:
        raise ClassifierError(f"Cannot load the classifier model: {exc}") from exc


def save_model(store: Store, model: Any, *, activate: bool = True) -> str:
    """Keep ``model`` in the store as a new version (its ``metadata_['version']``); returns it."""
    version = str(model.metadata_["version"])
    meta = {k: v for k, v in model.metadata_.items() if k in (
        "version", "created", "model", "params", "n_examples", "training_sha256", "cv_best", "chosen",
        "train_seconds")}
    store.put_blob(MODEL_PREFIX + version, model.to_bytes(), meta)
    if activate:
        activate_model(store, version)
    return version


def list_models(store: Store) -> list[dict[str, Any]]:
    active = (store.get_blob(ACTIVE_MODEL) or b"").decode()
    return [{**b, "version": b["name"][len(MODEL_PREFIX):], "active": b["name"] == MODEL_PREFIX + active}
            for b in store.list_blobs(MODEL_PREFIX)]


def activate_model(store: Store, version: str) -> None:
    """Make ``version`` the model healers load (a roll-back is activating an older version)."""
    if store.get_blob(MODEL_PREFIX + version) is None:
        known = ", ".join(m["version"] for m in list_models(store)) or "none"
        raise ClassifierError(f"No model version {version!r} in the store (known: {known}).")
    store.put_blob(ACTIVE_MODEL, version.encode(), {"version": version})


# -- knowledge ------------------------------------------------------------------------------


def load_knowledge(store: Store | None = None) -> KnowledgeBase:
    """The shipped seed knowledge plus everything imported or learnt into the store."""
    from airflow_healer.core.classify.knowledge import KnowledgeEntry, KnowledgeImportError, load_seed

    knowledge = load_seed()
    if store is not None:
        entries = []
        for record in store.list_knowledge():
            try:
                entries.append(KnowledgeEntry.from_record(record))
            except KnowledgeImportError as exc:
                # One bad stored row must not stop every healer: skip it, loudly.
                log.warning("Skipping knowledge entry %r from the store: %s", record.get("id"), exc)
        knowledge.upsert(entries)
    return knowledge


def load_index(knowledge: KnowledgeBase, store: Store | None = None) -> VectorIndex:
    """The retrieval index over ``knowledge``: the stored one brought up to date, or a new one."""
    from airflow_healer.core.classify.retrieval import RetrievalIndexError, VectorIndex, build_index

    index = None
    blob = store.get_blob(INDEX_BLOB) if store is not None else None
    if blob:
        try:
            index = VectorIndex.from_bytes(blob)
        except RetrievalIndexError as exc:
            log.warning("Rebuilding the knowledge index: the stored one is unusable (%s)", exc)
    if index is None:
        index = build_index(knowledge)
        if store is not None and len(knowledge) > 5_000:
            save_index(store, index)
        return index
    missing = [e for e in knowledge if e.id not in index]
    if missing:
        index.add(missing)  # incremental: no rebuild
    return index


def save_index(store: Store, index: VectorIndex) -> None:
    store.put_blob(INDEX_BLOB, index.to_bytes(), {"entries": len(index)})


# -- the classifier -------------------------------------------------------------------------


def get_classifier(config: HealerConfig | None = None, store: Store | None = None) -> Classifier:
    """The best classifier available for ``config``: RAG over the model, else the rule fallback."""
    config = config or HealerConfig.load()
    try:
        from airflow_healer.core.classify.rag import RagClassifier

        model = load_model(config, store)
        knowledge = load_knowledge(store)
        return RagClassifier(model, knowledge, load_index(knowledge, store), min_confidence=config.min_confidence)
    except Exception as exc:  # noqa: BLE001 - a broken model must degrade healing, never stop it
        log.warning("Using the rule classifier: %s", exc)
        from airflow_healer.core.classify.rules import RuleClassifier

        return RuleClassifier()


def import_knowledge(store: Store, source: str | Path | bytes, fmt: str | None = None) -> Any:
    """Validate a CSV/XLSX knowledge file and store every row, or nothing when any row is bad.

    :raises KnowledgeImportError: listing each bad row with its number and reason.
    :returns: the :class:`~airflow_healer.core.classify.knowledge.ImportReport`.
    """
    from airflow_healer.core.classify.knowledge import ImportReport, parse_file

    kind, rows, entries = parse_file(source, fmt)  # raises before anything is written
    existing = {r["id"] for r in store.list_knowledge()}
    store.put_knowledge([e.to_record() for e in entries], source=str(source)[:200] if not isinstance(
        source, bytes) else "upload")
    blob = store.get_blob(INDEX_BLOB)
    if blob:  # a persisted index: replace the re-imported entries in it, incrementally
        from airflow_healer.core.classify.retrieval import VectorIndex

        index = VectorIndex.from_bytes(blob)
        index.add(entries)
        save_index(store, index)
    return ImportReport(fmt=kind, rows=rows, added=[e.id for e in entries if e.id not in existing],
                        updated=[e.id for e in entries if e.id in existing])
