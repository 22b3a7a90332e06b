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


def prepare(text: str) -> str:
    """Normalised, lower-cased text with camel-case and dotted names split apart.

    The exception class stays whole in its original form too, so both spellings are features.
    """
    norm = normalize(text)[:FEATURE_CHARS]
    split = _SEP.sub(" ", _CAMEL.sub(" ", norm))
    return (norm + "\n" + split).lower()


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

    def __init__(self, word_max_features: int = 20_000, char_max_features: int = 30_000, meta_weight: float = 0.5):
        self.word_max_features = word_max_features
        self.char_max_features = char_max_features
        self.meta_weight = meta_weight

    def _build(self) -> None:
        self.word_ = TfidfVectorizer(
            tokenizer=_tokens, token_pattern=None, lowercase=False, ngram_range=(1, 2),
            max_features=self.word_max_features, min_df=2, sublinear_tf=True, dtype=np.float32,
        )
        self.char_ = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), lowercase=False,
            max_features=self.char_max_features, min_df=3, sublinear_tf=True, dtype=np.float32,
        )
        self.meta_ = DictVectorizer(dtype=np.float32)

    def fit_transform(self, texts: Sequence[str], meta: Sequence[Mapping[str, Any] | None] | None = None) -> sp.csr_matrix:
        """Learn the vocabularies from ``texts`` and return their features."""
        self._build()
        prepared = [prepare(t) for t in texts]
        w = self.word_.fit_transform(prepared)
        c = self.char_.fit_transform(prepared)
        # The stop-word sets hold every pruned term: they are large and only useful for debugging.
        self.word_.stop_words_ = None
        self.char_.stop_words_ = None
        m = self.meta_.fit_transform(self._meta_dicts(meta, len(prepared)))
        log.debug("features: %d word, %d char, %d meta", w.shape[1], c.shape[1], m.shape[1])
        return self._stack(w, c, m)

    def fit(self, texts: Sequence[str], meta: Sequence[Mapping[str, Any] | None] | None = None) -> FeatureExtractor:
        self.fit_transform(texts, meta)
        return self

    def transform(self, texts: Sequence[str], meta: Sequence[Mapping[str, Any] | None] | None = None) -> sp.csr_matrix:
        """Features of ``texts`` in the learnt vocabularies."""
        prepared = [prepare(t) for t in texts]
        w = self.word_.transform(prepared)
        c = self.char_.transform(prepared)
        m = self.meta_.transform(self._meta_dicts(meta, len(prepared)))
        return self._stack(w, c, m)

    def _meta_dicts(self, meta: Iterable[Mapping[str, Any] | None] | None, n: int) -> list[dict[str, float]]:
        if meta is None:
            return [{} for _ in range(n)]
        dicts = [meta_dict(m) for m in meta]
        if len(dicts) != n:
            raise ValueError(f"meta has {len(dicts)} entries for {n} texts; pass one mapping (or None) per text")
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
