"""`edge run`: the unattended daemon. Start order, signals, systemd notification, clean exit.

Start (every check before READY=1, each failure a clear error and exit status 2):
  config -> source possible on this machine (edge.sources.check_source: picamera2 importable, V4L2
  node present; a stream URL is not contacted) -> model bundle (hashes) -> OpenVINO device and
  precision (crackedge.runtime.precision, logged with the reason) [-> remote model in front, model.backend remote]
  -> calibration -> preview port -> run folder ->
  recovery scan of runs that did not end cleanly (edge.recovery) -> disk guard (measure only) ->
  GPS -> pipeline -> maintenance thread (disk rotation, temperatures) -> watchdog -> READY=1.
SIGTERM / SIGINT only set the stop event. The main thread then stops capture, lets in-flight frames
drain (pipeline.drain_timeout_s), flushes the saver, writes summary.json and returns 0.
A hung stage stops the WATCHDOG=1 pings (systemd restarts the service) and, still hung after
watchdog.exit_after_s, makes the daemon exit with EXIT_HUNG.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Optional

from crackedge.errors import ConfigError
from crackedge.runtime.backends import create_backend
from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.preprocess import Preprocessor
from edge.capture import CaptureOptions
from edge.config import EdgeConfig, is_live
from edge.diskguard import DiskGuard, make_run_dir
from edge.maintenance import Maintenance
from edge.measure import Measurer
from edge.memory import lean_int8_isa_for, release_free_memory, tune_malloc
from edge.metrics import Metrics
from edge.pipeline import Pipeline, PipelineOptions
from edge.preview import FrameHub, PreviewServer
from edge.recovery import recover_runs
from edge.saver import FrameSaver, write_json
from edge.sdnotify import SdNotifier
from edge.sources import check_source, make_source
from edge.watchdog import HeartbeatRegistry, Watchdog

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_HUNG = 3


def pipeline_options(cfg: EdgeConfig) -> PipelineOptions:
    live = is_live(cfg.source) if cfg.pipeline.drop_policy == "auto" else cfg.pipeline.drop_policy == "latest"
    return PipelineOptions(
        queue_size=cfg.pipeline.queue_size,
        live=live,
        capture=CaptureOptions(cfg.source.reconnect_initial_s, cfg.source.reconnect_max_s, cfg.source.stall_timeout_s),
        save_enabled=cfg.save.enabled,
        min_crack_ratio=cfg.save.min_crack_ratio,
        every_nth=cfg.save.every_nth,
        min_spacing_m=cfg.save.min_spacing_m,
        min_interval_s=cfg.save.min_interval_s,
        overlay_alpha=cfg.overlay.alpha,
        overlay_contours=cfg.overlay.contours,
        overlay_caption=cfg.overlay.caption,
        jpeg_quality=cfg.overlay.jpeg_quality,
        preview_width=cfg.preview.width,
        drain_timeout_s=cfg.pipeline.drain_timeout_s,
    )


def status_line(m: dict[str, Any]) -> str:
    st = m["stages"]
    fps = lambda name: st.get(name, {}).get("fps", 0.0)  # noqa: E731
    disk = m["disk"]
    return (
        f"capture {fps('capture'):.1f} fps, infer {fps('infer'):.1f} fps, saved {m['saved']['frames']}, "
        f"write errors {m['saved'].get('write_errors', 0)}, "
        f"drops {m['drops']}, corrupt {m['source']['corrupt']}, reconnects {m['source']['reconnects']}, "
        f"source {m['source']['state']}, disk free {disk['free_mb']} MB{' (saving paused)' if disk['saving_paused'] else ''}"
    )


class Daemon:
    def __init__(self, cfg: EdgeConfig, config_path: Optional[Path] = None, notifier: Optional[SdNotifier] = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.notifier = notifier or SdNotifier()
        self.stop = threading.Event()
        self.fatal = threading.Event()
        self.fatal_reason: Optional[str] = None
        self.metrics = Metrics()
        self.registry = HeartbeatRegistry()
        self.pipeline: Optional[Pipeline] = None
        self.preview: Optional[PreviewServer] = None
        self.gps: Any = None
        self.run_dir: Optional[Path] = None
        self.watchdog: Optional[Watchdog] = None
        self.maintenance: Optional[Maintenance] = None
        self.saver: Optional[FrameSaver] = None

    # ---- start -----------------------------------------------------------------------------
    def setup(self) -> None:
        """Everything before READY=1; each failure is a CrackedgeError naming the problem."""
        cfg = self.cfg
        tune_malloc()  # before the pipeline's threads allocate (edge.memory)
        checked = check_source(cfg.source, str(self.config_path or "edge.yaml"))  # a camera this machine cannot have
        log.info("source %s: %s", cfg.source.kind, checked)
        bundle = load_bundle(cfg.model.local_bundle)
        lean_int8_isa_for(cfg.model, bundle)  # before the first compile (edge.memory)
        backend, key = create_backend(cfg.model, bundle)
        release_free_memory()  # the compile's scratch memory, before the pipeline starts
        if cfg.model.backend == "remote":  # the served model first, this bundle as the fallback
            from crackedge.runtime.backends.fallback import with_remote

            try:
                backend = with_remote(cfg.model.remote, backend, bundle.meta.output, bundle.meta.input,
                                      bundle.meta.model_name)
            except BaseException:
                backend.close()
                raise
            self.metrics.remote_provider = backend.stats
        try:
            self._setup_rest(bundle, backend, key)
        except BaseException:
            self.stop.set()  # ends the GPS thread if it was started
            if self.preview is not None:
                self.preview.stop()
            backend.close()
            raise

    def _setup_rest(self, bundle: Any, backend: Any, key: str) -> None:
        cfg = self.cfg
        self.metrics.inference.set(**backend.info)
        measurer = Measurer(cfg.measure.calib, cfg.measure.min_component_px, cfg.measure.max_crack_fraction)
        threshold = cfg.model.threshold if cfg.model.threshold is not None else bundle.meta.threshold
        source = make_source(cfg.source, bundle.input_wh)
        hub = None
        if cfg.preview.enabled:  # bind before creating the run folder: a busy port leaves nothing behind
            hub = FrameHub(cfg.preview.max_fps)
            try:
                self.preview = PreviewServer(
                    hub, self.metrics_snapshot, cfg.preview.host, cfg.preview.port, cfg.preview.token,
                    workers=cfg.preview.workers, max_connections=cfg.preview.max_connections,
                    request_timeout_s=cfg.preview.request_timeout_s, counters=self.metrics.preview,
                )
            except OSError as err:
                raise ConfigError(
                    f"preview: cannot listen on {cfg.preview.host}:{cfg.preview.port}: {err.strerror or err} "
                    "(port in use? set preview.port, or preview.enabled: false)"
                ) from None
        try:
            self.run_dir = make_run_dir(cfg.save.out_dir)
        except OSError as err:
            raise ConfigError(f"save.out_dir: cannot create a run folder in {cfg.save.out_dir}: {err}") from None
        self.metrics.run_dir = str(self.run_dir)
        local_info = backend.info.get("local", backend.info)  # a fallback backend reports its local model apart
        model_info = {
            "name": bundle.meta.model_name,
            "kind": bundle.meta.model.kind,
            "student": bundle.meta.student,
            "file": bundle.meta.models[key],
            "sha256": bundle.model_sha256(key),
            "device": local_info.get("device"),
            "precision": local_info.get("precision"),
            "openvino": local_info.get("version"),
        }
        if cfg.model.backend == "remote":
            remote = cfg.model.remote
            model_info["remote"] = {"url": remote.url, "model": remote.model_name, "wire": remote.wire,
                                    "timeout_s": remote.timeout_s}
        write_json(
            self.run_dir / "run.json",
            {
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "config_file": str(self.config_path) if self.config_path else None,
                "config": cfg.model_dump(mode="json"),
                "model": model_info,
                "precision_reason": backend.info.get("precision_reason"),
                "threshold": threshold,
                "input": bundle.meta.input.model_dump(mode="json"),
                "output": bundle.meta.output.model_dump(mode="json"),
                "measurement": measurer.method,
                "source": source.describe(),
            },
        )
        try:
            recover_runs(cfg.save.out_dir, self.run_dir)  # debris of runs killed earlier (kill -9, power cut)
        except OSError as err:
            log.error("scanning earlier runs in %s failed: %s", cfg.save.out_dir, err)
        guard = DiskGuard(cfg.save.out_dir, self.run_dir, cfg.disk.min_free_mb, cfg.disk.policy, cfg.disk.check_interval_s,
                          self.metrics.disk, resume_margin_mb=cfg.disk.resume_margin_mb)
        guard.check()  # report free space and pause right away; rotation runs on the maintenance thread
        if cfg.gps is not None:
            from edge.gps import make_gps

            self.gps = make_gps(cfg.gps, self.stop)
            self.gps.heartbeat = self.registry.register("gps")
            self.gps.start()
            self.metrics.gps_provider = self.gps.snapshot
        saver = None
        if cfg.save.enabled:
            saver = FrameSaver(
                self.run_dir, guard, self.metrics.saved, model_info, cfg.save.save_raw, cfg.save.fsync, threshold,
                position=self.gps.latest if self.gps is not None else None,
            )
        self.saver = saver
        self.maintenance = Maintenance(self.stop, self.registry.register("maintenance"), self.metrics,
                                       guard if cfg.save.enabled else None, saver, cfg.disk.check_interval_s)
        self.pipeline = Pipeline(
            source, backend, Preprocessor(bundle.meta.input, backend.input_tensor),
            MaskDecoder(bundle.meta.output, threshold), measurer,
            self.metrics, self.registry, pipeline_options(cfg), saver=saver, hub=hub,
            position=self.gps.latest if self.gps is not None else None,
        )
        self.metrics.watchdog_provider = self._watchdog_state
        if self.preview is not None:
            self.preview.start()
            log.info("preview listening on %s", self.preview.url)
        log.info(
            "run folder %s; source %s (%s); model %s on %s; measurement %s",
            self.run_dir, source.describe(), "live, keep freshest" if self.pipeline.opt.live else "file, drop nothing",
            bundle.meta.models[key], backend.info.get("device"), measurer.method,
        )

    def metrics_snapshot(self) -> dict[str, Any]:
        return self.metrics.snapshot()

    def _watchdog_state(self) -> dict[str, Any]:
        wd = self.watchdog
        return {
            "hung": dict(wd.hung_now) if wd else {},
            "hang_events": wd.hang_events if wd else 0,
            "pings": wd.pings if wd else 0,
            "heartbeat_age_s": self.registry.ages(),
        }

    def _on_fatal(self, reason: str) -> None:
        self.fatal_reason = reason
        self.fatal.set()
        self.stop.set()

    # ---- run -------------------------------------------------------------------------------
    def run(self, install_signals: bool = True) -> int:
        self.setup()
        assert self.pipeline is not None
        if install_signals:
            self._install_signals()
        self.pipeline.start()
        if self.maintenance is not None:
            self.maintenance.start()
        wcfg = self.cfg.watchdog
        ping_every = self.notifier.watchdog_interval_s() or wcfg.check_interval_s
        self.watchdog = Watchdog(
            self.registry, self.stop, wcfg.stage_timeout_s, wcfg.exit_after_s, min(wcfg.check_interval_s, ping_every),
            ping=self.notifier.watchdog, ping_interval_s=ping_every, on_fatal=self._on_fatal,
        )
        self.watchdog.start()
        self.notifier.ready(f"running; saving to {self.run_dir}")
        log.info("ready (pid %d)", os.getpid())
        next_status = time.monotonic() + self.cfg.status_interval_s
        while not self.stop.wait(0.25):
            if self.pipeline.finished.is_set():
                died = [hb.name for hb in self.registry.all() if hb.failed]
                if died:  # a stage died and the others drained after it: a failure, not the end of the source
                    self._on_fatal(f"stage {', '.join(died)} died (see the traceback above)")
                    log.critical("pipeline stopped because stage %s died", ", ".join(died))
                else:
                    log.info("pipeline finished (source ended)")
                break
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + self.cfg.status_interval_s
                line = status_line(self.metrics.snapshot())
                log.info("%s", line)
                self.notifier.status(line)
        return self.shutdown()

    def _install_signals(self) -> None:
        def _handler(signum: int, _frame: Any) -> None:
            self.stop.set()  # the main loop does the rest

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def shutdown(self) -> int:
        hung = self.fatal.is_set()
        self.notifier.stopping("stopping: draining in-flight frames")
        log.info("stopping: draining in-flight frames")
        self.stop.set()
        drained = self.pipeline.shutdown() if self.pipeline is not None else True
        if self.preview is not None:
            self.preview.stop()
        if self.gps is not None:
            self.gps.join(timeout=2.0)
        if self.maintenance is not None and self.maintenance.is_alive():
            self.maintenance.join(timeout=2.0)
        if self.saver is not None:
            self.saver.flush_error_log(force=True)
        summary = self.metrics.snapshot()
        summary["exit"] = {"drained": drained, "hung": hung, "reason": self.fatal_reason}
        if self.run_dir is not None:
            try:
                write_json(self.run_dir / "summary.json", summary)
            except OSError as err:
                log.error("could not write summary.json: %s", err)
        log.info("stopped: %s", status_line(summary))
        self.notifier.close()
        if hung:
            log.critical("exiting with status %d: %s", EXIT_HUNG, self.fatal_reason)
            return EXIT_HUNG
        return EXIT_OK


def run_daemon(cfg: EdgeConfig, config_path: Optional[Path] = None, install_signals: bool = True) -> int:
    """Run until stopped (signal), the source ends, or a stage hangs. Returns the exit status."""
    return Daemon(cfg, config_path).run(install_signals=install_signals)
