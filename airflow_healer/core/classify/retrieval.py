"""Sparse TF-IDF cosine retrieval over knowledge entries, updatable without a rebuild.

Why this shape:

* **A fixed feature space.** Terms are hashed (scikit-learn's ``HashingVectorizer``) into
  ``n_features`` columns, so there is no vocabulary to refit: a new entry with new words is
  vectorised exactly like the old ones.
* **IDF kept current by counts.** The index keeps the document frequency of every hashed term and
  applies IDF at query time (``idf = ln((1 + N) / (1 + df)) + 1``), so adding or removing entries only
  updates counts.
* **Segments, merged in tiers.** Each :meth:`VectorIndex.add` appends a small segment stored as an
  inverted index (CSR of shape ``n_features x n_docs``: one row of postings per term). A query reads
  only the postings of its own terms, so cost follows the query, not the corpus. Segments of similar
  size are merged (as Lucene does), which keeps the segment count logarithmic; no add ever re-reads
  the whole corpus except when merges cascade.
* **Document norms** depend on IDF, which moves as the corpus grows. They are recomputed (one sparse
  matrix-vector product per segment) once the corpus has changed by more than ``renorm_fraction``;
  between refreshes a document's norm uses the IDF of its last refresh, a drift bounded by that
  fraction. Small indexes (under ``1 / renorm_fraction`` entries) are therefore always exact.

Fields are hashed into the same space and summed with weights (message counts most), so a query
made of an error message matches words in any field, but a match in ``message`` weighs more.
Text is normalised with :func:`airflow_healer.core.normalize.normalize` first, so two messages that
differ only in ids, numbers, paths or timestamps get the same vector.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from airflow_healer.core.normalize import normalize
from airflow_healer.exceptions import RetrievalIndexError

log = logging.getLogger(__name__)

#: First bytes of a serialised index; the digit is the format version.
MAGIC = b"AHVIDX1\n"
FORMAT_VERSION = 1
#: Weights of each field in a document's vector.
DEFAULT_FIELD_WEIGHTS: dict[str, float] = {"message": 1.0, "title": 0.5, "context": 0.35, "solution": 0.25}
# A merge is triggered when this many segments have sizes within a factor of MERGE_FACTOR.
MERGE_FACTOR = 4
_MAX_QUERY_CHARS = 20_000


@dataclass(frozen=True)
class Hit:
    """One search result.

    :param entry_id: id of the knowledge entry.
    :param score: cosine similarity in ``[0, 1]``; higher is closer.
    """

    entry_id: str
    score: float


class _Segment:
    """Postings of a batch of documents: ``post`` is CSR ``n_features x n``.

    ``scale`` is ``1 / norm`` per document, and 0 for removed documents, so that scoring is one
    multiplication and a removed document can never outscore a live one.
    """

    __slots__ = ("post", "ids", "alive", "norms", "scale")

    def __init__(self, post: sp.csr_matrix, ids: np.ndarray, alive: np.ndarray, norms: np.ndarray) -> None:
        self.post = post
        self.ids = ids
        self.alive = alive
        self.set_norms(norms)

    def set_norms(self, norms: np.ndarray) -> None:
        self.norms = norms
        with np.errstate(divide="ignore"):
            self.scale = np.where(self.alive & (norms > 0), 1.0 / norms, 0.0).astype(np.float32)

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])


def _top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest values (unordered), exactly, without partitioning them all.

    The k-th largest of a strided sample can only be lower than the true k-th largest, so every
    value at or above it is a candidate and the true top k are among them; the candidates are
    then a small fraction of the array, and selecting among them is cheap.
    """
    n = values.shape[0]
    stride = n // max(64 * k, 1024)
    if stride >= 2:
        sample = values[::stride]
        threshold = np.partition(sample, sample.shape[0] - k)[sample.shape[0] - k]
        candidates = np.flatnonzero(values >= threshold)
        chosen = np.argpartition(-values[candidates], k - 1)[:k]
        return candidates[chosen]
    return np.argpartition(-values, k - 1)[:k]


def _field_text(entry: Any, name: str) -> str:
    value = entry.get(name, "") if isinstance(entry, dict) else getattr(entry, name, "")
    return value or ""


