"""HealerRetryPolicy: the decisions a task author sees, with the real classifier and real exceptions."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
from datetime import timedelta

import pytest
from airflow.sdk.definitions.retry_policy import RetryAction, RetryDecision, RetryPolicy

from airflow_healer.core.classify import get_classifier
from airflow_healer.core.config import HealerConfig
from airflow_healer.core.types import Classification, ErrorType
from airflow_healer.retry_policy import (
    DEFAULT_RULES,
    ErrorTypeRule,
    HealerRetryPolicy,
    exception_text,
    named_delay,
    shared_classifier,
)

READ_TIMEOUT = "HTTPSConnectionPool(host='api.x.com', port=443): Read timed out. (read timeout=30)"
TOO_MANY = ("429 Client Error: Too Many Requests for url: https://api.x.com/v1/orders "
            "(headers: {'Retry-After': '17', 'Content-Type': 'application/json'}). Retry-After: 17")
FORBIDDEN = ("google.api_core.exceptions.Forbidden: 403 POST https://bigquery.googleapis.com/bigquery/v2/projects/"
             "acme-prod/jobs?prettyPrint=false: Access Denied: Project acme-prod: User does not have "
             "bigquery.jobs.create permission in project acme-prod.")


@pytest.fixture(autouse=True)
def _isolated_home(airflow_home):
    """Every test reads [healer] settings from a temporary AIRFLOW_HOME, never ~/airflow."""
    return airflow_home


@pytest.fixture(scope="module")
def classifier():
    """The shipped model with the seed knowledge, as a worker loads it (about a second, once)."""
    return get_classifier(HealerConfig(store_url="sqlite:////nonexistent/unused.db", spool_dir="/nonexistent"),
                          store=None)


@pytest.fixture
def policy(classifier) -> HealerRetryPolicy:
    return HealerRetryPolicy(classifier=classifier)


class Fixed:
    """A classifier that always gives the same answer."""

    name = "fixed"

    def __init__(self, error_type: ErrorType, confidence: float):
        self.answer = Classification(error_type, confidence, classifier=self.name)
        self.calls: list[str] = []

    def classify(self, text, *, exception_type=None, operator=None):
        self.calls.append(text)
        return self.answer


class Raising:
    name = "raising"

    def classify(self, text, *, exception_type=None, operator=None):
        raise RuntimeError("the model file is damaged")


class ReturnsNone:
    name = "none"

    def classify(self, text, *, exception_type=None, operator=None):
        return None


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no __str__ for you")


def chained() -> BaseException:
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as exc:
            raise RuntimeError("fetch of orders failed") from exc
    except RuntimeError as exc:
        return exc


# -- the decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "action", "error_type"),
    [
        pytest.param(TimeoutError(READ_TIMEOUT), RetryAction.RETRY, "network_timeout", id="read-timeout"),
        pytest.param(Exception(TOO_MANY), RetryAction.RETRY, "rate_limiting", id="429-retry-after"),
        pytest.param(Exception(FORBIDDEN), RetryAction.FAIL, "permission_denied", id="403-permission"),
        pytest.param(Exception("OSError: [Errno 28] No space left on device: '/tmp/extract/part-0007.parquet'"),
                     RetryAction.FAIL, "disk_space_full", id="disk-full"),
        pytest.param(chained(), RetryAction.RETRY, "network_timeout", id="cause-names-the-problem"),
        pytest.param(ValueError("something went wrong"), RetryAction.DEFAULT, "unknown", id="unsure"),
    ],
)
def test_each_kind_of_failure_gets_its_decision_and_a_reason(policy, exception, action, error_type):
    decision = policy.evaluate(exception, try_number=1, max_tries=3)

    assert isinstance(decision, RetryDecision)
    assert decision.action is action
    assert error_type in decision.reason
    assert len(decision.reason) <= 500
    if action is not RetryAction.RETRY:
        assert decision.retry_delay is None


def test_a_read_timeout_is_retried_after_a_short_backoff_with_jitter(policy):
    delays = {policy.evaluate(TimeoutError(READ_TIMEOUT), 1, 3).retry_delay for _ in range(20)}

    assert all(timedelta(seconds=7.5) <= d <= timedelta(seconds=12.5) for d in delays)
    assert len(delays) > 1  # jittered: tasks failing together do not come back together


@pytest.mark.parametrize(("try_number", "low", "high"), [(1, 7.5, 12.5), (2, 15, 25), (3, 30, 50), (9, 450, 600)])
def test_the_backoff_grows_with_each_try_up_to_its_cap(policy, try_number, low, high):
    delay = policy.evaluate(TimeoutError(READ_TIMEOUT), try_number, max_tries=10).retry_delay

    assert timedelta(seconds=low) <= delay <= timedelta(seconds=high)


def test_a_rate_limit_waits_the_delay_the_server_named(policy):
    decision = policy.evaluate(Exception(TOO_MANY), try_number=1, max_tries=3)

    assert decision.retry_delay == timedelta(seconds=17)
    assert "asked for 17 s" in decision.reason


def test_a_rate_limit_without_a_named_delay_backs_off_longer_than_a_timeout(policy):
    decision = policy.evaluate(Exception("429 Too Many Requests: rate limit exceeded for /v1/orders"), 1, 3)

    assert decision.action is RetryAction.RETRY
    assert decision.retry_delay >= timedelta(seconds=45)


def test_a_permanent_error_fails_fast_and_says_why(policy):
    decision = policy.evaluate(Exception(FORBIDDEN), try_number=1, max_tries=5)

    assert decision.action is RetryAction.FAIL
    assert "fail fast" in decision.reason
    assert "acme-prod" not in decision.reason  # the reason is stored: it never repeats the message


@pytest.mark.parametrize(("try_number", "max_tries"), [(4, 3), (1, 0), (2, 1)])
def test_no_retry_is_asked_for_when_the_task_has_none_left(try_number, max_tries):
    sure = Fixed(ErrorType.NETWORK_TIMEOUT, 0.99)
    decision = HealerRetryPolicy(classifier=sure).evaluate(TimeoutError(READ_TIMEOUT), try_number, max_tries)

    assert decision.action is RetryAction.DEFAULT
    assert "no retry left" in decision.reason
    assert sure.calls == []  # a task without retries does not pay for a classification


def test_the_last_allowed_retry_is_still_taken():
    decision = HealerRetryPolicy(classifier=Fixed(ErrorType.NETWORK_TIMEOUT, 0.99)).evaluate(
        TimeoutError(READ_TIMEOUT), try_number=3, max_tries=3)

    assert decision.action is RetryAction.RETRY


# -- it never changes how a task fails ----------------------------------------------------------


@pytest.mark.parametrize("broken", [Raising(), ReturnsNone()], ids=["raises", "returns-none"])
def test_a_broken_classifier_leaves_the_task_to_its_own_retries(broken, caplog):
    decision = HealerRetryPolicy(classifier=broken).evaluate(TimeoutError(READ_TIMEOUT), 1, 3)

    assert decision.action is RetryAction.DEFAULT
    assert decision.retry_delay is None
    assert "could not decide" in decision.reason
    assert "HealerRetryPolicy could not decide" in caplog.text


def test_an_exception_that_cannot_be_printed_is_still_decided(policy):
    decision = policy.evaluate(Unprintable(), 1, 3)

    assert decision.action is RetryAction.DEFAULT
    assert "unsure" in decision.reason  # classified (by its type name), not an error inside the policy


def test_bad_settings_in_airflow_cfg_leave_the_task_to_its_own_retries(airflow_home):
    (airflow_home / "airflow.cfg").write_text("[healer]\nmin_confidence = very\n")

    decision = HealerRetryPolicy(classifier=Fixed(ErrorType.NETWORK_TIMEOUT, 0.99)).evaluate(
        TimeoutError(READ_TIMEOUT), 1, 3)

    assert decision.action is RetryAction.DEFAULT


def test_running_out_of_memory_fails_fast_without_loading_the_model():
    # No classifier injected: a MemoryError is decided by the rules, so nothing large loads.
    decision = HealerRetryPolicy().evaluate(MemoryError("Unable to allocate 7.45 GiB for an array"), 1, 3)

    assert decision.action is RetryAction.FAIL
    assert "same machine" in decision.reason


# -- confidence and rules ---------------------------------------------------------------------


@pytest.mark.parametrize(("min_confidence", "action"), [(0.6, RetryAction.DEFAULT), (0.4, RetryAction.RETRY)])
def test_an_answer_below_min_confidence_defers(min_confidence, action):
    guess = Fixed(ErrorType.NETWORK_TIMEOUT, 0.5)
    decision = HealerRetryPolicy(classifier=guess, min_confidence=min_confidence).evaluate(
        TimeoutError(READ_TIMEOUT), 1, 3)

    assert decision.action is action


@pytest.mark.parametrize(("setting", "action"), [("0.9", RetryAction.DEFAULT), ("0.2", RetryAction.RETRY)])
def test_min_confidence_comes_from_the_healer_settings_by_default(monkeypatch, setting, action):
    monkeypatch.setenv("AIRFLOW__HEALER__MIN_CONFIDENCE", setting)

    decision = HealerRetryPolicy(classifier=Fixed(ErrorType.NETWORK_TIMEOUT, 0.5)).evaluate(
        TimeoutError(READ_TIMEOUT), 1, 3)

    assert decision.action is action


def test_a_rule_can_ask_more_certainty_before_failing_a_task():
    rules = {ErrorType.PERMISSION_DENIED: ErrorTypeRule.fail("no access", min_confidence=0.9)}
    policy = HealerRetryPolicy(classifier=Fixed(ErrorType.PERMISSION_DENIED, 0.8), rules=rules)

    assert policy.evaluate(Exception(FORBIDDEN), 1, 3).action is RetryAction.DEFAULT


@pytest.mark.parametrize("key", [ErrorType.AUTHENTICATION_FAILURE, "authentication_failure"])
def test_rules_replace_the_defaults_of_the_types_they_name(policy, key):
    rotating = ErrorTypeRule.retry(timedelta(minutes=5), backoff=1.0, reason="the vault rotates keys hourly")
    custom = HealerRetryPolicy(classifier=policy.classifier, rules={key: rotating})
    expired = Exception("google.auth.exceptions.RefreshError: ('invalid_grant: Token has been expired or revoked.')")

    assert policy.evaluate(expired, 1, 3).action is RetryAction.FAIL
    decision = custom.evaluate(expired, 2, 3)
    assert decision.action is RetryAction.RETRY
    assert decision.retry_delay == timedelta(minutes=5)
    assert custom.rule_for(ErrorType.NETWORK_TIMEOUT) == DEFAULT_RULES["network_timeout"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"rules": {"network_glitch": ErrorTypeRule.retry()}}, ValueError),
        ({"rules": {"network_timeout": {"action": "retry"}}}, TypeError),
        ({"rules": [("network_timeout", ErrorTypeRule.retry())]}, TypeError),
        ({"min_confidence": 1.5}, ValueError),
    ],
)
def test_a_wrong_setting_is_refused_when_the_dag_is_parsed(kwargs, error):
    with pytest.raises(error):
        HealerRetryPolicy(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"action": RetryAction.FAIL, "delay": timedelta(seconds=5)},
        {"action": RetryAction.RETRY, "delay": 60},
        {"action": RetryAction.RETRY, "backoff": 0.5},
        {"action": RetryAction.RETRY, "jitter": 1.0},
        {"action": "retry"},
    ],
)
def test_a_rule_that_cannot_mean_anything_is_refused(kwargs):
    with pytest.raises((TypeError, ValueError)):
        ErrorTypeRule(**kwargs)


def test_every_error_type_has_a_default_rule_and_unknown_defers():
    assert set(DEFAULT_RULES) == {t.value for t in ErrorType}
    assert DEFAULT_RULES["unknown"].action is RetryAction.DEFAULT
    retried = {t for t, rule in DEFAULT_RULES.items() if rule.action is RetryAction.RETRY}
    assert retried == {"network_timeout", "rate_limiting", "timeout_exceeded", "resource_exhaustion"}


# -- what is classified ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Retry-After: 17", 17),
        ("{'Retry-After': '17', 'Server': 'nginx'}", 17),
        ("Quota exceeded. Please retry in 34.5s.", 34.5),
        ("Rate limit reached. Please try again in 20 seconds.", 20),
        ("throttled; retry after 2 minutes", 120),
        ('"retryDelay": "41s"', 41),
        ("429 Too Many Requests", None),
        ("retried 3 times in 5 seconds", None),
    ],
)
def test_a_delay_named_in_the_message_is_read(text, seconds):
    assert named_delay(text) == seconds


def test_the_text_holds_the_exception_and_its_cause_within_the_cap():
    try:
        try:
            raise ConnectionResetError("Connection reset by peer")
        except ConnectionResetError as exc:
            raise RuntimeError("x" * 100_000) from exc
    except RuntimeError as exc:
        text = exception_text(exc, limit=1000)

    assert len(text) <= 1000
    assert text.startswith("RuntimeError: xxx")
    assert "ConnectionResetError: Connection reset by peer" in text


def test_the_text_survives_a_cycle_in_the_chain():
    a, b = ValueError("a"), KeyError("b")
    a.__context__, b.__context__ = b, a

    assert exception_text(a) == "ValueError: a\nKeyError: 'b'"


# -- the shared classifier ----------------------------------------------------------------------


def test_without_a_classifier_the_worker_loads_one_once_and_decides_with_it():
    policy = HealerRetryPolicy()

    assert policy.evaluate(TimeoutError(READ_TIMEOUT), 1, 3).action is RetryAction.RETRY
    assert shared_classifier(HealerConfig.load()) is shared_classifier(HealerConfig.load())


def test_a_store_that_cannot_be_opened_still_leaves_the_shipped_model(monkeypatch):
    monkeypatch.setenv("AIRFLOW__HEALER__STORE_URL", "postgresql://healer@db.internal/healer")

    assert HealerRetryPolicy().evaluate(Exception(FORBIDDEN), 1, 3).action is RetryAction.FAIL


def test_importing_the_policy_in_a_dag_file_loads_no_heavy_library():
    probe = """
