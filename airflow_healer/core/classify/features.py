"""Features of an error message: TF-IDF over words and characters of its normalised form, plus metadata.

Words carry the meaning ("no space left", "permission denied"); character n-grams survive the
spellings words miss (``OutOfMemoryError``, ``PERMISSION_DENIED``, ``rateLimitExceeded``, ``ENOSPC``).
Both run on :func:`airflow_healer.core.normalize.normalize` output, so ids, numbers and paths do not
become features. Metadata (exception class, operator, system) is optional: rows without it get zeros
there, which is why the training corpus leaves it out of a share of its rows.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer

from airflow_healer.core.normalize import normalize

log = logging.getLogger(__name__)

#: Characters of the normalised message the vectorisers see; the head holds what tells errors apart.
FEATURE_CHARS = 4_000

# Split camel case and snake/dotted names as well as keeping them whole: ``OutOfMemoryError`` should
# share features with "out of memory".
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SEP = re.compile(r"[._/$:]+")
_WORD = re.compile(r"<[a-z]+>|[a-z][a-z0-9]+|\d{3,5}")


#: Characters of the split view the character n-grams see: they cost most of the feature time.
CHAR_CHARS = 1_500


def views(text: str) -> tuple[str, str]:
    """The two lower-cased views of a message the vectorisers read.

    The word view holds the normalised text and, after it, the same text with camel-case and dotted
    names split apart, so ``OutOfMemoryError`` is a feature and so are "out", "of", "memory". The
    character view is the split text only (its n-grams cover the joined spelling well enough).
    """
    norm = normalize(text)[:FEATURE_CHARS]
    split = _SEP.sub(" ", _CAMEL.sub(" ", norm)).lower()
    return norm.lower() + "\n" + split, split[:CHAR_CHARS]


def prepare(text: str) -> str:
    """The word view of :func:`views` (kept for callers that want one string)."""
    return views(text)[0]


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text)


def _short_exception(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower()


def meta_dict(meta: Mapping[str, Any] | None) -> dict[str, float]:
    """One-hot entries for the optional metadata of one message."""
    if not meta:
        return {}
    out: dict[str, float] = {}
    exc = meta.get("exception_type")
    if exc:
        out[f"exc={_short_exception(str(exc))}"] = 1.0
    op = meta.get("operator")
    if op:
        out[f"op={str(op).lower()}"] = 1.0
    system = meta.get("system")
    if system:
        out[f"sys={str(system).lower()}"] = 1.0
    return out


class FeatureExtractor:
    """Turns messages (and optional metadata) into one sparse matrix.

    :param word_max_features: size cap of the word 1-2-gram vocabulary.
    :param char_max_features: size cap of the character 3-5-gram vocabulary.
    :param meta_weight: scale of the metadata one-hots against the text features.
    """

    def __init__(
        self, word_max_features: int = 20_000, char_max_features: int = 30_000, meta_weight: float = 0.5
    ):
        self.word_max_features = word_max_features
        self.char_max_features = char_max_features
        self.meta_weight = meta_weight

    def _build(self) -> None:
        self.word_ = TfidfVectorizer(
            tokenizer=_tokens,
            token_pattern=None,
            lowercase=False,
            ngram_range=(1, 2),
            max_features=self.word_max_features,
            min_df=2,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self.char_ = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(3, 5),
            lowercase=False,
            max_features=self.char_max_features,
            min_df=3,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self.meta_ = DictVectorizer(dtype=np.float32)

    def fit_transform(
        self, texts: Sequence[str], meta: Sequence[Mapping[str, Any] | None] | None = None
    ) -> sp.csr_matrix:
        """Learn the vocabularies from ``texts`` and return their features."""
        self._build()
        word_docs, char_docs = self._views(texts)
        w = self.word_.fit_transform(word_docs)
        c = self.char_.fit_transform(char_docs)
        # The stop-word sets hold every pruned term: they are large and only useful for debugging.
        self.word_.stop_words_ = None
        self.char_.stop_words_ = None
        m = self.meta_.fit_transform(self._meta_dicts(meta, len(word_docs)))
        log.debug("features: %d word, %d char, %d meta", w.shape[1], c.shape[1], m.shape[1])
        return self._stack(w, c, m)

    def fit(
        self, texts: Sequence[str], meta: Sequence[Mapping[str, Any] | None] | None = None
    ) -> FeatureExtractor:
        self.fit_transform(texts, meta)
        return self

    def transform(
        self, texts: Sequence[str], meta: Sequence[Mapping[str, Any] | None] | None = None
    ) -> sp.csr_matrix:
        """Features of ``texts`` in the learnt vocabularies.

        Same numbers as the vectorisers' own ``transform`` (a test holds them equal), computed without
        scikit-learn's per-call validation, which costs more than the work for one short message.
        """
        word_docs, char_docs = self._views(texts)
        w = self._tfidf(self.word_, word_docs)
        c = self._tfidf(self.char_, char_docs)
        dicts = self._meta_dicts(meta, len(word_docs))
        m = (
            self.meta_.transform(dicts)
            if any(dicts)
            else sp.csr_matrix((len(dicts), len(self.meta_.vocabulary_)), dtype=np.float32)
        )
        return self._stack(w, c, m)

    @staticmethod
    def _views(texts: Sequence[str]) -> tuple[list[str], list[str]]:
        pairs = [views(t) for t in texts]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def _analyzers(self) -> tuple[Any, Any]:
        cache = self.__dict__.get("_analyzer_cache")
        if cache is None:
            cache = (self.word_.build_analyzer(), self.char_.build_analyzer())
            self.__dict__["_analyzer_cache"] = cache
        return cache

    def _tfidf(self, vec: TfidfVectorizer, docs: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF rows as the fitted vectoriser computes them: sublinear tf, idf, then l2 norm."""
        analyzer = self._analyzers()[0 if vec is self.word_ else 1]
        vocab = vec.vocabulary_
        idf = vec.idf_
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for doc in docs:
            # Counter over map() counts in C; the None key gathers the out-of-vocabulary n-grams.
            counts = Counter(map(vocab.get, analyzer(doc)))
            counts.pop(None, None)
            if counts:
                cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                vals = (
                    1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
                ) * idf[cols]
                norm = np.sqrt(np.dot(vals, vals))
                if norm > 0:
                    vals /= norm
                order = np.argsort(cols)
                indices.extend(cols[order].tolist())
                data.extend(vals[order].tolist())
            indptr.append(len(indices))
        return sp.csr_matrix(
            (
                np.asarray(data, dtype=np.float32),
                np.asarray(indices, dtype=np.int32),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(docs), len(vocab)),
        )

    def __getstate__(self) -> dict[str, Any]:
        # Analyzers are closures over the vectorisers: rebuild them after unpickling instead.
        state = dict(self.__dict__)
        state.pop("_analyzer_cache", None)
        return state

    def _meta_dicts(self, meta: Iterable[Mapping[str, Any] | None] | None, n: int) -> list[dict[str, float]]:
        if meta is None:
            return [{} for _ in range(n)]
        dicts = [meta_dict(m) for m in meta]
        if len(dicts) != n:
            raise ValueError(
                f"meta has {len(dicts)} entries for {n} texts; pass one mapping (or None) per text"
            )
        return dicts

    def _stack(self, w: sp.spmatrix, c: sp.spmatrix, m: sp.spmatrix) -> sp.csr_matrix:
        return sp.hstack([w, c, m * self.meta_weight], format="csr", dtype=np.float32)

    @property
    def feature_names_(self) -> np.ndarray:
        """Names of the columns, prefixed ``w:``, ``c:`` or ``m:`` by the vectoriser they come from."""
        names = [f"w:{n}" for n in self.word_.get_feature_names_out()]
        names += [f"c:{n}" for n in self.char_.get_feature_names_out()]
        names += [f"m:{n}" for n in self.meta_.get_feature_names_out()]
        return np.asarray(names, dtype=object)

    @property
    def n_features_(self) -> int:
        return len(self.word_.vocabulary_) + len(self.char_.vocabulary_) + len(self.meta_.vocabulary_)
