import pytest

from airflow_healer.core.remediate.engine import Verdict, backoff, decide
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
        ("act", c("memory_leak"), 0, Verdict.ESCALATE, None),
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
    with pytest.raises(NoStrategy, match="disk_space_full"):
        strategy_for(ErrorType.DISK_SPACE_FULL)
    with pytest.raises(NoStrategy, match="known strategies: retry"):
        get_strategy("reboot")
    risky = {s.name for s in STRATEGIES if s.risky}
    assert risky == {"grant_permission", "update_schema", "install_dependency", "quarantine_data"}
