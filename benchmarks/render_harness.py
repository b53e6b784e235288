"""Time the SVD pipeline once per speed option, on random weights (``keyframe bench render``).

Each speed option gets a freshly built pipeline (:func:`keyframe.render.flops.build_pipeline`, same
seed, so the same weights), one untimed warm-up call (reported as ``first_s``: for
``torch.compile`` this is the compile) and ``repeats`` timed calls (median ``seconds``); FLOPs
come from :func:`keyframe.render.flops.count_flops`.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from keyframe.config import RenderConfig, RenderSvdConfig
from keyframe.render.flops import build_pipeline, count_flops
from keyframe.render.svd import configure_pipeline, pipeline_call, resolve_runtime, run_pipeline


@dataclass(frozen=True)
class BenchOption:
    """One speed configuration: a name and its ``render.svd`` overrides."""

    name: str
    overrides: dict[str, Any]


def bench_options(device: str, *, compile_: bool, decode_chunk: int) -> list[BenchOption]:
    """The speed options worth comparing on ``device`` (the first is the eager baseline)."""
    if device == "cuda":
        options = [
            BenchOption("eager fp16", {"dtype": "fp16"}),
            BenchOption("eager bf16", {"dtype": "bf16"}),
            BenchOption("fp16 sdpa cudnn", {"dtype": "fp16", "attention": "cudnn"}),
            BenchOption("fp16 sdpa flash", {"dtype": "fp16", "attention": "flash"}),
            BenchOption("fp16 sdpa efficient", {"dtype": "fp16", "attention": "efficient"}),
            BenchOption(f"fp16 decode chunk {decode_chunk}", {"dtype": "fp16", "decode_chunk_size": decode_chunk}),
            BenchOption("fp16 offload model", {"dtype": "fp16", "offload": "model"}),
        ]
        if compile_:
            options += [
                BenchOption("fp16 compile regional", {"dtype": "fp16", "compile": "regional"}),
                BenchOption("fp16 compile full", {"dtype": "fp16", "compile": "full"}),
                BenchOption("fp16 compile full + cudnn", {"dtype": "fp16", "compile": "full", "attention": "cudnn"}),
            ]
        return options
    options = [
        BenchOption("eager fp32", {"dtype": "fp32"}),
        BenchOption("fp32 sdpa math", {"dtype": "fp32", "attention": "math"}),
        BenchOption(f"fp32 decode chunk {decode_chunk}", {"dtype": "fp32", "decode_chunk_size": decode_chunk}),
    ]
    if compile_:
        options += [
            BenchOption("fp32 compile regional", {"dtype": "fp32", "compile": "regional"}),
            BenchOption("fp32 compile full", {"dtype": "fp32", "compile": "full"}),
        ]
    return options


class _PeakMemory:
    """Peak memory during a block: CUDA allocator peak, or the process RSS sampled every 5 ms."""

    def __init__(self, device: str) -> None:
        self.device, self.peak = device, 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            self._stop.wait(0.005)

    def __enter__(self) -> _PeakMemory:
        if self.device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device == "cuda":
            import torch

            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()


def run_bench(
    arch: str,
    options: list[BenchOption],
    *,
    frames: int,
    size: tuple[int, int],
    steps: int,
    repeats: int = 3,
    seed: int = 0,
    device: str = "auto",
    compile_cache_dir: str = "~/.cache/keyframe/inductor",
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time the pipeline of ``arch`` once per speed option.

    Returns
    -------
    dict
        ``arch``, ``frames``, ``size``, ``steps``, ``device`` (name), ``flops`` (see
        :func:`count_flops`) and ``rows``: per option ``name``, ``first_s`` (warm-up call incl.
        compile), ``seconds`` (median of ``repeats``), ``all_s``, ``peak_bytes``,
        ``peak_kind`` (cuda allocator or process RSS), ``tflops`` (achieved, from ``seconds``),
        ``max_abs_diff`` (uint8 frames vs the first option's).
    """
    import torch

    width, height = size
    base = RenderSvdConfig(device=device, compile_cache_dir=compile_cache_dir)
    runtime0 = resolve_runtime(base)
    flops = count_flops(arch, frames, width, height, steps)
    image = np.asarray(
        np.random.default_rng(seed).integers(0, 256, (height, width, 3)), np.uint8
    )
    rows: list[dict[str, Any]] = []
    reference = None
    for option in options:
        svd_cfg = base.model_copy(update=option.overrides)
        runtime = resolve_runtime(svd_cfg)
        pipeline = build_pipeline(arch, seed=seed, device=runtime["device"], dtype=runtime["dtype"])
        pipeline = configure_pipeline(pipeline, svd_cfg, runtime)
        call = pipeline_call(RenderConfig(svd=svd_cfg), frames)
        call["num_inference_steps"] = steps

        def once() -> tuple[float, np.ndarray]:
            start = time.perf_counter()
            out = run_pipeline(pipeline, image, call, seed=seed, attention=runtime["attention"])
            if runtime["device"] == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start, out

        first_s, out = once()
        with _PeakMemory(runtime["device"]) as peak:
            timed = [once() for _ in range(repeats)]
        seconds = statistics.median(t for t, _ in timed)
        out = timed[-1][1]
        reference = out if reference is None else reference
        row = {
            "name": option.name,
            "first_s": round(first_s, 4),
            "seconds": round(seconds, 4),
            "all_s": [round(t, 4) for t, _ in timed],
            "peak_bytes": int(peak.peak),
            "peak_kind": "cuda max_memory_allocated" if runtime["device"] == "cuda" else "process RSS",
            "tflops": round(flops["total"] / seconds / 1e12, 4),
            "max_abs_diff": int(np.abs(out.astype(np.int16) - reference.astype(np.int16)).max()),
        }
        rows.append(row)
        if log is not None:
            log(
                f"{option.name:28s} first {first_s:8.3f} s  median {seconds:8.3f} s  "
                f"peak {peak.peak / 2**30:6.2f} GiB  {row['tflops']:8.3f} TFLOP/s  max|diff| {row['max_abs_diff']}"
            )
        del pipeline
        if runtime["device"] == "cuda":
            torch.cuda.empty_cache()
    device_name = torch.cuda.get_device_name() if runtime0["device"] == "cuda" else "cpu"
    return {"arch": arch, "frames": frames, "size": [width, height], "steps": steps, "device": device_name,
            "torch_threads": torch.get_num_threads(), "flops": flops, "rows": rows}