import json, sys
import airflow.sdk
before = set(sys.modules)
from datetime import timedelta
from airflow.sdk import DAG, task
from airflow_healer.retry_policy import HealerRetryPolicy
with DAG("orders", schedule=None):
    @task(retries=3, retry_policy=HealerRetryPolicy())
    def load(): pass
    load()
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    new = set(json.loads(out.strip().splitlines()[-1]))

    assert "airflow_healer.retry_policy" in new
    assert not {m for m in new if m.split(".")[0] in ("sklearn", "pandas", "scipy")}
    assert not {m for m in new if m.startswith("google.cloud")}


# -- as a task attribute --------------------------------------------------------------------


CUSTOM = {"authentication_failure": ErrorTypeRule.retry(timedelta(minutes=5), backoff=1.0, reason="rotating keys"),
          "rate_limiting": ErrorTypeRule.retry(timedelta(seconds=30), max_delay=timedelta(minutes=2),
                                               honour_named_delay=False),
          "memory_leak": ErrorTypeRule.defer("the next try runs on a larger worker")}


@pytest.mark.parametrize(
    "original",
    [HealerRetryPolicy(), HealerRetryPolicy(rules=CUSTOM, min_confidence=0.5, max_text_chars=2000)],
    ids=["defaults", "custom"],
)
def test_the_policy_round_trips_through_serialize_pickle_and_deepcopy(original, classifier):
    data = json.loads(json.dumps(original.serialize()))
    restored = [HealerRetryPolicy.deserialize(data), pickle.loads(pickle.dumps(original)), copy.deepcopy(original)]

    assert data["__type"] == "airflow_healer.retry_policy.HealerRetryPolicy"
    for policy in restored:
        assert isinstance(policy, RetryPolicy)
        assert policy.serialize() == original.serialize()
        assert policy.rules == original.rules


