"""The deadline rule of polled expectations (bondlab.run.deadline) on a fake clock, and what a `within`
right after an action counts from (bondlab.run.timeline), without a kernel."""

from __future__ import annotations

import pytest

from bondlab.run import deadline
from bondlab.run.results import StepResult
from bondlab.run.steps import STEPS
from bondlab.run.timeline import Timeline
from bondlab.traffic.verdict import ExpectationFailed, MeasurementError

MS = 1_000_000


class Clock:
    """Reads take `read_ms`; sleeping advances the clock; `stall_at` adds a pause to the read it hits."""

    def __init__(self, read_ms: float = 1, stall_at: int = -1, stall_ms: float = 0) -> None:
        self.now, self.reads, self.read_ms, self.stall_at, self.stall_ms = 0, 0, read_ms, stall_at, stall_ms

    def __call__(self) -> int:
        return int(self.now)

    def sleep(self, seconds: float) -> None:
        self.now += seconds * 1e9

    def read(self, true_from_ms: float):
        def predicate() -> bool:
            self.reads += 1
            if self.reads == self.stall_at:
                self.now += self.stall_ms * MS
            self.now += self.read_ms * MS
            return self.now >= true_from_ms * MS

        return predicate


def poll(clock: Clock, true_from_ms: float, within: float, base: int = 0) -> str:
    """The rule's verdict as pytest sees it: what a pass saw, else the verdict raised (its kind: its type)."""
    return deadline.polled(
        clock.read(true_from_ms), "x is up", lambda: "down", base, within, "the action", clock, clock.sleep
    ).settled()


def test_a_state_reached_before_the_deadline_passes_with_when_it_was_seen():
    assert poll(Clock(), 50, 0.15) == "after 64 ms"  # a 1 ms read every 20 ms: seen at the first after 50 ms


def test_a_state_not_reached_by_the_deadline_fails_naming_what_and_now():
    with pytest.raises(
        ExpectationFailed, match=r"x is up: not within 150 ms of the action \(now down\)"
    ) as got:
        poll(Clock(), 500, 0.15)
    assert not isinstance(got.value, MeasurementError)


def test_a_change_seen_only_after_a_stall_across_the_deadline_is_a_measurement_error():
    with pytest.raises(MeasurementError, match="deadline fell between two reads"):
        poll(Clock(stall_at=5, stall_ms=200), 120, 0.15)


def test_a_first_read_after_the_deadline_is_a_measurement_error_never_a_pass():
    with pytest.raises(MeasurementError, match="first read only"):
        poll(Clock(stall_at=1, stall_ms=300), 0, 0.15)


class FakeLab:
    def netns_name(self, role: str) -> str:
        return f"bl-{role}"


def play_action(tl: Timeline, kind: str, monkeypatch, first_change: int, ends: int) -> None:
    """Play one action whose handler sends its first link change at `first_change` and returns at `ends`."""

    def handler(timeline, args):
        tl.clock = lambda: ends
        return first_change

    entry = STEPS[kind]
    fake = type(entry)(**{**entry.__dict__, "handler": handler})
    monkeypatch.setitem(STEPS, kind, fake)
    step = type("S", (), {"is_action": True, "kind": kind, "args": {}})()
    tl.play(step, StepResult(0, kind, kind, "t:1", t=first_change), [])


def test_within_after_an_action_that_lasts_counts_from_its_end(monkeypatch):
    tl = Timeline(FakeLab())
    play_action(tl, "flap", monkeypatch, first_change=1_000 * MS, ends=3_000 * MS)
    assert tl.since == 3_000 * MS  # 20 flaps of 100 ms: a `within: 2s` check counts from here


def test_within_after_a_cut_counts_from_its_link_change(monkeypatch):
    tl = Timeline(FakeLab())
    play_action(tl, "cut", monkeypatch, first_change=1_000 * MS, ends=1_200 * MS)
    assert tl.since == 1_000 * MS and len(tl.actions) == 1


def test_the_flap_then_within_case_passes_where_counting_from_the_start_could_not():
    clock = Clock()
    clock.now = 2_000 * MS  # the flapping took 2 s; the MII is back up 50 ms after it ended
    assert poll(clock, 2_050, 2.0, base=2_000 * MS).startswith("after")
    late = Clock()
    late.now = 2_000 * MS
    with pytest.raises(ExpectationFailed, match="not within 2000 ms"):  # counted from the flap's start
        poll(late, 2_050, 2.0, base=0)
