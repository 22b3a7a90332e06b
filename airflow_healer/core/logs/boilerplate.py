"""What boilerplate looks like, learnt from logs rather than listed by hand.

A small Drain-style template miner: each line is masked (ids, numbers, paths, timestamps become
``<NUM>``, ``<PATH>`` ...), split into tokens, and grouped with the templates of the same length and
first token; a line joins a template when enough of their tokens agree, and the tokens that differ
become ``<*>``. Templates mined from the logs of *successful* tries are, by construction, not why a
try failed. The package ships templates mined from Airflow 3 and Airflow 2 task logs (the task runner,
supervisor, DagBag, connection, XCom and operator start/stop lines) plus the handful of failure lines
Airflow itself writes (``Marking task as FAILED`` ...), in ``data/boilerplate.txt``; a deployment adds
what it learns from its own successful logs (kept in the store).

Error-shaped lines (an ERROR level, "exception", "timed out" ...) are never learnt from a
successful log: a warning that a retry absorbed in a good run may be the cause in a bad one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from importlib import resources

from airflow_healer.core.normalize import mask

WILDCARD = "<*>"
#: A template's last token when the rest of the line may be anything ("Running command: <...>").
REST = "<...>"
_TOKEN = re.compile(r"\S+")
#: Words that make a line error-shaped: such lines are never learnt as boilerplate.
ERROR_SHAPE = re.compile(
    r"(?i)error|exception|traceback|fail|fatal|denied|refused|forbidden|unauthori[sz]ed|not authori[sz]ed|"
    r"timed? ?out|timeout|exceeded|exhaust|quota|throttl|killed|oom|out of memory|no space|low on|evicted|"
    r"not found|no such|does not exist|doesn't exist|not exist|cannot|can't|could not|couldn't|unable|invalid|"
    r"illegal|malformed|corrupt|mismatch|does not match|doesn't match|incompatible|unsupported|unexpected|"
    r"missing|expired|reset by peer|unavailable|abort|panic|crash|stuck|rejected|violat|conflict|"
    r"insufficient|not allowed|too many|overflow|deadline|undefined|unknown|lost|broken|wrong|"
    r"no module named|not installed|unrecognized|unrecognised|thrashing|heap|shutting down|terminated|"
    r"interrupted|rollback|retrying|giving up|not supported|required|"
    # HTTP statuses where they read as one ("403 Forbidden", "status 429", "(503)"), not any count 400-599
    r"(?<![.,:\d])\b[45]\d\d(?=(?-i::?\s+[A-Z]|\)))|(?:HTTP|status|code|error|returned|response)\W{0,4}[45]\d\d\b"
)


def tokens(text: str) -> list[str]:
    """The masked tokens of one line (at most 64, so one huge line costs bounded time)."""
    return _TOKEN.findall(mask(text[:600]))[:64]


class BoilerplateMiner:
    """Learns line templates and tells whether a line matches one.

    :param similarity: the share of a template's non-wildcard tokens a line must equal to match it.
    :param max_templates: templates kept; once reached, new ones are refused (the oldest, which include
        the shipped ones, stay).
    """

    def __init__(self, similarity: float = 0.6, max_templates: int = 20_000):
        self.similarity = similarity
        self.max_templates = max_templates
        self._groups: dict[tuple[int, str], list[list[str]]] = {}
        self._prefixes: dict[str, list[list[str]]] = {}  # first token -> templates ending in REST
        self._count = 0
        # Boilerplate lines repeat from log to log, word for word: remember the answers (cleared on learning).
        self._memo: dict[str, bool] = {}

    def __len__(self) -> int:
        return self._count

    @staticmethod
    def _key(toks: list[str]) -> tuple[int, str]:
        first = toks[0] if toks else ""
        # A first token that is itself variable (a masked id) would scatter one template over many groups.
        return len(toks), (WILDCARD if first.startswith("<") else first)

    def _best(self, toks: list[str]) -> tuple[list[str] | None, float]:
        best, best_score = None, 0.0
        for template in self._groups.get(self._key(toks), ()):
            fixed = [t for t in template if t != WILDCARD]
            if not fixed:
                score = 0.5
            else:
                same = sum(1 for a, b in zip(template, toks, strict=False) if a != WILDCARD and a == b)
                score = same / len(fixed)
            if score > best_score:
                best, best_score = template, score
        return best, best_score

    def learn(self, lines: Iterable[str], *, skip_error_shaped: bool = True) -> int:
        """Add the templates of ``lines``; returns how many are new.

        :param skip_error_shaped: leave out error-shaped lines (see the module docstring); the
            shipped examples of Airflow's own failure lines are learnt with False.
        """
        new = 0
        self._memo.clear()
        for line in lines:
            if not line.strip() or (skip_error_shaped and ERROR_SHAPE.search(line)):
                continue
            if line.rstrip().endswith(REST):
                before = self._count
                self._add_prefix(tokens(line.rstrip()[: -len(REST)]))
                new += self._count - before
                continue
            toks = tokens(line)
            if not toks:
                continue
            template, score = self._best(toks)
            if template is not None and score >= self.similarity:
                for i, (a, b) in enumerate(zip(template, toks, strict=False)):
                    if a != b:
                        template[i] = WILDCARD
                continue
            if self._count >= self.max_templates:
                continue
            self._groups.setdefault(self._key(toks), []).append(list(toks))
            self._count += 1
            new += 1
        return new

    def _add_prefix(self, toks: list[str]) -> None:
        if toks and self._count < self.max_templates:
            self._prefixes.setdefault(toks[0], []).append(toks)
            self._count += 1

    def add_templates(self, templates: Iterable[str]) -> None:
        """Add templates as they are (already masked, ``<*>`` for variable tokens); no error filter."""
        self._memo.clear()
        for template in templates:
            toks = template.split()
            if toks and toks[-1] == REST:
                self._add_prefix(toks[:-1])
            elif toks:
                self._groups.setdefault(self._key(toks), []).append(toks)
                self._count += 1

    def _prefix_match(self, toks: list[str]) -> bool:
        for prefix in self._prefixes.get(toks[0], ()):
            if len(toks) >= len(prefix) and all(p in (WILDCARD, t) for p, t in zip(prefix, toks, strict=False)):
                return True
        return False

    def matches(self, line: str) -> bool:
        known = self._memo.get(line)
        if known is None:
            known = self._matches(line)
            if len(self._memo) >= 8192:
                self._memo.clear()
            self._memo[line] = known
        return known

    def _matches(self, line: str) -> bool:
        toks = tokens(line)
        if not toks or not any(c.isalnum() for c in line):
            return True  # blank or punctuation only (separators, progress bars' frames)
        if self._prefix_match(toks):
            return True
        template, score = self._best(toks)
        return template is not None and score >= max(self.similarity, 0.75 if len(toks) <= 3 else 0.0)

    def templates(self) -> list[str]:
        return ([" ".join(t) for group in self._groups.values() for t in group]
                + [" ".join([*t, REST]) for group in self._prefixes.values() for t in group])

    def to_bytes(self) -> bytes:
        return json.dumps({"version": 1, "similarity": self.similarity, "max_templates": self.max_templates,
                           "templates": self.templates()}).encode()

    @classmethod
    def from_bytes(cls, blob: bytes) -> BoilerplateMiner:
        data = json.loads(blob.decode("utf-8"))
        miner = cls(similarity=float(data.get("similarity", 0.6)),
                    max_templates=int(data.get("max_templates", 20_000)))
        miner.add_templates(data.get("templates", []))
        return miner


@functools.lru_cache(maxsize=1)
def _seed() -> tuple[str, ...]:
    text = resources.files("airflow_healer.core.logs").joinpath("data/boilerplate.txt").read_text("utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def default_miner() -> BoilerplateMiner:
    """A miner holding the shipped templates (a fresh object: learning into it changes no one else's)."""
    miner = BoilerplateMiner()
    miner.learn(_seed(), skip_error_shaped=False)
    return miner