def test_a_deep_copy_shares_the_injected_classifier(classifier):
    original = HealerRetryPolicy(classifier=classifier)

    assert copy.deepcopy(original).classifier is classifier


def test_a_dag_with_the_policy_serializes_with_the_flag_and_keeps_it_on_the_task():
    from airflow.sdk import DAG, task
    from airflow.serialization.serialized_objects import DagSerialization

    policy = HealerRetryPolicy(rules=CUSTOM)
    with DAG("orders", schedule=None) as dag:
        @task(retries=3, retry_policy=policy)
        def load():
            pass

        load()

    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))

    assert dag.get_task("load").retry_policy is policy
    assert serialized.get_task("load").has_retry_policy
    assert dag.partial_subset(["load"]).get_task("load").retry_policy.serialize() == policy.serialize()


def test_the_operator_reaches_the_classifier_from_the_context():
    seen = []

    class Recording(Fixed):
        def classify(self, text, *, exception_type=None, operator=None):
            seen.append((exception_type, operator))
            return super().classify(text)

    class Task:
        task_type = "HttpOperator"

    HealerRetryPolicy(classifier=Recording(ErrorType.NETWORK_TIMEOUT, 0.9)).evaluate(
        TimeoutError(READ_TIMEOUT), 1, 3, context={"task": Task()})

    assert seen == [("TimeoutError", "HttpOperator")]
