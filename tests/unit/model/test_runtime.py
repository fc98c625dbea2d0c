from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest
from geopin.model.runtime import CPU, CUDA, TENSORRT, plan_providers, session_options
from geopin.settings import ModelSettings

CACHE = Path("/var/cache/geopin-engines")
EVERY_GPU_PROVIDER = (TENSORRT, CUDA, CPU)
DEFAULT_PREFERENCE = ModelSettings().providers


def test_default_preference_is_tensorrt_then_cuda_then_cpu() -> None:
    assert DEFAULT_PREFERENCE == [TENSORRT, CUDA, CPU]


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        ((TENSORRT, CUDA, CPU), [TENSORRT, CUDA, CPU]),
        ((CUDA, CPU), [CUDA, CPU]),
        ((CPU, "AzureExecutionProvider"), [CPU]),
    ],
)
def test_preferred_providers_are_kept_in_order_when_this_build_offers_them(
    available: tuple[str, ...], expected: list[str]
) -> None:
    plan = plan_providers(DEFAULT_PREFERENCE, available, fp16=False, cache_dir=CACHE)
    assert plan.names == expected
    assert plan.unavailable == tuple(p for p in DEFAULT_PREFERENCE if p not in available)


def test_cpu_is_used_when_no_preferred_provider_is_available() -> None:
    plan = plan_providers([CUDA], (CPU,), fp16=False, cache_dir=CACHE)
    assert plan.names == [CPU]
    assert plan.unavailable == (CUDA,)


def test_the_preference_order_is_the_settings_not_onnxruntimes() -> None:
    plan = plan_providers([CUDA, TENSORRT], EVERY_GPU_PROVIDER, fp16=False, cache_dir=CACHE)
    assert plan.names == [CUDA, TENSORRT]


@pytest.mark.parametrize("fp16", [False, True])
def test_tensorrt_caches_its_engines_and_builds_fp16_ones_only_when_asked(fp16: bool) -> None:
    plan = plan_providers(DEFAULT_PREFERENCE, EVERY_GPU_PROVIDER, fp16=fp16, cache_dir=CACHE)
    tensorrt = dict(plan.providers)[TENSORRT]
    assert tensorrt["trt_engine_cache_enable"] == "True"
    assert tensorrt["trt_engine_cache_path"] == str(CACHE)
    assert tensorrt["trt_timing_cache_path"] == str(CACHE)
    assert tensorrt["trt_fp16_enable"] == str(fp16)
    assert not plan.fp16_graph  # TensorRT converts by itself; the graph stays FP32
    assert not plan.fp16_ignored


def test_fp16_on_cuda_converts_the_graph() -> None:
    plan = plan_providers([CUDA, CPU], (CUDA, CPU), fp16=True, cache_dir=CACHE)
    assert plan.fp16_graph
    assert dict(plan.providers)[CUDA]["arena_extend_strategy"] == "kSameAsRequested"


def test_fp16_without_a_gpu_provider_is_ignored_and_said_so() -> None:
    plan = plan_providers(DEFAULT_PREFERENCE, (CPU,), fp16=True, cache_dir=CACHE)
    assert plan.names == [CPU]
    assert plan.fp16_ignored
    assert not plan.fp16_graph
    assert plan.options == [{}]


def test_session_options_run_one_chain_of_nodes_with_every_optimisation() -> None:
    options = session_options(intra_op_threads=3, cpu_arena=True)
    assert options.intra_op_num_threads == 3
    assert options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.enable_cpu_mem_arena
    assert options.enable_mem_pattern
    assert not session_options(intra_op_threads=3, cpu_arena=False).enable_cpu_mem_arena


def test_inference_threads_sleep_instead_of_spinning_between_work() -> None:
    options = session_options(intra_op_threads=0, cpu_arena=True)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
