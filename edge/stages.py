"""The pipeline's stage threads (edge.pipeline wires them together): a queue-to-queue Worker base, the
reused network inputs (InputPool), and the preprocess, infer-submit, infer-collect, postprocess and save
stages."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from crackedge.runtime.async_runner import AsyncRunner
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.preprocess import Preprocessor
from edge.breakdown import Clock, StepCosts
from edge.frames import Frame, Result
from edge.measure import Measurer, caption_lines
from edge.metrics import Metrics
from edge.postprocess import annotate_frame, encode_jpeg, save_reasons, scale_to_width
from edge.preview import FrameHub
from edge.queues import END, QueueEmpty, StageQueue
from edge.save_spacing import SaveSpacing
from edge.saver import FrameSaver
from edge.watchdog import Heartbeat

if TYPE_CHECKING:
    from edge.pipeline_options import PipelineOptions

log = logging.getLogger(__name__)

POLL_S = 0.25
PREVIEW_QUALITY = 80
EMPTY_MEASUREMENT: dict[str, Any] = {"area_px": 0, "bbox_xywh": None, "components": 0}


class Worker(threading.Thread):
    """A stage that takes items from `inq`, handles them, and forwards END when it arrives."""

    def __init__(self, name: str, inq: StageQueue, abort: threading.Event, heartbeat: Heartbeat, metrics: Metrics) -> None:
        super().__init__(name=name, daemon=True)
        self.inq = inq
        self.abort = abort
        self.hb = heartbeat
        self.stats = metrics.stage(name)
        self._errors_logged = 0

    #: where results go (None for a sink)
    outq: Optional[StageQueue] = None

    def handle(self, item: Any) -> Any:
        """Process one item; return what goes to `outq` (None: nothing)."""
        raise NotImplementedError

    def finish(self) -> None:
        """END arrived: flush and pass END on."""
        if self.outq is not None:
            self.outq.put_end()

    def run(self) -> None:
        try:
            while not self.abort.is_set():
                self.hb.beat()
                try:
                    item = self.inq.get(POLL_S)
                except QueueEmpty:
                    continue
                if item is END:
                    self.finish()
                    break
                t0 = time.monotonic()
                self.hb.busy(t0)
                out = None
                try:
                    out = self.handle(item)
                except Exception:
                    self.stats.error()
                    if self._errors_logged < 10:
                        self._errors_logged += 1
                        log.exception("stage %s failed on one frame (skipped)", self.name)
                finally:
                    self.hb.idle()
                # the stage's latency is its own work; waiting for room downstream is back-pressure
                self.stats.record(time.monotonic() - t0)
                if out is not None and self.outq is not None:
                    self.outq.put(out, self.abort, on_wait=self.hb.beat)
        except BaseException:
            self.hb.fail()  # a dead stage must look hung to the watchdog, not finished
            log.critical("stage %s died", self.name, exc_info=True)
        else:
            self.hb.finish()


class InputPool:
    """Network inputs reused frame after frame: the preprocessor writes into one, the submit stage gives
    it back once the backend has copied it into an infer request.

    A fresh 2.4 MB input per frame costs more than the preprocessing itself (allocation and page
    faults: 2.1 ms against 0.5 ms at 448x448). An input comes back only when nobody else holds it
    (`give` checks the reference count), so a backend that keeps the array it was handed never sees
    it overwritten. At most `limit` inputs are kept; when none is free a new one is made.
    """

    def __init__(self, pre: Preprocessor, limit: int) -> None:
        self.pre, self.limit = pre, limit
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.made = 0

    def take(self) -> np.ndarray:
        with self._lock:
            if self._free:
                return self._free.pop()
            self.made += 1
        return self.pre.new_input()

    def give(self, blob: np.ndarray, refs: int) -> bool:
        """Return `blob`; `refs` is sys.getrefcount(blob) in the caller, which holds it in one local.
        False (not reused) when anything else still refers to it."""
        if refs > 2 or blob.shape != self.pre.shape:
            return False
        with self._lock:
            if len(self._free) < self.limit:
                self._free.append(blob)
                return True
        return False


class PreprocessWorker(Worker):
    def __init__(self, inq, outq, pre: Preprocessor, abort, hb, metrics, steps: StepCosts,
                 pool: Optional[InputPool] = None) -> None:
        super().__init__("preprocess", inq, abort, hb, metrics)
        self.outq, self.pre, self.steps, self.pool = outq, pre, steps, pool

    def handle(self, frame: Frame) -> Frame:
        cap = frame.capture
        for step, (cpu, wall) in cap.costs.items():  # done by the source (JPEG decode)
            self.steps.add(step, cpu, wall)
        clock = Clock()
        out = self.pool.take() if self.pool is not None else None
        frame.blob = self.pre(cap.infer_image if cap.infer_image is not None else cap.image, out=out)
        self.steps.add("preprocess", *clock.split())
        return frame


class InferSubmitWorker(Worker):
    """Starts inference as soon as a request is free (up to n_requests in flight)."""

    def __init__(self, inq, runner: AsyncRunner, abort, hb, metrics, steps: StepCosts,
                 pool: Optional[InputPool] = None) -> None:
        super().__init__("infer-submit", inq, abort, hb, metrics)
        self.runner, self.steps, self.pool = runner, steps, pool

    def handle(self, frame: Frame) -> None:
        """Waits for a free infer request (time recorded: how long the device kept us waiting)."""
        blob, frame.blob = frame.blob, None
        timing: dict[str, tuple[float, float]] = {}
        try:  # the request's start (after waiting for a free one) is stamped into frame.timings
            self.runner.submit(blob, frame, self.abort, on_wait=self.hb.beat, timing=timing, started=frame.timings)
        finally:
            if self.pool is not None and blob is not None:
                refs = sys.getrefcount(blob)  # 2 when only this local (and the call's argument) hold it
                self.pool.give(blob, refs)
        for step, (cpu, wall) in timing.items():
            self.steps.add(step, cpu, wall)

    def finish(self) -> None:
        self.runner.finish()


class InferCollectWorker(threading.Thread):
    """Takes results in capture order; busy while the oldest in-flight request has not finished."""

    def __init__(self, runner: AsyncRunner, outq: StageQueue, abort: threading.Event, hb: Heartbeat, metrics: Metrics) -> None:
        super().__init__(name="infer", daemon=True)
        self.runner, self.outq, self.abort, self.hb = runner, outq, abort, hb
        self.stats = metrics.stage("infer")
        self._errors_logged = 0

    def run(self) -> None:
        try:
            while not self.abort.is_set():
                oldest = self.runner.oldest_started()
                if oldest is None:
                    self.hb.idle()
                else:
                    self.hb.busy(oldest)  # a request stuck on the device makes this stage "hung"
                got = self.runner.next_result(POLL_S)
                if got is None:
                    continue
                kind, frame, output, error = got
                if kind == "end":
                    self.outq.put_end()
                    break
                if error is not None or output is None:
                    self.stats.error()
                    if self._errors_logged < 10:
                        self._errors_logged += 1
                        log.error("inference failed on frame %s: %s", getattr(frame, "seq", "?"), error)
                    continue
                frame.produced_by = getattr(output, "produced_by", None)  # remote/local (runtime.backends.fallback)
                self.stats.record(time.monotonic() - frame.timings.get("submit_mono", time.monotonic()))
                self.hb.idle()  # waiting for room downstream is back-pressure, not a hang
                self.outq.put((frame, output), self.abort, on_wait=self.hb.beat)
        except BaseException:
            self.hb.fail()
            log.critical("stage %s died", self.name, exc_info=True)
        else:
            self.hb.finish()


class PostprocessWorker(Worker):
    def __init__(self, inq, outq: Optional[StageQueue], decoder: MaskDecoder, measurer: Measurer,
                 hub: Optional[FrameHub], opt: PipelineOptions, abort, hb, metrics: Metrics,
                 on_result: Optional[Callable[[Result], None]] = None, steps: Optional[StepCosts] = None) -> None:
        super().__init__("postprocess", inq, abort, hb, metrics)
        self.outq, self.decoder, self.measurer, self.hub, self.opt = outq, decoder, measurer, hub, opt
        self.metrics = metrics
        self.on_result = on_result
        self.steps = steps if steps is not None else StepCosts()
        self._canvas: Optional[np.ndarray] = None  # the overlay is drawn into this buffer, frame after frame
        self.spacing = SaveSpacing(opt.min_spacing_m, opt.min_interval_s)

    def handle(self, item: tuple[Frame, np.ndarray]) -> Optional[Result]:
        """Only what the frame needs: its crack ratio at the output's resolution decides saving; a full-size
        mask, measurement, overlay and JPEG exist only for a frame that is saved or previewed."""
        frame, output = item
        steps, opt = self.steps, self.opt
        clock = Clock()
        ratio = self.decoder.crack_ratio(output)  # at the output's resolution: no full-size mask
        reasons = save_reasons(frame.seq, ratio, opt.min_crack_ratio, opt.every_nth) if opt.save_enabled else []
        spaced = False  # a crack frame too close to the last saved one (edge.save_spacing)
        if "crack" in reasons:
            if self.spacing.allows(frame.capture.t_mono, frame.position):
                self.spacing.saved(frame.capture.t_mono, frame.position)
            else:
                reasons.remove("crack")
                spaced = True
        want_preview = self.hub is not None and self.hub.due()
        mask: Optional[np.ndarray] = None
        n: Optional[int] = None
        if reasons or want_preview:
            image = frame.image
            mask = self.decoder.mask(output, (image.shape[1], image.shape[0]))
            n = int(np.count_nonzero(mask))
        steps.add("mask", *clock.split())
        measurement: dict[str, Any] = dict(EMPTY_MEASUREMENT)
        annotated_jpeg = None
        if mask is not None:
            if n and (reasons or self.measurer.has_mm):
                measurement = self.measurer.measure(mask)
                steps.add("measure", *clock.split())
            elif n:  # preview only, no calibration: the caption shows the crack area alone
                measurement = {"area_px": n}
            caption = caption_lines(frame.capture.t_wall, ratio, measurement) if opt.overlay_caption else []
            annotated = annotate_frame(frame.image, mask, caption, opt.overlay_alpha, opt.overlay_contours, out=self._canvas)
            self._canvas = annotated
            steps.add("overlay", *clock.split())
            if reasons:
                annotated_jpeg = encode_jpeg(annotated, opt.jpeg_quality)
                steps.add("encode", *clock.split())
            if want_preview:
                small = scale_to_width(annotated, opt.preview_width)
                # a saved frame already at preview size: its JPEG is the preview frame too
                reuse = small is annotated and annotated_jpeg is not None
                self.hub.publish(annotated_jpeg if reuse else encode_jpeg(small, PREVIEW_QUALITY))
                steps.add("preview", *clock.split())
        steps.frame_done()
        now = time.monotonic()
        self.metrics.e2e.record(now - frame.capture.t_mono)
        result = Result(frame, mask, ratio, n, measurement, annotated_jpeg, reasons, now)
        if self.on_result is not None:
            self.on_result(result)
        if reasons:
            return result
        if opt.save_enabled:
            self.metrics.saved.add("skipped_spacing" if spaced else "skipped_threshold")
        return None


class SaveWorker(Worker):
    def __init__(self, inq, saver: FrameSaver, abort, hb, metrics, steps: StepCosts) -> None:
        super().__init__("save", inq, abort, hb, metrics)
        self.saver, self.steps = saver, steps

    def handle(self, result: Result) -> None:
        clock = Clock()
        self.saver.save(result)
        self.steps.add("write", *clock.split())
        return None
