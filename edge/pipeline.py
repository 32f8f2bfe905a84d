"""The pipeline: capture -> preprocess -> infer -> postprocess/overlay -> save, one named thread each.

    [capture] -q:capture-> [preprocess] -q:infer-> [infer-submit] ~~device~~ [infer-collect] -q:post->
    [postprocess] -q:save-> [save]

Drop policy: only the capture queue may drop. For a live camera it keeps the freshest frame (the
oldest queued frame is dropped and counted); for files it blocks, so nothing is dropped. Every
later queue blocks (back-pressure reaches the capture queue, where drops are counted once).
Inference keeps `backend.n_requests` requests in flight (4 on an NCS2) and results come out in
capture order.

Shutdown: `request_stop()` stops capture only; END then flows through every queue, each stage
finishing what it holds (in-flight inferences included) before passing END on. `shutdown()` joins
the workers in reverse start order (capture first, save last) and, after `drain_timeout_s`, sets
the abort event so nothing can hang the exit.

The stage threads are in edge.stages; this module holds the options and wires the stages together.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from crackedge.runtime.async_runner import AsyncRunner
from crackedge.runtime.backends.base import InferenceBackend
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.preprocess import Preprocessor
from edge.breakdown import StepCosts
from edge.capture import CaptureWorker
from edge.frames import Result
from edge.measure import Measurer
from edge.metrics import Metrics
from edge.pipeline_options import PipelineOptions
from edge.preview import FrameHub
from edge.queues import StageQueue
from edge.saver import FrameSaver
from edge.sources.base import Source
from edge.stages import (
    EMPTY_MEASUREMENT,
    POLL_S,
    PREVIEW_QUALITY,
    InferCollectWorker,
    InferSubmitWorker,
    InputPool,
    PostprocessWorker,
    PreprocessWorker,
    SaveWorker,
    Worker,
)
from edge.watchdog import HeartbeatRegistry

__all__ = ["EMPTY_MEASUREMENT", "POLL_S", "PREVIEW_QUALITY", "InferCollectWorker", "InferSubmitWorker", "InputPool",
           "Pipeline", "PipelineOptions", "PostprocessWorker", "PreprocessWorker", "SaveWorker", "Worker"]

log = logging.getLogger(__name__)



class Pipeline:
    def __init__(
        self,
        source: Source,
        backend: InferenceBackend,
        preprocessor: Preprocessor,
        decoder: MaskDecoder,
        measurer: Measurer,
        metrics: Metrics,
        registry: HeartbeatRegistry,
        options: PipelineOptions,
        saver: Optional[FrameSaver] = None,
        hub: Optional[FrameHub] = None,
        on_result: Optional[Callable[[Result], None]] = None,
        position: Optional[Callable[[], Optional[dict]]] = None,
        steps: Optional[StepCosts] = None,
    ) -> None:
        self.source, self.backend, self.metrics, self.opt = source, backend, metrics, options
        self.stop_event = threading.Event()  # stops capture; the rest drains
        self.abort = threading.Event()  # hard stop after the drain timeout
        size = options.queue_size
        self.q_capture = StageQueue("capture->preprocess", size, "latest" if options.live else "block")
        self.q_infer = StageQueue("preprocess->infer", size, "block")
        self.q_post = StageQueue("infer->postprocess", size, "block")
        self.q_save = StageQueue("postprocess->save", max(size, 4), "block") if saver is not None else None
        metrics.queues = [q for q in (self.q_capture, self.q_infer, self.q_post, self.q_save) if q is not None]
        self.runner = AsyncRunner(backend)
        self.steps = steps if steps is not None else StepCosts()  # per-step host costs (edge bench prints them)
        steps = self.steps
        reg = registry
        # created sink-first: that is the start order; joins go the other way (capture first)
        workers: list[threading.Thread] = []
        if saver is not None:
            workers.append(SaveWorker(self.q_save, saver, self.abort, reg.register("save"), metrics, steps))
        workers.append(
            PostprocessWorker(self.q_post, self.q_save, decoder, measurer, hub, options, self.abort,
                              reg.register("postprocess"), metrics, on_result, steps)
        )
        workers.append(InferCollectWorker(self.runner, self.q_post, self.abort, reg.register("infer"), metrics))
        # inputs in use at once: one being written, the preprocess->infer queue, one waiting for a request
        self.inputs = InputPool(preprocessor, size + 2)
        workers.append(InferSubmitWorker(self.q_infer, self.runner, self.abort, reg.register("infer-submit"), metrics, steps,
                                         self.inputs))
        workers.append(PreprocessWorker(self.q_capture, self.q_infer, preprocessor, self.abort, reg.register("preprocess"),
                                        metrics, steps, self.inputs))
        self.capture = CaptureWorker(source, self.q_capture, self.stop_event, self.abort, reg.register("capture"), metrics,
                                     options.capture, position)
        workers.append(self.capture)
        self.workers = workers
        self.finished = threading.Event()

    def start(self) -> None:
        for w in self.workers:
            w.start()
        threading.Thread(target=self._watch_finish, name="pipeline-finish", daemon=True).start()

    def _watch_finish(self) -> None:
        for w in self.workers:
            w.join()
        self.finished.set()

    @property
    def source_ended(self) -> bool:
        return self.capture.ended

    def request_stop(self) -> None:
        """Stop capturing; frames already captured are still processed and saved."""
        self.stop_event.set()
        self.capture.interrupt()

    def shutdown(self, timeout_s: Optional[float] = None) -> bool:
        """Stop capture, drain, join workers in reverse start order. True when everything drained."""
        timeout_s = self.opt.drain_timeout_s if timeout_s is None else timeout_s
        self.request_stop()
        deadline = time.monotonic() + timeout_s
        drained = True
        for w in reversed(self.workers):
            w.join(max(0.0, deadline - time.monotonic()))
            if w.is_alive():
                drained = False
                log.error("stage %s did not finish within %.1f s; aborting the drain", w.name, timeout_s)
                break
        if not drained:
            self.abort.set()
            for w in reversed(self.workers):
                w.join(1.0)
                if w.is_alive():
                    log.error("stage %s is still running at exit (hung)", w.name)
        if drained:  # a hung device would block close() (it waits for every request)
            try:
                self.backend.close()
            except Exception:
                log.exception("closing the inference backend failed")
        return drained
