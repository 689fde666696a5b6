from __future__ import annotations

import pytest

from rig.policy import LaserDecision, ZonePolicy
from rig.protocol.models import Decision, OpenLoopSchedule, Phase, Safety
from rig.zones import ZoneId

L, R, N, X = ZoneId.LEFT, ZoneId.RIGHT, ZoneId.NEUTRAL, ZoneId.LOST
DT = 0.1


def _policy(
    *,
    debounce: int = 1,
    neutral: str = "hold",
    grace: int = 0,
    mode: str = "closed_loop",
    stim: str = "left",
    swap: bool = False,
    schedule: OpenLoopSchedule | None = None,
    **safety: float | str,
) -> ZonePolicy:
    policy = ZonePolicy(
        # frame counts as seconds at DT per frame (the schema-1 -> 2 conversion)
        Decision(
            debounce_s=(debounce - 1) * DT, neutral_band=neutral, tracking_loss_grace_s=grace * DT
        ),
        Safety(**safety),  # type: ignore[arg-type]
        stim,
    )
    policy.start_phase(
        Phase(name="p", duration_s=1000, mode=mode, swap_sides=swap, schedule=schedule), 0.0
    )
    return policy


def _run(policy: ZonePolicy, zones: list[ZoneId], t0: float = 0.0) -> list[LaserDecision]:
    return [policy.step(z, t0 + i * DT) for i, z in enumerate(zones)]


def _on(decisions: list[LaserDecision]) -> list[int]:
    return [int(d.laser_on) for d in decisions]


def _kinds(decisions: list[LaserDecision]) -> list[str]:
    return [e.kind for d in decisions for e in d.events]


def test_debounce_needs_n_consecutive_frames() -> None:
    policy = _policy(debounce=3)
    decisions = _run(policy, [L, L, L, R, R, L, R, R, R, L])
    assert _on(decisions) == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]
    assert _kinds(decisions).count("zone_entry") == 2
    assert decisions[2].events[-1].kind == "laser_on"
    assert decisions[8].events[-1].detail == {"reason": "zone"}


def test_lost_frame_breaks_debounce_run() -> None:
    policy = _policy(debounce=2, grace=10)
    assert _on(_run(policy, [R, R, L, X, L, L])) == [0, 0, 0, 0, 0, 1]


def test_neutral_hold_and_off() -> None:
    hold = _policy(neutral="hold")
    assert _on(_run(hold, [N, L, N, N, R, N, L])) == [0, 1, 1, 1, 0, 0, 1]
    off = _policy(neutral="off")
    decisions = _run(off, [L, N, L])
    assert _on(decisions) == [1, 0, 1]
    assert decisions[1].events[-1].detail == {"reason": "neutral"}


def test_tracking_loss_grace_then_off_then_regained() -> None:
    policy = _policy(grace=2)
    decisions = _run(policy, [L, X, X, X, X, L])
    assert _on(decisions) == [1, 1, 1, 0, 0, 1]
    assert decisions[1].events[0].kind == "tracking_lost"
    assert decisions[3].reason == "tracking_lost"
    assert decisions[5].events[0].kind == "tracking_regained"
    assert decisions[5].events[0].detail == {"lost_frames": 4}
    zero_grace = _policy(grace=0)
    assert _on(_run(zero_grace, [L, X, L])) == [1, 0, 1]


def test_off_phase_never_lights_and_phase_change_reason() -> None:
    policy = _policy(mode="off")
    assert _on(_run(policy, [L, L, L])) == [0, 0, 0]
    policy.start_phase(Phase(name="t", duration_s=10, mode="closed_loop"), 0.3)
    assert policy.step(L, 0.3).laser_on
    policy.start_phase(Phase(name="post", duration_s=10, mode="off"), 0.4)
    decision = policy.step(L, 0.4)
    assert not decision.laser_on
    assert decision.events[-1].detail == {"reason": "phase_end"}


def test_swap_sides_reverses_stimulated_compartment() -> None:
    policy = _policy(stim="left", swap=True)
    assert policy.stim_side == "right"
    assert _on(_run(policy, [L, R])) == [0, 1]


def test_open_loop_whole_phase_and_schedule() -> None:
    whole = _policy(mode="open_loop")
    assert _on(_run(whole, [X, R, L, N])) == [1, 1, 1, 1]
    cyc = _policy(mode="open_loop", schedule=OpenLoopSchedule(on_s=0.3, off_s=0.2))
    assert _on(_run(cyc, [X] * 10)) == [1, 1, 1, 0, 0, 1, 1, 1, 0, 0]
    late = _policy(mode="open_loop", schedule=OpenLoopSchedule(on_s=0.3, off_s=0.2, start_on=False))
    assert _on(_run(late, [X] * 10)) == [0, 0, 1, 1, 1, 0, 0, 1, 1, 1]


def test_continuous_cap_forces_off_then_resumes() -> None:
    policy = _policy(max_continuous_on_s=1.0, forced_off_s=0.5)
    decisions = _run(policy, [L] * 25)
    # on at t=0.0 .. 0.9, cap at t=1.0, forced off until t=1.5, on again 1.5 .. 2.4
    assert _on(decisions) == [1] * 10 + [0] * 5 + [1] * 10
    cap = decisions[10].events
    assert [e.kind for e in cap] == ["safety_continuous_limit", "laser_off"]
    assert cap[0].detail == {"on_s": 1.0, "forced_off_s": 0.5}
    assert cap[1].detail == {"reason": "safety"}
    assert [e.kind for e in decisions[15].events] == ["safety_resume", "laser_on"]
    assert policy.safety_events == 1


def test_total_cap_continue_without_light() -> None:
    policy = _policy(max_total_on_s=0.5)
    decisions = _run(policy, [L, L, L, L, L, L, L, R, L, L])
    assert _on(decisions) == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert _kinds(decisions).count("safety_total_limit") == 1
    assert not any(d.stop_session for d in decisions)
    assert policy.total_on_s == pytest.approx(0.5)
    assert policy.total_limit_reached


def test_total_cap_stop_session() -> None:
    policy = _policy(max_total_on_s=0.3, on_total_limit="stop_session")
    decisions = _run(policy, [L] * 5)
    assert _on(decisions) == [1, 1, 1, 0, 0]
    assert decisions[3].stop_session


def test_total_on_time_counts_only_lit_intervals() -> None:
    policy = _policy()
    _run(policy, [L, L, R, R, L, R])  # lit 0.0-0.2 and 0.4-0.5
    assert policy.total_on_s == pytest.approx(0.3)


def test_force_off_reports_once() -> None:
    policy = _policy()
    policy.step(L, 0.0)
    assert [e.detail for e in policy.force_off(0.1, "stop")] == [{"reason": "stop"}]
    assert policy.force_off(0.2, "stop") == ()
