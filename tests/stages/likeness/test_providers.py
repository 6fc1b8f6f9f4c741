"""Where RetinaFace runs: onnxruntime's CUDA provider when the run's device asks for it or (auto) finds one."""

from __future__ import annotations

import pytest

from datahygiene.core.config import ConfigError
from datahygiene.core.stage import StageContext
from datahygiene.stages.likeness.retina import CPU, CUDA, execution_providers
from datahygiene.stages.likeness.stage import LikenessParams, make_detector

GPU_BUILD = [CUDA, CPU]  # what onnxruntime-gpu offers
CPU_BUILD = ["AzureExecutionProvider", CPU]  # what the onnxruntime wheel offers


def never() -> bool:
    raise AssertionError("the device was probed although onnxruntime offers no CUDA")


def test_auto_uses_cuda_only_when_onnxruntime_offers_it_and_a_device_is_present() -> None:
    assert execution_providers("auto", GPU_BUILD, lambda: True) == [(CUDA, {"device_id": 0}), CPU]
    assert execution_providers("auto", GPU_BUILD, lambda: False) == [CPU]
    assert execution_providers("auto", CPU_BUILD, never) == [CPU]


def test_explicit_devices() -> None:
    assert execution_providers("cpu", GPU_BUILD, never) == [CPU]
    assert execution_providers("cuda", GPU_BUILD, never) == [(CUDA, {"device_id": 0}), CPU]
    assert execution_providers("cuda:1", GPU_BUILD, never) == [(CUDA, {"device_id": 1}), CPU]
    assert execution_providers("mps", GPU_BUILD, never) == [CPU]
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        execution_providers("cuda", CPU_BUILD, never)


def test_the_stage_passes_the_run_device_and_records_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the CPU build of onnxruntime, auto and cpu run on the CPU (describe() says so) and cuda is refused."""
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: CPU_BUILD)
    for device in ("auto", "cpu"):
        described = make_detector(LikenessParams(), StageContext(device=device)).describe()
        assert described["detector"] == "retinaface-mobilenet0.25"
        assert described["provider"] == CPU
    with pytest.raises(ConfigError, match=r"models.device=cuda needs onnxruntime's CUDAExecutionProvider"):
        make_detector(LikenessParams(), StageContext(device="cuda"))
