"""The capture stage: read a source, number frames, survive everything a camera does wrong.

- corrupt/truncated frames are counted and skipped (source.corrupt);
- a failed or silent source (no good frame for stall_timeout_s) is closed and reopened with
  exponential backoff (reconnect_initial_s doubling to reconnect_max_s), each time logged and
  counted (source.stalls, source.reconnects, source.state, source.last_error);
- a finite source that ends sends END downstream so the pipeline drains and stops.
The loop waits on the stop event (never sleeps blindly), and the source is always closed.

A camera that is down is not a hung daemon: the backoff waits (up to reconnect_max_s) are cut into
slices of at most BEAT_S, each stamping the heartbeat, so the watchdog keeps pinging systemd while
capture waits for its camera. The outage (first failure to the next good open) is logged and
reported (source.last_outage_s, source.outage_s_total). A read cut short by shutdown is not a
failure: nothing is logged or retried then.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from edge.frames import Frame
from edge.metrics import Metrics
from edge.queues import StageQueue
from edge.sources.base import CorruptFrame, FrameTimeout, Source, SourceEnded, SourceError, SourceStalled
from edge.watchdog import Heartbeat

log = logging.getLogger(__name__)

BEAT_S = 1.0  # longest wait without a heartbeat


@dataclass
class CaptureOptions:
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    stall_timeout_s: float = 5.0


class CaptureWorker(threading.Thread):
    def __init__(
        self,
        source: Source,
        out: StageQueue,
        stop: threading.Event,
        abort: threading.Event,
        heartbeat: Heartbeat,
        metrics: Metrics,
        options: CaptureOptions,
        position: Optional[Callable[[], Optional[dict]]] = None,
    ) -> None:
        super().__init__(name="capture", daemon=True)
        self.position = position
        self.source = source
        self.out = out
        self.stop_event = stop
        self.abort = abort
        self.hb = heartbeat
        self.metrics = metrics
        self.opt = options
        self.stats = metrics.stage("capture")
        self.seq = 0
        self.ended = False
        self._corrupt_logged = 0
        self._outage_since: Optional[float] = None  # first failure of the current outage
        self._attempts = 0
        self._open_failures = 0

    def _wait(self, seconds: float) -> bool:
        """Wait `seconds` (stop-aware), stamping the heartbeat at least every BEAT_S. True when stopped."""
        end = time.monotonic() + seconds
        while True:
            self.hb.beat()
            left = end - time.monotonic()
            if left <= 0:
                return self.stop_event.is_set()
            if self.stop_event.wait(min(BEAT_S, left)):
                return True

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set() or self.abort.is_set()

    def run(self) -> None:
        counters = self.metrics.source
        counters.set(kind=self.source.kind)
        name = self.source.describe()
        backoff = self.opt.reconnect_initial_s
        opened = False
        ever_opened = False
        last_good = time.monotonic()
        try:
            while not self.stop_event.is_set() and not self.abort.is_set():
                self.hb.beat()
                if not opened:
                    try:
                        self.hb.busy()
                        self.source.open()
                        self.hb.idle()
                    except Exception as err:  # a source bug (e.g. a UnicodeError from a bad host name) too:
                        self.hb.idle()        # retried with backoff, never the end of the recording
                        if self.stopping:
                            break
                        reason = str(err)
                        if not isinstance(err, SourceError):
                            log.exception("unexpected error opening %s", name)
                            reason = f"unexpected {type(err).__name__}: {err}"
                        self._open_failures += 1
                        self._failed(f"cannot open {name}: {reason}", backoff)
                        if self._wait(backoff):
                            break
                        backoff = min(backoff * 2, self.opt.reconnect_max_s)
                        continue
                    opened = True
                    last_good = time.monotonic()
                    if self._open_failures:
                        # the camera is back after an outage: do not let the outage's long backoff
                        # punish the next single bad frame (a server that accepts and then fails
                        # every time still escalates, failure by failure)
                        backoff = self.opt.reconnect_initial_s
                    self._open_failures = 0
                    if ever_opened:
                        counters.add("reconnects")
                        outage = last_good - self._outage_since if self._outage_since is not None else 0.0
                        counters.set(last_outage_s=round(outage, 1))
                        counters.add("outage_s_total", round(outage, 1))
                        log.warning("source %s reconnected after a %.1f s outage (%d attempt(s))", name, outage, self._attempts)
                    else:
                        log.info("source %s opened", name)
                    self._outage_since = None
                    self._attempts = 0
                    ever_opened = True
                    counters.set(state="connected")
                    continue
                t0 = time.monotonic()
                try:
                    self.hb.busy(t0)
                    cap = self.source.read()
                except CorruptFrame as err:
                    self.hb.idle()
                    counters.add("corrupt")
                    if self._corrupt_logged < 10:
                        self._corrupt_logged += 1
                        log.warning("corrupt frame from %s skipped: %s", name, err)
                    if time.monotonic() - last_good > self.opt.stall_timeout_s:
                        opened = self._reopen(f"only corrupt frames for {self.opt.stall_timeout_s:.1f} s", backoff, stalled=True)
                        backoff = min(backoff * 2, self.opt.reconnect_max_s)
                    continue
                except SourceEnded:
                    self.hb.idle()
                    log.info("source %s ended after %d frames", name, self.seq)
                    self.ended = True
                    counters.set(state="ended")
                    break
                except SourceError as err:
                    self.hb.idle()
                    if self.stopping:  # the read was cut short by shutdown (interrupt): not a failure
                        break
                    if isinstance(err, FrameTimeout):
                        counters.add("frame_timeouts")
                    opened = self._reopen(str(err), backoff, stalled=isinstance(err, SourceStalled))
                    backoff = min(backoff * 2, self.opt.reconnect_max_s)
                    continue
                except Exception as err:  # a source bug must not kill capture: reopen like a failure
                    self.hb.idle()
                    if self.stopping:
                        break
                    log.exception("unexpected error reading %s", name)
                    opened = self._reopen(f"unexpected {type(err).__name__}: {err}", backoff, stalled=False)
                    backoff = min(backoff * 2, self.opt.reconnect_max_s)
                    continue
                now = time.monotonic()
                self.hb.idle()
                self.stats.record(now - t0)
                backoff = self.opt.reconnect_initial_s
                last_good = now
                frame = Frame(seq=self.seq, source=name, capture=cap)
                if self.position is not None:
                    frame.position = self.position()  # where the vehicle was when the frame was taken
                self.seq += 1
                counters.add("frames")
                self.out.put(frame, self.abort, on_wait=self.hb.beat)
        except BaseException:
            self.hb.fail()  # a dead capture must look hung to the watchdog, not finished
            log.critical("capture died", exc_info=True)
        finally:
            try:
                self.source.close()
            except Exception:
                log.exception("closing %s failed", name)
            if not self.ended:
                counters.set(state="stopped")
            self.out.put_end()
            if not self.hb.failed:
                self.hb.finish()

    def _failed(self, message: str, backoff: float) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
        self._attempts += 1
        self.metrics.source.set(state="reconnecting", last_error=message)
        log.warning("%s; retrying in %.1f s", message, backoff)

    def _reopen(self, reason: str, backoff: float, stalled: bool) -> bool:
        """Close the source after a failure, wait the backoff (stop-aware). Returns False (= not open)."""
        if stalled:
            self.metrics.source.add("stalls")
        self._failed(f"source {self.source.describe()} failed: {reason}", backoff)
        try:
            self.source.close()
        except Exception:
            log.exception("closing the source failed")
        self._wait(backoff)
        return False

    def interrupt(self) -> None:
        """Unblock a read in progress (sources that support it), used on shutdown."""
        fn = getattr(self.source, "interrupt", None)
        if callable(fn):
            try:
                fn()
            except Exception:
                pass
