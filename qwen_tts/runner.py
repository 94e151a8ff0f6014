"""How a batch's frame step runs: eagerly, compiled (``torch.compile``), or replayed from CUDA graphs.

The frame step (``FrameBatch.frame_step``) is a talker step, the code predictor's 15 steps and the sampling of
16 tokens: about a thousand small kernels, whose launch cost is most of a frame's time on a GPU at batch 1.
Graph mode captures the whole step — one graph per frame, not per layer — for each configured batch size at
start-up, on the batch's static buffers; a step with n live rows replays the graph of the smallest size >= n
(the spare rows compute harmlessly). ``compile_mode`` puts ``torch.compile`` (Inductor: fused elementwise
kernels) under it, or runs alone; ``static_shapes`` alone runs the graphs' shapes eagerly (to check graph-mode
results anywhere). Eager — the default on CPU, and ``use_cuda_graphs=False`` on a GPU — runs exactly the live
rows and attends over the live part of the caches only.

Requests joining the batch get their frame 0 from ``FrameBatch.first_frame_step`` (the code predictor alone,
after the prompt's prefill), which runs the same way: eager, compiled, or from a graph per size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# The same Inductor settings without Inductor's own CUDA graphs (which cannot nest in the frame graph).
GRAPH_FREE_TWIN = {"reduce-overhead": "default", "max-autotune": "max-autotune-no-cudagraphs"}


def batch_sizes(max_batch_size: int) -> tuple[int, ...]:
    """The sizes graphs are captured (or compiled) for: powers of two below the maximum, and the maximum."""
    sizes, size = [], 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    return (*sizes, max_batch_size)


@dataclass(frozen=True, slots=True)
class FrameRunner:
    use_cuda_graphs: bool
    compile_mode: str | None
    sizes: tuple[int, ...]
    static_shapes: bool  # steps at the captured sizes over whole caches (graphs and compiled code need it)

    @classmethod
    def configure(
        cls,
        device: torch.device,
        use_cuda_graphs: bool | None,
        compile_mode: str | None,
        max_batch_size: int,
        static_shapes: bool = False,
    ) -> FrameRunner:
        """Checks the options (``ValueError`` with the reason) and resolves them: ``use_cuda_graphs=None``
        means graphs on a CUDA device. Under the engine's frame graphs a compile mode that would capture
        graphs of its own ('reduce-overhead', 'max-autotune') runs as its graph-free twin, so the original
        server's ``compile_mode: max-autotune`` + ``use_cuda_graphs: true`` keeps working: one graph per
        frame, Inductor's kernels inside."""
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}, got {compile_mode!r}")
        if use_cuda_graphs is None:
            use_cuda_graphs = device.type == "cuda"
        if use_cuda_graphs and device.type != "cuda":
            raise ValueError(f"use_cuda_graphs needs a CUDA device; this engine runs on {device.type}")
        if use_cuda_graphs and compile_mode in GRAPH_FREE_TWIN:
            log.info(
                "compile_mode %s runs as %s under the frame graphs",
                compile_mode,
                GRAPH_FREE_TWIN[compile_mode],
            )
            compile_mode = GRAPH_FREE_TWIN[compile_mode]
        static = static_shapes or use_cuda_graphs or compile_mode is not None
        return cls(use_cuda_graphs, compile_mode, batch_sizes(max_batch_size), static)

    def size_for(self, n: int) -> int:
        return next(size for size in self.sizes if size >= n)

    def attach(self, batch) -> None:
        """Sets ``batch.frame_fn`` and ``batch.first_frame_fn`` (frame 0 of joining requests): compiles and
        captures both steps now (this is the warm-up cost)."""
        if not self.static_shapes:
            return
        step: Callable[[int, int], None] = batch.frame_step
        first: Callable[[int], None] = batch.first_frame_step
        if self.compile_mode is not None:
            step = torch.compile(step, mode=self.compile_mode, dynamic=False)
            first = torch.compile(first, mode=self.compile_mode, dynamic=False)
        if self.use_cuda_graphs:
            graphs = capture_graphs(lambda size: step(size, batch.max_len), self.sizes, "frame")
            first_graphs = capture_graphs(first, self.sizes, "first-frame")
            batch.frame_fn = lambda n, kv_len: graphs[self.size_for(n)].replay()
            batch.first_frame_fn = lambda k: first_graphs[self.size_for(k)].replay()
        else:
            batch.frame_fn = lambda n, kv_len: step(self.size_for(n), kv_len)
            batch.first_frame_fn = lambda k: first(self.size_for(k))


def capture_graphs(
    step: Callable[[int], None], sizes: tuple[int, ...], name: str
) -> dict[int, torch.cuda.CUDAGraph]:
    """One CUDA graph of ``step(size)`` per batch size, sharing one memory pool.

    The steps only write the batch's buffers in place, so replaying a graph is the step. Warm-up runs on a
    side stream first, as capture requires (lazy initialisation, cuBLAS workspaces, compilation).
    """
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.inference_mode():
        for size in sizes:
            for _ in range(2):
                step(size)
    torch.cuda.current_stream().wait_stream(side)
    graphs: dict[int, torch.cuda.CUDAGraph] = {}
    pool = None
    for size in sorted(sizes, reverse=True):  # the largest first: the smaller ones fit in its pool
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph, pool=pool):
            step(size)
        pool = graph.pool()
        graphs[size] = graph
    torch.cuda.synchronize()
    log.info("captured %s graphs for batch sizes %s", name, ", ".join(map(str, sorted(graphs))))
    return graphs
