"""Each reader of an instance's CPU (health sweep, autoscaler) gets its own measurement."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from coderunner.hosts.cpu import CpuMeter, percent_between


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        ((0.0, 100.0), (1.0, 102.0), 50.0),  # 1 cpu-second over 2 s
        ((1.0, 100.0), (3.0, 101.0), 200.0),  # two cores busy
        ((1.0, 100.0), (1.0, 100.0), 0.0),  # no time passed
        ((2.0, 100.0), (1.0, 101.0), 0.0),  # a counter that went back (new process): never negative
    ],
)
def test_percent_between(before: tuple[float, float], now: tuple[float, float], expected: float) -> None:
    assert percent_between(*before, *now) == pytest.approx(expected)


def test_readers_interleaved_each_measure_since_their_own_previous_read() -> None:
    meter = CpuMeter()
    # started at t=0; busy 50 % until t=10, then 100 %
    assert meter.read("i", "health", cpu_s=5.0, now_s=10.0, started_s=0.0) == pytest.approx(50)
    assert meter.read("i", "autoscaler", cpu_s=5.0, now_s=10.0, started_s=0.0) == pytest.approx(50)
    assert meter.read("i", "health", cpu_s=7.0, now_s=12.0, started_s=0.0) == pytest.approx(100)
    # the autoscaler's interval is 10 -> 13 whatever the sweep did at 12 (a shared counter: 12 -> 13)
    assert meter.read("i", "autoscaler", cpu_s=8.0, now_s=13.0, started_s=0.0) == pytest.approx(100)
    meter.keep_only(set())
    assert meter.read("i", "health", cpu_s=8.0, now_s=16.0, started_s=0.0) == pytest.approx(50)  # fresh


@pytest.fixture
def busy() -> Iterator[psutil.Process]:
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield psutil.Process(child.pid)
    finally:
        child.kill()
        child.wait(10)


def test_a_second_reader_right_after_the_first_still_sees_the_load(busy: psutil.Process) -> None:
    """With psutil's one cpu_percent counter the second read covered microseconds and said ~0 %."""
    meter = CpuMeter()
    time.sleep(1.0)  # let it burn (not a timing assertion: both readings cover this second)
    health = meter.read_process("i", "health", busy)
    autoscaler = meter.read_process("i", "autoscaler", busy)
    assert health > 5, health  # a busy loop, even on a loaded machine
    assert autoscaler >= 0.5 * health, (health, autoscaler)
