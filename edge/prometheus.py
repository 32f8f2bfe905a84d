"""The /metrics snapshot (edge.metrics) in the Prometheus text exposition format, via prometheus_client.

Fleets scrape `/metrics` like Frigate's or Triton's. Names are `crackedge_*` (base units: seconds,
bytes), counters end in `_total`, and labels carry the stage, queue, reason or sensor. The
process collector adds `process_*` (resident memory, open file descriptors, CPU seconds).
The daemon's numbers come from one `Metrics.snapshot()`; nothing here is measured twice.
"""

from __future__ import annotations

from typing import Any, Iterator

MB = 1024 * 1024


def _num(v: Any) -> float:
    if v is None or isinstance(v, str):
        return float("nan")
    return float(v)


class SnapshotCollector:
    """A prometheus_client collector over one metrics snapshot (a dict from Metrics.snapshot())."""

    def __init__(self, snap: dict[str, Any]) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        m = self.snap

        def gauge(name: str, doc: str, value: Any, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=list(labels or {}))
            g.add_metric(list((labels or {}).values()), _num(value))
            return g

        def counter(name: str, doc: str, value: Any) -> CounterMetricFamily:
            c = CounterMetricFamily(name, doc)
            c.add_metric([], _num(value))
            return c

        yield gauge("crackedge_uptime_seconds", "seconds since the daemon started", m.get("uptime_s"))
        if m.get("rss_peak_mb") is not None:
            yield gauge("crackedge_rss_peak_bytes", "peak resident memory (VmHWM)", m["rss_peak_mb"] * MB)
        for part, doc in (("anon", "resident memory of the process's own (anonymous) pages (RssAnon)"),
                          ("file", "resident memory of mapped files: libraries, mmapped weights (RssFile)")):
            if m.get(f"rss_{part}_mb") is not None:
                yield gauge(f"crackedge_rss_{part}_bytes", doc, m[f"rss_{part}_mb"] * MB)

        src = m.get("source") or {}
        state = GaugeMetricFamily("crackedge_source_state", "1 for the source's current state", labels=["kind", "state"])
        state.add_metric([str(src.get("kind")), str(src.get("state"))], 1.0)
        yield state
        for key, doc in (("frames", "good frames delivered by the source"), ("corrupt", "corrupt or unusable parts skipped"),
                         ("reconnects", "reconnects after a failure"), ("stalls", "stalls (no data or no good frame)"),
                         ("frame_timeouts", "frames cut off by the per-frame deadline")):
            yield counter(f"crackedge_source_{key}_total", doc, src.get(key, 0))
        yield counter("crackedge_source_outage_seconds_total", "seconds the source was down, summed over reconnects",
                      src.get("outage_s_total", 0))
        if src.get("last_outage_s") is not None:
            yield gauge("crackedge_source_last_outage_seconds", "length of the last outage", src["last_outage_s"])

        stages = m.get("stages") or {}
        items = CounterMetricFamily("crackedge_stage_items_total", "items handled per stage", labels=["stage"])
        errors = CounterMetricFamily("crackedge_stage_errors_total", "items that failed per stage", labels=["stage"])
        fps = GaugeMetricFamily("crackedge_stage_fps", "items per second (recent window)", labels=["stage"])
        lat_mean = GaugeMetricFamily("crackedge_stage_latency_seconds_mean", "mean latency (recent window)", labels=["stage"])
        lat_p95 = GaugeMetricFamily("crackedge_stage_latency_seconds_p95", "95th percentile latency (recent window)", labels=["stage"])
        for name, st in stages.items():
            items.add_metric([name], _num(st.get("count")))
            errors.add_metric([name], _num(st.get("errors")))
            fps.add_metric([name], _num(st.get("fps")))
            if st.get("latency_ms_mean") is not None:
                lat_mean.add_metric([name], st["latency_ms_mean"] / 1000.0)
                lat_p95.add_metric([name], st["latency_ms_p95"] / 1000.0)
        yield from (items, errors, fps, lat_mean, lat_p95)

        queues = m.get("queues") or {}
        depth = GaugeMetricFamily("crackedge_queue_depth", "items waiting in a stage queue", labels=["queue"])
        drops = CounterMetricFamily("crackedge_queue_drops_total", "frames dropped by a stage queue", labels=["queue"])
        for name, q in queues.items():
            depth.add_metric([name], _num(q.get("depth")))
            drops.add_metric([name], _num(q.get("drops")))
        yield from (depth, drops)

        lat = m.get("latency_ms") or {}
        if lat.get("end_to_end_mean") is not None:
            yield gauge("crackedge_end_to_end_latency_seconds_mean", "capture to postprocessed, mean", lat["end_to_end_mean"] / 1000.0)

        saved = m.get("saved") or {}
        yield counter("crackedge_saved_frames_total", "frames saved (image and sidecar)", saved.get("frames", 0))
        yield counter("crackedge_saved_bytes_total", "bytes written for saved frames", saved.get("bytes", 0))
        yield counter("crackedge_save_write_errors_total", "frames whose files could not be written", saved.get("write_errors", 0))
        skipped = CounterMetricFamily("crackedge_save_skipped_total", "frames not saved, by reason", labels=["reason"])
        skipped.add_metric(["threshold"], _num(saved.get("skipped_threshold", 0)))
        skipped.add_metric(["spacing"], _num(saved.get("skipped_spacing", 0)))
        skipped.add_metric(["disk"], _num(saved.get("skipped_disk", 0)))
        yield skipped

        disk = m.get("disk") or {}
        if disk.get("free_mb") is not None:
            yield gauge("crackedge_disk_free_bytes", "free space on the output disk", disk["free_mb"] * MB)
        if disk.get("floor_mb") is not None:
            yield gauge("crackedge_disk_floor_bytes", "free space the daemon keeps", disk["floor_mb"] * MB)
        yield gauge("crackedge_disk_saving_paused", "1 while saving is paused by the disk floor", bool(disk.get("saving_paused")))
        yield counter("crackedge_disk_runs_deleted_total", "old runs deleted by rotation", disk.get("runs_deleted", 0))
        yield counter("crackedge_disk_rotate_failures_total", "old runs that could not be deleted", disk.get("rotate_failures", 0))

        temps = GaugeMetricFamily("crackedge_temperature_celsius", "SoC temperatures", labels=["sensor"])
        for sensor, value in (m.get("temperatures_c") or {}).items():
            temps.add_metric([sensor], _num(value))
        yield temps

        wd = m.get("watchdog") or {}
        yield gauge("crackedge_watchdog_hung_stages", "stages hung right now", len(wd.get("hung") or {}))
        yield counter("crackedge_watchdog_hang_events_total", "times a stage was found hung", wd.get("hang_events", 0))
        yield counter("crackedge_watchdog_pings_total", "WATCHDOG=1 keep-alives sent", wd.get("pings", 0))

        gps = m.get("gps")
        if isinstance(gps, dict):
            yield gauge("crackedge_gps_fix", "1 when a fresh GPS fix is attached to frames", gps.get("fix") is not None)

        remote = m.get("remote")
        if isinstance(remote, dict):
            frames = CounterMetricFamily("crackedge_model_frames_total", "frames answered, by the model that answered",
                                         labels=["source", "model"])
            frames.add_metric(["remote", str(remote.get("remote_model"))], _num(remote.get("frames_remote", 0)))
            frames.add_metric(["local", str(remote.get("local_model"))], _num(remote.get("frames_local", 0)))
            yield frames
            switches = CounterMetricFamily("crackedge_model_switches_total", "switches between the remote and the local model",
                                           labels=["to"])
            switches.add_metric(["local"], _num(remote.get("switches_to_local", 0)))
            switches.add_metric(["remote"], _num(remote.get("switches_to_remote", 0)))
            yield switches
            yield gauge("crackedge_remote_in_use", "1 while frames go to the remote model", remote.get("state") == "remote")
            yield counter("crackedge_remote_timeouts_total", "remote requests without an answer in time", remote.get("remote_timeouts", 0))
            yield counter("crackedge_remote_errors_total", "remote requests that failed", remote.get("remote_errors", 0))
            yield counter("crackedge_remote_late_results_total", "remote answers that came after the frame went local",
                          remote.get("late_remote_results", 0))

        preview = m.get("preview") or {}
        for key in ("accepted", "rejected", "evicted", "timeouts", "unauthorized"):
            if key in preview:
                yield counter(f"crackedge_preview_connections_{key}_total", f"preview connections {key}", preview[key])
        if "open" in preview:
            yield gauge("crackedge_preview_connections_open", "preview connections open now", preview["open"])


def exposition(snap: dict[str, Any]) -> tuple[bytes, str]:
    """(body, Content-Type) of the text exposition format for one snapshot."""
    from prometheus_client import CollectorRegistry, ProcessCollector
    from prometheus_client.exposition import generate_latest

    try:  # prometheus_client >= 0.21 names the text format 0.0.4 explicitly (LATEST may mean 1.0.0 there)
        from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as content_type
    except ImportError:  # older releases: LATEST is the 0.0.4 text format
        from prometheus_client.exposition import CONTENT_TYPE_LATEST as content_type

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))  # type: ignore[arg-type]
    ProcessCollector(registry=registry)
    return generate_latest(registry), content_type
