"""How ONNX Runtime runs the model: which execution providers, with which options.

Kept as plain functions of the settings and of what the installed onnxruntime offers, so the
choice can be tested on a machine without a GPU. ``onnxruntime`` (CPU) and ``onnxruntime-gpu``
are the same Python module from two distributions; only the GPU one offers TensorRT and CUDA.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

ProviderOptions = dict[str, str]


@dataclass(frozen=True)
class ProviderPlan:
    """The providers to ask ONNX Runtime for, with their options, and what was left out."""

    providers: tuple[tuple[str, ProviderOptions], ...]
    fp16_graph: bool  # convert the graph to FP16 (CUDA first); TensorRT converts by itself
    unavailable: tuple[str, ...]  # preferred, but not offered by this onnxruntime build
    fp16_ignored: bool  # FP16 was asked for, but no GPU provider was available

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.providers]

    @property
    def options(self) -> list[ProviderOptions]:
        return [options for _, options in self.providers]


def plan_providers(
    preferred: Sequence[str], available: Collection[str], *, fp16: bool, cache_dir: Path
) -> ProviderPlan:
    """The preferred providers this build offers, in order; CPU when none is.

    TensorRT compiles whole subgraphs and leaves what it cannot run to the providers after it,
    so it comes first, then CUDA, then CPU for any node neither takes.
    """
    chosen = [name for name in preferred if name in available] or [CPU]
    on_gpu = chosen[0] in (TENSORRT, CUDA)
    return ProviderPlan(
        providers=tuple((name, _options(name, fp16=fp16, cache_dir=cache_dir)) for name in chosen),
        fp16_graph=fp16 and chosen[0] == CUDA,
        unavailable=tuple(name for name in preferred if name not in available),
        fp16_ignored=fp16 and not on_gpu,
    )


def _options(name: str, *, fp16: bool, cache_dir: Path) -> ProviderOptions:
    if name == TENSORRT:
        # Building an engine for ResNet-152 takes minutes; caching engines (and the timing
        # cache that speeds up building for new input shapes) makes that a one-off per GPU.
        return {
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache_dir),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(cache_dir),
            "trt_fp16_enable": str(fp16),
        }
    if name == CUDA:
        # Input shapes vary with each photo's aspect ratio; growing the arena by exactly what a
        # shape needs, rather than to the next power of two, keeps GPU memory near the need.
        return {"arena_extend_strategy": "kSameAsRequested"}
    return {}


def session_options(intra_op_threads: int, *, cpu_arena: bool) -> ort.SessionOptions:
    """Session options for one CosPlace network serving one request stream per process.

    - ``intra_op_num_threads``: the setting; 0 lets ONNX Runtime use one thread per core,
      right for a worker that owns its machine (one embedding process per host).
    - sequential execution, one inter-op thread: a ResNet is a chain of nodes, so running
      independent nodes in parallel has nothing to overlap and would only add threads.
    - every graph optimisation (``ORT_ENABLE_ALL``): Conv+BatchNorm+ReLU fusion and, on CPU,
      the blocked NCHWc layout are where most of the CPU speed comes from.
    - CPU memory arena as ``cpu_arena`` says (on by default): it keeps every block it grew by,
      in power-of-two steps, so a worker holds up to about twice its largest call's activations
      for good, a bound only because the pixels of a call are capped; without it every call
      maps and faults in its activations afresh, which halved the embedding rate. Neither
      changes a number the network computes.
    - memory pattern on: each input shape's allocation plan is worked out once, so a call makes
      one large allocation for its activations instead of one per tensor.
    - inference threads sleep rather than spin between pieces of work
      (``session.intra_op.allow_spinning`` = 0; ONNX Runtime spins by default,
      https://onnxruntime.ai/docs/performance/tune-performance/threading.html): a worker
      shares its cores with the threads decoding the next photos, and on a small host with
      Redis, Elasticsearch and the gateway. Measured on 2 busy cores with the default model,
      spinning burnt 110-118 ms of CPU a photo against 61-68 ms without, and was slower too
      (docs/benchmarks.md, "The service against its model").
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = cpu_arena
    options.enable_mem_pattern = True
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