class VectorIndex:
    """TF-IDF cosine vector store over knowledge entries.

    :param n_features: size of the hashed feature space (a power of two); larger means fewer
        collisions and a larger fixed overhead per segment.
    :param ngram_range: word n-grams hashed per field; bigrams tell ``permission denied`` apart
        from words that merely co-occur.
    :param field_weights: weight of each entry field in a document vector.
    :param renorm_fraction: share of the corpus that may change before document norms are
        recomputed against the current IDF (see the module docstring).
    """

    def __init__(
        self,
        n_features: int = 2**18,
        ngram_range: tuple[int, int] = (1, 2),
        field_weights: dict[str, float] | None = None,
        renorm_fraction: float = 0.02,
    ) -> None:
        self.n_features = n_features
        self.ngram_range = tuple(ngram_range)
        self.field_weights = dict(field_weights or DEFAULT_FIELD_WEIGHTS)
        self.renorm_fraction = renorm_fraction
        self._vectorizer = HashingVectorizer(
            n_features=n_features,
            ngram_range=self.ngram_range,
            alternate_sign=False,
            norm=None,
            lowercase=True,
            dtype=np.float32,
        )
        self._df = np.zeros(n_features, dtype=np.int64)
        self._segments: list[_Segment] = []
        self._where: dict[str, tuple[_Segment, int]] = {}
        self._changes_since_norm = 0
        self._n_at_norm = 0

    # ------------------------------------------------------------------ properties

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._where

    @property
    def n_segments(self) -> int:
        return len(self._segments)

    def memory_bytes(self) -> int:
        """Bytes held by the index's arrays (postings, norms, document frequencies); ids excluded."""
        total = self._df.nbytes
        for seg in self._segments:
            total += seg.post.data.nbytes + seg.post.indices.nbytes + seg.post.indptr.nbytes
            total += seg.norms.nbytes + seg.scale.nbytes + seg.alive.nbytes
        return total

    # ------------------------------------------------------------------ vectorising

    def _vectorise(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Sublinear term frequencies of normalised texts (rows = texts)."""
        matrix = self._vectorizer.transform([normalize(t, _MAX_QUERY_CHARS) for t in texts])
        matrix.data = np.log1p(matrix.data, dtype=np.float32)
        return matrix.tocsr()

    def _doc_matrix(self, entries: Sequence[Any]) -> sp.csr_matrix:
        matrix: sp.csr_matrix | None = None
        for name, weight in self.field_weights.items():
            if not weight:
                continue
            part = self._vectorise([_field_text(e, name) for e in entries]) * np.float32(weight)
            matrix = part if matrix is None else matrix + part
        assert matrix is not None, "field_weights must give at least one field a weight"
        matrix = matrix.tocsr()
        matrix.eliminate_zeros()
        matrix.sort_indices()
        return matrix

    def _idf(self, columns: np.ndarray | None = None) -> np.ndarray:
        df = self._df if columns is None else self._df[columns]
        n = len(self._where)
        return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)

    def _norms(self, post: sp.csr_matrix, idf_sq: np.ndarray) -> np.ndarray:
        # ||x * idf||: postings are term-major, so weight each term's row then sum per document.
        # The squared matrix shares the index arrays of ``post``; only the values are copied.
        squared = sp.csr_matrix(
            (post.data * post.data, post.indices, post.indptr), shape=post.shape, copy=False
        )
        return np.sqrt(np.asarray(squared.T @ idf_sq, dtype=np.float32)).ravel()

    def _maybe_renorm(self) -> None:
        n = len(self._where)
        if not self._changes_since_norm:
            return
        if self._changes_since_norm <= self.renorm_fraction * max(self._n_at_norm, n):
            return
        self.refresh()

    def refresh(self) -> None:
        """Recompute every document norm against the current IDF (exact scores until the next change)."""
        idf = self._idf()
        idf_sq = idf * idf
        for seg in self._segments:
            seg.set_norms(self._norms(seg.post, idf_sq))
        self._changes_since_norm = 0
        self._n_at_norm = len(self._where)

    # ------------------------------------------------------------------ updates

    def add(self, entries: Iterable[Any]) -> int:
        """Index entries (objects or dicts with ``id``, ``message``, ``title``, ``context``, ``solution``).

        An id already in the index is replaced. Returns the number of entries indexed.
        """
        batch = list(entries)
        if not batch:
            return 0
        # Last one wins inside a batch, like a dict update.
        latest: dict[str, Any] = {}
        for entry in batch:
            entry_id = _field_text(entry, "id")
            if not entry_id:
                raise ValueError("every entry needs a non-empty id to be indexed")
            latest[entry_id] = entry
        replaced = [i for i in latest if i in self._where]
        if replaced:
            self.remove(replaced)
        docs = list(latest.values())
        matrix = self._doc_matrix(docs)
        # Each row's indices are unique after tocsr(), so counting them counts documents per term.
        self._df += np.bincount(matrix.indices, minlength=self.n_features)
        post = matrix.T.tocsr()
        ids = np.array(list(latest), dtype=object)
        segment = _Segment(post, ids, np.ones(len(ids), dtype=bool), np.zeros(len(ids), dtype=np.float32))
        for pos, entry_id in enumerate(ids):
            self._where[entry_id] = (segment, pos)
        idf = self._idf()
        segment.set_norms(self._norms(post, idf * idf))
        self._segments.append(segment)
        self._changes_since_norm += len(ids)
        self._merge_tiers()
        self._maybe_renorm()
        return len(ids)

    def remove(self, entry_ids: Iterable[str]) -> int:
        """Drop entries by id (unknown ids are ignored); returns how many were removed."""
        removed = 0
        by_segment: dict[int, tuple[_Segment, list[int]]] = {}
        for entry_id in entry_ids:
            located = self._where.pop(entry_id, None)
            if located is None:
                continue
            seg, pos = located
            by_segment.setdefault(id(seg), (seg, []))[1].append(pos)
            removed += 1
        for seg, positions in by_segment.values():
            rows = np.asarray(positions, dtype=np.int64)
            seg.alive[rows] = False
            seg.scale[rows] = 0.0
            # The removed documents' terms: columns of the postings matrix.
            cols = seg.post[:, rows].tocoo()
            self._df -= np.bincount(cols.row, minlength=self.n_features)
        if removed:
            self._changes_since_norm += removed
            self._segments = [s for s in self._segments if s.alive.any()]
            self._maybe_renorm()
        return removed

    def _merge_tiers(self) -> None:
        """Merge runs of segments of similar size so a query touches O(log N) segments."""
        while len(self._segments) >= MERGE_FACTOR:
            tail = self._segments[-MERGE_FACTOR:]
            smallest = min(s.size for s in tail)
            if (
                max(s.size for s in tail) > MERGE_FACTOR * max(smallest, 1)
                and len(self._segments) < 4 * MERGE_FACTOR
            ):
                break
            self._segments[-MERGE_FACTOR:] = [self._merge(tail)]

    def _merge(self, segments: list[_Segment]) -> _Segment:
        posts = []
        ids = []
        norms = []
        for seg in segments:
            keep = np.flatnonzero(seg.alive)
            posts.append(seg.post[:, keep] if keep.size < seg.size else seg.post)
            ids.append(seg.ids[keep])
            norms.append(seg.norms[keep])
        post = sp.hstack(posts, format="csr", dtype=np.float32)
        merged = _Segment(
            post, np.concatenate(ids), np.ones(sum(len(i) for i in ids), dtype=bool), np.concatenate(norms)
        )
        for pos, entry_id in enumerate(merged.ids):
            self._where[entry_id] = (merged, pos)
        return merged

    # ------------------------------------------------------------------ search

    def _query_vectors(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Rows = queries, already weighted by IDF squared and divided by the query norm."""
        matrix = self._vectorise(texts)
        if matrix.nnz:
            idf = self._idf(matrix.indices)
            weighted = matrix.data * idf
            row_of = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
            qnorm = np.sqrt(np.bincount(row_of, weights=weighted * weighted, minlength=matrix.shape[0]))
            qnorm[qnorm == 0] = 1.0
            matrix.data = (weighted * idf / qnorm[row_of]).astype(np.float32)
        return matrix

    def search(self, text: str, k: int = 5, min_score: float = 0.0) -> list[Hit]:
        """The ``k`` entries closest to ``text``, best first (only scores above ``min_score``)."""
        return self.search_batch([text], k=k, min_score=min_score)[0]

    def search_batch(
        self, texts: Sequence[str], k: int = 5, min_score: float = 0.0, chunk: int = 64
    ) -> list[list[Hit]]:
        """:meth:`search` for many texts, scored ``chunk`` queries per sparse product.

        Scores stay sparse (only documents sharing a term with the query), so memory follows the
        matches, never ``queries x N``. The Python loops run over queries and segments, not entries.
        """
        self._maybe_renorm()
        texts = list(texts)
        if k <= 0 or not self._segments:
            return [[] for _ in texts]
        floor = max(min_score, 0.0)  # removed documents score exactly 0
        results: list[list[Hit]] = []
        for start in range(0, len(texts), chunk):
            queries = self._query_vectors(texts[start : start + chunk])
            m = queries.shape[0]
            cand_scores: list[list[np.ndarray]] = [[] for _ in range(m)]
            cand_where: list[list[tuple[_Segment, np.ndarray]]] = [[] for _ in range(m)]
            for seg in self._segments:
                dots = (queries @ seg.post).tocsr()
                if not dots.nnz:
                    continue
                dots.data *= seg.scale[dots.indices]
                for r in range(m):
                    lo, hi = dots.indptr[r], dots.indptr[r + 1]
                    if lo == hi:
                        continue
                    values = dots.data[lo:hi]
                    cols = dots.indices[lo:hi]
                    if hi - lo > k:
                        best = _top_k(values, k)
                        values, cols = values[best], cols[best]
                    cand_scores[r].append(values)
                    cand_where[r].append((seg, cols))
            for r in range(m):
                if not cand_scores[r]:
                    results.append([])
                    continue
                values = np.concatenate(cand_scores[r])
                owners = [(seg, int(c)) for seg, cols in cand_where[r] for c in cols]
                order = np.argsort(-values, kind="stable")[:k]
                results.append(
                    [
                        Hit(str(owners[i][0].ids[owners[i][1]]), float(min(values[i], 1.0)))
                        for i in order
                        if values[i] > floor
                    ]
                )
        return results

    # ------------------------------------------------------------------ persistence

    def to_bytes(self, compress: bool = True) -> bytes:
        """Serialise the index (no pickle: arrays in an ``.npz`` plus a JSON header).

        :param compress: deflate the arrays (about 3x smaller, several times slower to write).
        """
        live = [self._merge_alive(seg) for seg in self._segments]
        meta = {
            "format": FORMAT_VERSION,
            "n_features": self.n_features,
            "ngram_range": list(self.ngram_range),
            "field_weights": self.field_weights,
            "renorm_fraction": self.renorm_fraction,
            "segments": len(live),
        }
        arrays: dict[str, np.ndarray] = {"df": self._df}
        for i, (post, ids) in enumerate(live):
            arrays[f"s{i}_data"] = post.data
            arrays[f"s{i}_indices"] = post.indices
            arrays[f"s{i}_indptr"] = post.indptr
            arrays[f"s{i}_ids"] = np.frombuffer(json.dumps(list(map(str, ids))).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        (np.savez_compressed if compress else np.savez)(buffer, **arrays)
        header = json.dumps(meta).encode()
        return MAGIC + len(header).to_bytes(4, "big") + header + buffer.getvalue()

    @staticmethod
    def _merge_alive(seg: _Segment) -> tuple[sp.csr_matrix, np.ndarray]:
        if seg.alive.all():
            return seg.post, seg.ids
        keep = np.flatnonzero(seg.alive)
        return seg.post[:, keep].tocsr(), seg.ids[keep]

    @classmethod
    def from_bytes(cls, blob: bytes) -> VectorIndex:
        """Load an index written by :meth:`to_bytes`.

        :raises RetrievalIndexError: when ``blob`` is not such an index or is damaged; rebuild the
            index from the knowledge base to fix it.
        """
        fix = "rebuild the index from the knowledge base"
        if not isinstance(blob, (bytes, bytearray, memoryview)):
            raise RetrievalIndexError(f"expected bytes, got {type(blob).__name__}; {fix}")
        blob = bytes(blob)
        if not blob.startswith(MAGIC[:-2]):
            raise RetrievalIndexError(f"not a retrieval index (bad magic bytes); {fix}")
        if not blob.startswith(MAGIC):
            raise RetrievalIndexError(f"unsupported retrieval index format {blob[: len(MAGIC)]!r}; {fix}")
        try:
            size = int.from_bytes(blob[len(MAGIC) : len(MAGIC) + 4], "big")
            start = len(MAGIC) + 4
            meta = json.loads(blob[start : start + size])
            if meta.get("format") != FORMAT_VERSION:
                raise RetrievalIndexError(
                    f"unsupported retrieval index version {meta.get('format')!r}; {fix}"
                )
            index = cls(
                n_features=int(meta["n_features"]),
                ngram_range=tuple(meta["ngram_range"]),
                field_weights={str(k): float(v) for k, v in meta["field_weights"].items()},
                renorm_fraction=float(meta["renorm_fraction"]),
            )
            with np.load(io.BytesIO(blob[start + size :]), allow_pickle=False) as arrays:
                df = arrays["df"].astype(np.int64)
                if df.shape != (index.n_features,):
                    raise RetrievalIndexError(f"document-frequency table has the wrong shape; {fix}")
                for i in range(int(meta["segments"])):
                    ids = np.array(json.loads(arrays[f"s{i}_ids"].tobytes().decode()), dtype=object)
                    post = sp.csr_matrix(
                        (arrays[f"s{i}_data"], arrays[f"s{i}_indices"], arrays[f"s{i}_indptr"]),
                        shape=(index.n_features, len(ids)),
                    )
                    post.check_format(full_check=True)
                    seg = _Segment(
                        post, ids, np.ones(len(ids), dtype=bool), np.zeros(len(ids), dtype=np.float32)
                    )
                    for pos, entry_id in enumerate(ids):
                        index._where[entry_id] = (seg, pos)
                    index._segments.append(seg)
            index._df = df
        except RetrievalIndexError:
            raise
        except Exception as exc:  # any decoding failure means the same thing to the caller
            raise RetrievalIndexError(
                f"damaged retrieval index ({type(exc).__name__}: {exc}); {fix}"
            ) from exc
        index.refresh()
        return index


def build_index(entries: Iterable[Any], **params: Any) -> VectorIndex:
    """A new :class:`VectorIndex` over ``entries`` (``params`` go to its constructor)."""
    index = VectorIndex(**params)
    index.add(entries)
    return index
