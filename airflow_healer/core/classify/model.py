"""The error classifier: features + a calibrated RandomForest or linear model, persisted as bytes.

``ErrorClassifier`` follows scikit-learn's estimator manners: ``__init__`` stores parameters,
``fit`` learns (state ends in ``_``) and returns ``self``. :func:`train` is the full recipe used to
build the shipped model: a small grid over RandomForest and LogisticRegression scored by stratified
k-fold macro-F1, the better family refitted on all data and calibrated, the figures kept in
``metadata_``.

Serialised form (``to_bytes``): a magic line, then a zlib-compressed pickle of
``{"format": FORMAT_VERSION, "sklearn": <version>, "model": <ErrorClassifier>}``. Only load blobs
you produced: unpickling runs code.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import pickle
import time
import uuid
import warnings
import zlib
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np
import scipy.sparse as sp
import sklearn
from joblib import Parallel, delayed
from scipy.special import expit, softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from airflow_healer.core.classify.features import FeatureExtractor, prepare
from airflow_healer.core.types import Classification, ErrorType
from airflow_healer.exceptions import ModelFormatError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_MAGIC = b"AIRFLOW_HEALER_CLASSIFIER\n"
DEFAULT_MODEL_FILE = "error_classifier.bin"

Meta = Sequence[Mapping[str, Any] | None] | None
#: Messages that name no cause: plain texts or corpus rows (``text`` plus optional metadata).
Uninformative = Sequence[str | Mapping[str, Any]]

#: Share of uninformative messages :func:`train` adds by default, against the labelled rows: with 20,400
#: labelled rows, 816 messages, each trained once per class (9,792 rows).
UNINFORMATIVE_SHARE = 0.04


def _uninformative_rows(items: Uninformative) -> tuple[list[str], list[Mapping[str, Any] | None]]:
    texts: list[str] = []
    meta: list[Mapping[str, Any] | None] = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
            meta.append(None)
        else:
            texts.append(str(item["text"]))
            meta.append(item)
    return texts, meta


def _features_with_uninformative(
    fe: FeatureExtractor,
    texts: Sequence[str],
    labels: Sequence[str],
    meta: Meta,
    uninformative: Uninformative,
) -> tuple[Any, np.ndarray, int]:
    """Fit ``fe`` on the labelled and uninformative texts; return the training matrix and labels.

    Each uninformative message becomes one row per class, each with that class's label: a uniform soft
    label by replication. The cross-entropy of those rows is lowest when the model gives every class
    the same probability, so words that only ever say "it failed" stop pulling towards any class, and
    Platt calibration sees that such scores are right one time in twelve. The vocabulary and idf see
    each message once, not twelve times. The labelled rows come first: ``X[:n_labelled]``.
    """
    u_texts, u_meta = _uninformative_rows(uninformative)
    n = len(texts)
    if not u_texts:
        return fe.fit_transform(list(texts), meta), np.asarray(labels, dtype=object), n
    all_meta = None
    if meta is not None or any(m is not None for m in u_meta):
        all_meta = list(meta if meta is not None else [None] * n) + u_meta
    X = fe.fit_transform(list(texts) + u_texts, all_meta)
    classes = sorted(set(labels))
    X_u = X[n:]
    X = sp.vstack([X[:n]] + [X_u] * len(classes), format="csr")
    y = np.asarray(list(labels) + [c for c in classes for _ in u_texts], dtype=object)
    return X, y, n


def _rf(params: Mapping[str, Any], random_state: int, n_jobs: int) -> RandomForestClassifier:
    return RandomForestClassifier(
        n_estimators=params.get("n_estimators", 120),
        max_features=params.get("max_features", "sqrt"),
        min_samples_leaf=params.get("min_samples_leaf", 1),
        max_depth=params.get("max_depth"),
        class_weight="balanced",
        random_state=random_state,
        n_jobs=n_jobs,
    )


def _linear(params: Mapping[str, Any], random_state: int) -> LogisticRegression:
    return LogisticRegression(
        C=params.get("C", 10.0),
        class_weight="balanced",
        max_iter=params.get("max_iter", 1000),
        random_state=random_state,
    )


class ErrorClassifier:
    """Classify an error message into one of the twelve :class:`ErrorType` values, with probabilities.

    :param model: ``"linear"`` (LogisticRegression) or ``"rf"`` (RandomForest).
    :param params: hyper-parameters of the estimator (``C`` for linear; ``n_estimators``,
        ``max_features``, ``min_samples_leaf``, ``max_depth`` for rf).
    :param calibration: ``"temperature"`` (one softmax temperature for all classes), ``"sigmoid"``
        (Platt, per class), ``"isotonic"`` or ``None`` for raw probabilities. Temperature scaling keeps
        equal class scores equal, so a message that names no cause stays near 1/12 for every class;
        per-class Platt curves, fitted with uninformative rows, flatten and cost confidence everywhere.
    :param calibration_cv: folds used to fit the calibrator on out-of-fold scores; the estimator
        itself is fitted once on all data (``ensemble=False``), so prediction costs one model.
    :param word_max_features: word n-gram vocabulary cap.
    :param char_max_features: character n-gram vocabulary cap.
    :param random_state: seed of everything random in ``fit``.
    :param n_jobs: parallel jobs while fitting; prediction always runs on one core (no joblib overhead).
    """

    def __init__(
        self,
        model: str = "linear",
        params: Mapping[str, Any] | None = None,
        calibration: str | None = "temperature",
        calibration_cv: int = 3,
        word_max_features: int = 20_000,
        char_max_features: int = 30_000,
        random_state: int = 0,
        n_jobs: int = 1,
    ):
        self.model = model
        self.params = params
        self.calibration = calibration
        self.calibration_cv = calibration_cv
        self.word_max_features = word_max_features
        self.char_max_features = char_max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fitting -----------------------------------------------------------------------------------

    def _estimator(self) -> Any:
        params = dict(self.params or {})
        if self.model == "rf":
            return _rf(params, self.random_state, self.n_jobs)
        if self.model == "linear":
            return _linear(params, self.random_state)
        raise ValueError(f"unknown model {self.model!r}: use 'linear' or 'rf'")

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        meta: Meta = None,
        *,
        uninformative: Uninformative = (),
    ) -> ErrorClassifier:
        """Learn features and the calibrated estimator from ``texts`` and their ``labels``.

        :param meta: optional per-text mappings with ``exception_type``, ``operator``, ``system``.
        :param uninformative: messages that name no cause (texts or rows with ``text`` and metadata),
            trained once per class so that the model answers their like with low confidence; see
            :func:`airflow_healer.core.classify.corpus.generate_uninformative`.
        """
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        start = time.perf_counter()
        self.features_ = FeatureExtractor(self.word_max_features, self.char_max_features)
        X, y, _ = _features_with_uninformative(self.features_, texts, labels, meta, uninformative)
        self._fit_matrix(X, y)
        self.fit_seconds_ = time.perf_counter() - start
        if not hasattr(self, "metadata_"):
            self.metadata_ = {}
        self.metadata_.update(self._describe(texts, labels, _uninformative_rows(uninformative)[0]))
        log.info("fitted %s classifier on %d examples in %.1fs", self.model, len(texts), self.fit_seconds_)
        return self

    def _fit_matrix(self, X: Any, y: np.ndarray) -> None:
        est = self._estimator()
        if self.calibration:
            cv = StratifiedKFold(self.calibration_cv, shuffle=True, random_state=self.random_state)
            # The calibration folds are independent fits: run them side by side when n_jobs allows.
            est = CalibratedClassifierCV(
                est, method=self.calibration, cv=cv, ensemble=False, n_jobs=self.n_jobs
            )
        # BLAS threads fight each other (and joblib) on small shared machines: lbfgs runs 10-40x
        # slower oversubscribed than on one thread.
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", category=UserWarning)
            est.fit(X, y)
        self.estimator_ = est
        self.classes_ = np.asarray(est.classes_, dtype=object)
        self._single_core()

    def _single_core(self) -> None:
        # One message at a time must not pay joblib's start-up: predict on one core.
        for obj in (self.estimator_, self._base()):
            if hasattr(obj, "n_jobs"):
                obj.n_jobs = 1

    def _base_aligned(self, base: Any) -> bool:
        """Whether the base estimator's columns follow ``classes_``.

        With temperature scaling scikit-learn fits the base on label-encoded targets, so its classes are
        ``0..n-1`` in the order of ``classes_``; otherwise they are the labels themselves.
        """
        theirs = list(base.classes_)
        return theirs == list(self.classes_) or theirs == list(range(len(self.classes_)))

    def _base(self) -> Any:
        if isinstance(self.estimator_, CalibratedClassifierCV):
            return self.estimator_.calibrated_classifiers_[0].estimator
        return self.estimator_

    def _describe(
        self, texts: Sequence[str], labels: Sequence[str], uninformative: Sequence[str] = ()
    ) -> dict[str, Any]:
        # Uninformative messages have no label: they enter the digest with an empty one.
        digest = training_sha256(list(texts) + list(uninformative), list(labels) + [""] * len(uninformative))
        return {
            "version": uuid.uuid4().hex[:12],
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "model": self.model,
            "params": dict(self.params or {}),
            "calibration": self.calibration,
            "n_examples": len(texts),
            "n_uninformative": len(uninformative),
            "n_features": int(self.features_.n_features_),
            "training_sha256": digest,
            "classes": [str(c) for c in self.classes_],
            "sklearn": sklearn.__version__,
            "fit_seconds": round(getattr(self, "fit_seconds_", 0.0), 2),
        }

    # -- prediction --------------------------------------------------------------------------------

    def _check(self) -> None:
        if not hasattr(self, "estimator_"):
            raise RuntimeError("this ErrorClassifier is not fitted yet: call fit() or load a model first")

    def _X(self, texts: Sequence[str] | str, meta: Meta) -> Any:
        if isinstance(texts, str):
            texts = [texts]
        return self.features_.transform(list(texts), meta)

    def predict_proba(self, texts: Sequence[str] | str, meta: Meta = None) -> np.ndarray:
        """Calibrated probabilities, one row per text, columns in the order of ``classes_``."""
        self._check()
        proba = self._proba(self._X(texts, meta))
        # Calibrators are fitted per class and renormalised; guard the sum against float drift.
        proba = np.clip(proba, 0.0, 1.0)
        return proba / proba.sum(axis=1, keepdims=True)

    def _proba(self, X: Any) -> np.ndarray:
        """``estimator_.predict_proba`` for the calibrated linear model, without per-call validation.

        scikit-learn validates the input once per calibrator (twelve times per call), which costs
        milliseconds for a single message. The arithmetic is the same: decision function, then Platt
        sigmoid per class renormalised, or a softmax of the temperature-scaled scores; a unit test holds
        both paths equal. Anything else (forest, isotonic, no calibration) takes scikit-learn's path.
        """
        est = self.estimator_
        cal = getattr(est, "calibrated_classifiers_", None)
        if not cal or len(cal) != 1:
            return est.predict_proba(X)
        base, calibrators = cal[0].estimator, cal[0].calibrators
        if not hasattr(base, "coef_") or len(base.classes_) < 3 or not self._base_aligned(base):
            return est.predict_proba(X)
        scores = np.asarray(X @ base.coef_.T) + base.intercept_
        if len(calibrators) == 1 and hasattr(calibrators[0], "beta_"):
            # Temperature scaling: one softmax over the scaled class scores.
            return softmax(float(np.ravel(calibrators[0].beta_)[0]) * scores, axis=1)
        if len(calibrators) != len(base.classes_) or not all(
            hasattr(c, "a_") and hasattr(c, "b_") for c in calibrators
        ):
            return est.predict_proba(X)
        a = np.array([float(np.ravel(c.a_)[0]) for c in calibrators])
        b = np.array([float(np.ravel(c.b_)[0]) for c in calibrators])
        proba = expit(-(scores * a + b))
        denom = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / proba.shape[1])
        return np.divide(proba, denom, out=uniform, where=denom != 0)

    def predict(self, texts: Sequence[str] | str, meta: Meta = None) -> np.ndarray:
        """The most probable label of each text."""
        self._check()
        return self.classes_[np.argmax(self.predict_proba(texts, meta), axis=1)]

    #: Name recorded in :class:`Classification.classifier`.
    name = "model"

    def classify(
        self,
        text: str,
        *,
        exception_type: str | None = None,
        operator: str | None = None,
        evidence: int = 3,
    ) -> Classification:
        """Classify one message with the model alone (the healer adds retrieval: see ``rag.py``).

        :param exception_type: class name of the exception, when the capture knows it.
        :param operator: operator class of the failed task, when known.
        :param evidence: how many telling terms to attach (0 for none, slightly faster).
        """
        self._check()
        meta = None
        if exception_type or operator:
            meta = [{"exception_type": exception_type, "operator": operator}]
        X = self._X([text], meta)
        proba = self._proba(X)[0]
        i = int(np.argmax(proba))
        label = str(self.classes_[i])
        terms = self._explain_row(X, label, evidence) if evidence else []
        return Classification(
            error_type=ErrorType(label),
            confidence=float(proba[i]),
            classifier=self.name,
            evidence=[t for t, _ in terms],
        )

    def explain(self, text: str, top: int = 5, label: str | None = None) -> list[tuple[str, float]]:
        """The terms of ``text`` that weigh most for ``label`` (default: the predicted one).

        Linear model: feature value times the class coefficient. RandomForest: feature value times
        the forest's feature importance (a forest has no per-class weights to show).
        """
        self._check()
        X = self._X([text], None)
        if label is None:
            label = str(self.classes_[int(np.argmax(self._proba(X)[0]))])
        return self._explain_row(X, label, top)

    def _explain_row(self, X: Any, label: str, top: int) -> list[tuple[str, float]]:
        base = self._base()
        row = X.tocsr()
        idx, vals = row.indices, row.data
        if hasattr(base, "coef_"):
            k = list(self.classes_).index(label)
            if not self._base_aligned(base):
                k = list(base.classes_).index(label)
            weights = base.coef_[k, idx] * vals
        else:
            weights = base.feature_importances_[idx] * vals
        names = self._feature_names()
        seen: list[tuple[str, float]] = []
        for j in np.argsort(-weights):
            if weights[j] <= 0 or len(seen) >= top:
                break
            term = str(names[idx[j]])[2:].strip()
            if not term or any(term in s or s in term for s, _ in seen):
                continue  # overlapping char n-grams of one word say the same thing
            seen.append((term, round(float(weights[j]), 4)))
        return seen

    def _feature_names(self) -> np.ndarray:
        names = self.__dict__.get("_names_cache")
        if names is None:
            names = self.features_.feature_names_
            self.__dict__["_names_cache"] = names
        return names

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_names_cache", None)
        return state

    # -- persistence -------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Serialise the fitted classifier (see the module docstring for the format)."""
        self._check()
        payload = {"format": FORMAT_VERSION, "sklearn": sklearn.__version__, "model": self}
        return _MAGIC + zlib.compress(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL), 6)

    @classmethod
    def from_bytes(cls, blob: bytes) -> ErrorClassifier:
        """Load a classifier written by :meth:`to_bytes`.

        :raises ModelFormatError: the blob is not a classifier, is damaged, or has another format version.
        """
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise ModelFormatError(f"expected bytes, got {type(blob).__name__}")
        blob = bytes(blob)
        if not blob.startswith(_MAGIC):
            raise ModelFormatError(
                "not an airflow_healer classifier blob (bad header); retrain or re-export the model"
            )
        try:
            payload = pickle.load(io.BytesIO(zlib.decompress(blob[len(_MAGIC) :])))
        except Exception as exc:  # zlib, pickle and attribute errors all mean the same: unusable blob
            raise ModelFormatError(
                f"damaged classifier blob ({exc.__class__.__name__}: {exc}); retrain the model"
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            found = payload.get("format") if isinstance(payload, dict) else None
            raise ModelFormatError(
                f"classifier blob has format {found!r}, this version reads {FORMAT_VERSION}; retrain with "
                "`airflow-healer train` or scripts/build_default_model.py"
            )
        model = payload.get("model")
        if not isinstance(model, cls):
            raise ModelFormatError("classifier blob does not hold an ErrorClassifier")
        if payload.get("sklearn") != sklearn.__version__:
            log.warning(
                "classifier was saved with scikit-learn %s, running %s",
                payload.get("sklearn"),
                sklearn.__version__,
            )
        return model


def training_sha256(texts: Sequence[str], labels: Sequence[str]) -> str:
    """Digest of the (text, label) pairs a model was trained on, order included."""
    h = hashlib.sha256()
    for t, y in zip(texts, labels, strict=True):
        h.update(json.dumps([t, y], ensure_ascii=False).encode("utf-8", errors="replace"))
        h.update(b"\n")
    return h.hexdigest()


#: The small grid of :func:`train`: a few settings per model family. Thirty trees score within a
#: thousandth of a hundred in cross-validation on the generated corpus (macro-F1 ~0.997) at a third of
#: the cost; the forest dominates training time, so its grid is what keeps :func:`train` under two
#: minutes on two cores.
DEFAULT_GRID: dict[str, list[dict[str, Any]]] = {
    "rf": [
        {"n_estimators": 30, "max_features": "sqrt", "min_samples_leaf": 1, "max_depth": 60},
        {"n_estimators": 30, "max_features": "sqrt", "min_samples_leaf": 2, "max_depth": 60},
    ],
    "linear": [{"C": 3.0}, {"C": 20.0}],
}


def _cv_task(
    family: str,
    params: Mapping[str, Any],
    X: Any,
    y: np.ndarray,
    tr: np.ndarray,
    te: np.ndarray,
    random_state: int,
) -> tuple[float, float]:
    """Fit one candidate on one fold on a single thread: macro-F1 on the held-out part and seconds."""
    t0 = time.perf_counter()
    # One fit per worker, each on one core: joblib spreads the (candidate, fold) pairs over n_jobs.
    est = _rf(params, random_state, 1) if family == "rf" else _linear(params, random_state)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", category=UserWarning)
        est.fit(X[tr], y[tr])
        score = f1_score(y[te], est.predict(X[te]), average="macro")
    return float(score), time.perf_counter() - t0


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    meta: Meta = None,
    *,
    cv: int = 5,
    grid: Mapping[str, list[dict[str, Any]]] | None = None,
    random_state: int = 0,
    n_jobs: int = 1,
    calibration: str = "temperature",
    uninformative: bool | Uninformative = True,
    **kwargs: Any,
) -> ErrorClassifier:
    """Pick the better of RandomForest and LogisticRegression by stratified CV macro-F1 and fit it.

    Features are learnt once on all rows before cross-validation: it leaks vocabulary statistics into
    the folds, which inflates every candidate alike and makes the grid affordable. Every
    (candidate, fold) fit is one single-threaded job; ``n_jobs`` of them run at once, so the result
    does not depend on ``n_jobs``, only the wall-clock time does.

    :param cv: number of stratified folds.
    :param grid: ``{"rf": [params, ...], "linear": [params, ...]}``; defaults to :data:`DEFAULT_GRID`.
    :param n_jobs: parallel jobs for the cross-validation and the final calibrated fit.
    :param uninformative: messages that name no cause, trained once per class (see
        :meth:`ErrorClassifier.fit`); ``True`` generates :data:`UNINFORMATIVE_SHARE` of ``len(texts)``
        with :func:`~airflow_healer.core.classify.corpus.generate_uninformative`, ``False`` adds none.
        They join every training fold but no test fold: CV scores only the labelled rows.
    :param kwargs: passed on to :class:`ErrorClassifier` (vocabulary sizes).
    :return: the fitted classifier, with every candidate's CV figures in ``metadata_["cv"]``.
    """
    grid = dict(grid or DEFAULT_GRID)
    start = time.perf_counter()
    if uninformative is True:
        from airflow_healer.core.classify.corpus import generate_uninformative

        uninformative = generate_uninformative(
            n=max(1, round(len(texts) * UNINFORMATIVE_SHARE)), seed=random_state
        )
    elif uninformative is False:
        uninformative = ()
    fe = FeatureExtractor(kwargs.get("word_max_features", 20_000), kwargs.get("char_max_features", 30_000))
    X, y, n = _features_with_uninformative(fe, texts, labels, meta, uninformative)
    features_seconds = time.perf_counter() - start
    extra = np.arange(n, len(y))
    folds = list(StratifiedKFold(cv, shuffle=True, random_state=random_state).split(np.zeros(n), y[:n]))
    candidates = [(family, params) for family, settings in grid.items() for params in settings]
    tasks = [(c, f) for c in range(len(candidates)) for f in range(len(folds))]
    # Forests first: the slowest jobs started early leave no worker idle at the end.
    tasks.sort(key=lambda cf: candidates[cf[0]][0] != "rf")

    def train_rows(family: str, tr: np.ndarray) -> np.ndarray:
        # The uninformative rows (one copy per class) teach the linear model a flat answer. A forest
        # cannot learn that from them (every leaf stays pure for the labelled rows) and they would
        # double its cost, so forests train on the labelled rows only; both are scored alike.
        return tr if family == "rf" else np.concatenate([tr, extra])

    t0 = time.perf_counter()
    out = Parallel(n_jobs=n_jobs)(
        delayed(_cv_task)(
            candidates[c][0], candidates[c][1], X, y, train_rows(candidates[c][0], folds[f][0]), folds[f][1],
            random_state,
        )
        for c, f in tasks
    )
    cv_seconds = time.perf_counter() - t0
    by_task = dict(zip(tasks, out, strict=True))
    results: list[dict[str, Any]] = []
    for c, (family, params) in enumerate(candidates):
        scores = [by_task[c, f][0] for f in range(len(folds))]
        res = {
            "model": family,
            "params": params,
            "cv_macro_f1": round(float(np.mean(scores)), 4),
            "cv_macro_f1_std": round(float(np.std(scores)), 4),
            # Time of its fold jobs added up (each on one core): with n_jobs > 1 they overlap.
            "seconds": round(sum(by_task[c, f][1] for f in range(len(folds))), 1),
        }
        log.info(
            "cv %s %s: macro-F1 %.4f +- %.4f", family, params, res["cv_macro_f1"], res["cv_macro_f1_std"]
        )
        results.append(res)
    # Ties go to the linear model: it is smaller and faster at the same score.
    best = max(results, key=lambda r: (r["cv_macro_f1"], r["model"] == "linear"))
    clf = ErrorClassifier(
        model=best["model"],
        params=best["params"],
        calibration=calibration,
        random_state=random_state,
        n_jobs=n_jobs,
        **kwargs,
    )
    t0 = time.perf_counter()
    clf.features_ = fe
    final = train_rows(best["model"], np.arange(n))
    clf._fit_matrix(X[final], y[final])
    clf.fit_seconds_ = time.perf_counter() - t0
    clf.metadata_ = clf._describe(texts, labels, _uninformative_rows(uninformative)[0])
    by_family = {
        fam: max((r for r in results if r["model"] == fam), key=lambda r: r["cv_macro_f1"])
        for fam in grid
        if grid[fam]
    }
    clf.metadata_.update(
        {
            "chosen": best["model"],
            "cv_folds": cv,
            "cv": results,
            "cv_best": {
                fam: {"params": r["params"], "cv_macro_f1": r["cv_macro_f1"]} for fam, r in by_family.items()
            },
            "n_jobs": n_jobs,
            "features_seconds": round(features_seconds, 1),
            "cv_seconds": round(cv_seconds, 1),
            "train_seconds": round(time.perf_counter() - start, 1),
        }
    )
    log.info(
        "train: features %.1fs, cv %.1fs, final fit %.1fs on %d jobs",
        features_seconds,
        cv_seconds,
        clf.fit_seconds_,
        n_jobs,
    )
    return clf


_DEFAULT: ErrorClassifier | None = None


def load_default(refresh: bool = False) -> ErrorClassifier:
    """The classifier shipped in the package data, loaded once per process.

    :raises FileNotFoundError: the package was built without its model file.
    """
    global _DEFAULT
    if _DEFAULT is None or refresh:
        ref = resources.files("airflow_healer.core.classify").joinpath("data", DEFAULT_MODEL_FILE)
        if not ref.is_file():
            raise FileNotFoundError(
                f"the default classifier ({DEFAULT_MODEL_FILE}) is missing from the package; "
                "build it with scripts/build_default_model.py"
            )
        _DEFAULT = ErrorClassifier.from_bytes(ref.read_bytes())
    return _DEFAULT


__all__ = [
    "DEFAULT_GRID",
    "UNINFORMATIVE_SHARE",
    "ErrorClassifier",
    "FORMAT_VERSION",
    "ModelFormatError",
    "load_default",
    "prepare",
    "train",
    "training_sha256",
]
