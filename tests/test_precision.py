"""The bf16 rule (precision.py): bf16 units, a large batch and a measured speed-up, or an override."""
import pytest
import torch

from server.synthesis import class_score, optimize, precision
from server.synthesis.precision import MIN_BATCH, MIN_SPEEDUP, decide, use_bf16


@pytest.mark.parametrize("batch,supported,speedup,expected", [
    (64, True, 2.5, True),                     # a GPU or an AMX CPU at a large batch
    (MIN_BATCH, True, MIN_SPEEDUP, True),
    (1, True, 2.5, False),                     # batch 1 is overhead-bound: never bf16
    (MIN_BATCH - 1, True, 2.5, False),
    (64, True, 0.75, False),                   # AVX-512 BF16 without AMX, as measured on the dev machine
    (64, True, 1.1, False),                    # within the micro-benchmark's noise
    (64, False, None, False),                  # no bf16 units
])
def test_the_rule(batch, supported, speedup, expected):
    assert decide(batch, supported=supported, speedup=speedup) is expected


def test_the_environment_overrides_the_rule(monkeypatch):
    monkeypatch.setenv("ROBUST_CANVAS_AMP", "on")
    assert use_bf16("cpu", 1)
    monkeypatch.setenv("ROBUST_CANVAS_AMP", "off")
    assert not use_bf16("cpu", 1024)


def test_small_batches_and_devices_without_bf16_units_never_measure(monkeypatch):
    monkeypatch.setenv("ROBUST_CANVAS_AMP", "auto")
    monkeypatch.setattr(precision, "measured_speedup", lambda device_type: pytest.fail("measured"))
    assert not use_bf16("cpu", 1)
    monkeypatch.setattr(precision, "has_bf16_units", lambda device_type: False)
    assert not use_bf16("cpu", 256)
    monkeypatch.setattr(precision, "has_bf16_units", lambda device_type: True)
    monkeypatch.setattr(precision, "measured_speedup", lambda device_type: 2.0)
    assert use_bf16("cpu", 256)


def test_optimize_asks_the_rule_with_its_batch_unless_told(tiny_model, monkeypatch):
    asked = []
    monkeypatch.setattr("server.synthesis.optimizer.use_bf16", lambda device, batch: asked.append(batch) or False)
    x = torch.rand(3, 3, 32, 32)
    optimize(tiny_model, x, class_score(0), steps=1, step_size=0.1)
    optimize(tiny_model, x, class_score(0), steps=1, step_size=0.1, amp=False)
    assert asked == [3]
