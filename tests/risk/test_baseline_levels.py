from __future__ import annotations

from sentinel.risk.baseline import SeasonalBaseline
from sentinel.risk.levels import LevelState
from sentinel.risk.options import DEFAULT_MIN_VOICES, DEFAULT_THRESHOLDS

H = 3600.0
T0 = 1_790_000_000.0 - 1_790_000_000.0 % (24 * H) - 8 * H  # a local (UTC+8) midnight


def feed(b: SeasonalBaseline, hours: int, per_hour: float, *, start: float = T0, neg: float = 0.1) -> float:
    t = start
    for _ in range(hours):
        n = int(per_hour)
        for i in range(n):
            b.add(t + i * H / max(n, 1), 1.0, neg)
        t += H
        b.roll(t)
    return t


def test_cold_start_has_no_expectation() -> None:
    b = SeasonalBaseline()
    assert b.expected(T0, 600) is None
    b.add(T0, 1.0, 0.0)
    assert b.expected(T0 + 60, 600) is None


def test_learns_level_and_share() -> None:
    b = SeasonalBaseline()
    t = feed(b, 48, 60)
    exp = b.expected(t, H)
    assert exp is not None and abs(exp[0] - 60) < 6
    assert b.negative_share is not None and abs(b.negative_share - 0.1) < 0.02


def test_daily_rhythm() -> None:
    b = SeasonalBaseline()
    t = T0
    for _day in range(7):
        for hour in range(24):
            n = 100 if 9 <= hour < 21 else 10
            for i in range(n):
                b.add(t + i * H / n, 1.0, 0.0)
            t += H
            b.roll(t)
    noon = b.expected(T0 + 7 * 24 * H + 12 * H, H)
    night = b.expected(T0 + 7 * 24 * H + 3 * H, H)
    assert noon is not None and night is not None
    assert noon[0] > 4 * night[0]


def test_a_gap_is_not_a_quiet_period() -> None:
    b = SeasonalBaseline()
    t = feed(b, 48, 60)
    before = b.expected(t, H)
    b.add(t + 10 * 24 * H, 1.0, 0.0)  # ten days without a single post: the collector was down
    b.roll(t + 10 * 24 * H + H)
    after = b.expected(t + 10 * 24 * H + H, H)
    assert before is not None and after is not None
    assert after[0] > 0.5 * before[0]


def test_one_wild_hour_is_winsorised_and_frozen_hours_are_not_learned() -> None:
    b = SeasonalBaseline()
    t = feed(b, 48, 20)
    t = feed(b, 1, 2000, start=t)
    exp = b.expected(t, H)
    assert exp is not None and exp[0] < 40
    frozen = SeasonalBaseline()
    t = feed(frozen, 48, 20)
    level = frozen.level_n
    for i in range(500):
        frozen.add(t + i, 1.0, 1.0)
    frozen.roll(t + H, frozen=True)
    assert frozen.level_n == level


def _step(s: LevelState, t: float, risk: float, voices: int = 100):  # type: ignore[no-untyped-def]
    target = s.target(risk, voices, DEFAULT_THRESHOLDS, DEFAULT_MIN_VOICES)
    return s.step(t, risk, target, DEFAULT_THRESHOLDS, hysteresis=10, cooldown=600, resolve_after=1800)


def test_escalate_fast_deescalate_slowly_then_resolve() -> None:
    s = LevelState()
    assert _step(s, 0, 10) is None
    tr = _step(s, 10, 50)
    assert tr is not None and (tr.event, tr.level) == ("opened", 2)
    tr = _step(s, 20, 85)
    assert tr is not None and (tr.event, tr.level) == ("escalated", 4)
    # inside the hysteresis band: no change
    assert _step(s, 30, 75) is None and s.level == 4
    events = []
    for t in range(40, 4000, 10):
        tr = _step(s, t, 5)
        if tr is not None:
            events.append((tr.event, tr.level, t))
    # one level per cooldown, then resolved once the score has been low for resolve_after
    assert [e[:2] for e in events] == [("deescalated", 3), ("deescalated", 2), ("resolved", 2)]
    assert events[0][2] >= 640  # not before the cooldown
    assert events[-1][0] == "resolved" and events[-1][2] >= 40 + 1800


def test_minimum_evidence_caps_the_level() -> None:
    s = LevelState()
    tr = _step(s, 0, 95, voices=3)
    assert tr is not None and tr.level == 1  # a high score from three voices is only blue
    tr = _step(s, 10, 95, voices=DEFAULT_MIN_VOICES["red"])
    assert tr is not None and tr.level == 4
