import random

import pytest

from airflow_healer.core.remediate.engine import Verdict, backoff, decide, named_wait, retry_delay
from airflow_healer.core.remediate.registry import STRATEGIES, get_strategy, strategy_for
from airflow_healer.core.types import Classification, ErrorType
from airflow_healer.exceptions import NoStrategy


def c(error_type, confidence=0.9):
    return Classification(ErrorType(error_type), confidence)


@pytest.mark.parametrize(
    ("mode", "classification", "attempts", "verdict", "strategy"),
    [
        ("act", c("network_timeout"), 0, Verdict.ACT, "retry"),
        ("act", c("rate_limiting"), 2, Verdict.ACT, "retry"),
        ("act", c("network_timeout"), 3, Verdict.GIVE_UP, "retry"),
        ("act", c("network_timeout", 0.2), 0, Verdict.ESCALATE, None),
        ("act", c("unknown", 0.0), 0, Verdict.ESCALATE, None),
        ("act", c("permission_denied"), 0, Verdict.PROPOSE, "grant_permission"),
        ("act", c("memory_leak"), 0, Verdict.PROPOSE, "rescale"),  # no ladder declared: propose one
        ("act", c("timeout_exceeded"), 0, Verdict.ACT, "retry"),
        ("act", c("authentication_failure"), 0, Verdict.ESCALATE, "refresh_credentials"),  # no source set
        ("recommend", c("network_timeout"), 0, Verdict.PROPOSE, "retry"),
        ("observe", c("network_timeout"), 0, Verdict.OBSERVE, None),
    ],
)
def test_decisions(config, mode, classification, attempts, verdict, strategy):
    decision = decide(classification, attempts, config.replace(mode=mode, max_attempts=3))
    assert decision.verdict is verdict
    assert (decision.strategy.name if decision.strategy else None) == strategy
    assert decision.reason


def test_give_up_says_how_often_it_tried(config):
    decision = decide(c("network_timeout"), 2, config.replace(max_attempts=2))
    assert "still failing after 2 retry attempt(s) (max_attempts=2)" in decision.reason


def test_backoff_doubles_and_is_capped(config):
    cfg = config.replace(retry_backoff_seconds=5, retry_backoff_max_seconds=30)
    assert [backoff(n, cfg) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 30, 30]


def test_registry_lookup():
    assert strategy_for(ErrorType.NETWORK_TIMEOUT).name == "retry"
    assert get_strategy("retry") is STRATEGIES[0]
    assert strategy_for(ErrorType.DISK_SPACE_FULL).name == "rescale"
    assert strategy_for(ErrorType.AUTHENTICATION_FAILURE).name == "refresh_credentials"
    # Every type but unknown has a strategy; the risky ones are proposals for a person.
    assert strategy_for(ErrorType.CONFIGURATION_ERROR).name == "change_setting"
    assert all(strategy_for(t).risky for t in (ErrorType.PERMISSION_DENIED, ErrorType.SCHEMA_MISMATCH,
                                                 ErrorType.DATA_CORRUPTION, ErrorType.MISSING_DEPENDENCY,
                                                 ErrorType.CONFIGURATION_ERROR))
    with pytest.raises(NoStrategy, match="unknown"):
        strategy_for(ErrorType.UNKNOWN)
    with pytest.raises(NoStrategy, match="known strategies: retry"):
        get_strategy("reboot")
    risky = {s.name for s in STRATEGIES if s.risky}
    assert risky == {"grant_permission", "update_schema", "install_dependency", "quarantine_data", "change_setting"}


def test_network_retries_back_off_with_jitter(config):
    cfg = config.replace(retry_backoff_seconds=8, retry_backoff_max_seconds=300)
    rng = random.Random(7)
    delays = [retry_delay(ErrorType.NETWORK_TIMEOUT, 2, cfg, rng=rng) for _ in range(200)]
    assert all(8 <= d <= 16 for d in delays)  # half of 16 fixed, half random
    assert len({round(d, 3) for d in delays}) > 150  # tasks failing together do not retry together


@pytest.mark.parametrize("message, wait", [
    ("429 Too Many Requests: rate limit exceeded, Retry-After: 17", 17),
    ('HTTP 429 {"retry_after": 3}', 3),
    ("Slow down: please retry in 30 seconds", 30),
    ("Quota exceeded; try again after 2 minutes", 120),
    ("Retry-After: 1500ms", 1.5),
    ("Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'", 60),
    ("rateLimitExceeded", None),
])
def test_a_rate_limit_waits_what_the_error_names(config, message, wait):
    assert named_wait(message) == wait
    cfg = config.replace(retry_backoff_seconds=5, retry_backoff_max_seconds=300)
    decision = decide(c("rate_limiting"), 0, cfg, message=message)
    assert decision.delay == (wait if wait is not None else 20)  # else 4x the network backoff


def tier(name="memory_mb", ladder=(512, 1024, 2048), rung=0):
    return {"name": name, "ladder": list(ladder), "rung": rung, "try_number": 1}


def test_rescale_climbs_one_rung_and_stops_at_the_ceiling(config):
    climb = decide(c("resource_exhaustion"), 0, config, tiers=[tier(rung=0)])
    assert (climb.verdict, climb.strategy.name, climb.delay) == (Verdict.ACT, "rescale", 0.0)
    assert climb.detail == "memory_mb 512 -> 1024"
    top = decide(c("resource_exhaustion"), 2, config.replace(max_attempts=3), tiers=[tier(rung=2)])
    assert top.verdict is Verdict.GIVE_UP and "ceiling is reached (memory_mb=2048)" in top.reason


def test_a_task_without_a_ladder_gets_a_proposal_naming_where_to_put_one(config):
    decision = decide(c("disk_space_full"), 0, config, tiers=[])
    assert decision.verdict is Verdict.PROPOSE and "healer.tier('memory_mb'" in decision.reason


def test_a_memory_leak_climbs_one_rung_then_flags_a_person(config):
    first = decide(c("memory_leak"), 0, config, tiers=[tier()], rescales_done=0)
    assert first.verdict is Verdict.ACT and "flagged for a person" in first.reason
    second = decide(c("memory_leak"), 1, config, tiers=[tier(rung=1)], rescales_done=1)
    assert second.verdict is Verdict.ESCALATE and "leak" in second.reason


def test_credentials_are_refreshed_only_from_a_configured_source(config):
    sources = {"warehouse": "file:///run/secrets/warehouse"}
    act = decide(c("authentication_failure"), 0, config, conn_ids=["warehouse", "other"], credential_sources=sources)
    assert (act.verdict, act.strategy.name) == (Verdict.ACT, "refresh_credentials")
    assert act.detail == "refresh warehouse from file:///run/secrets/warehouse"
    none = decide(c("authentication_failure"), 0, config, conn_ids=["other"], credential_sources=sources)
    assert none.verdict is Verdict.ESCALATE and "nothing to refresh" in none.reason and "other" in none.reason
