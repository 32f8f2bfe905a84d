"""Section 2 of BENCHMARKS.md: the edge pipeline (`edge bench` per bundle) and the JPEG decode costs."""

from __future__ import annotations

from typing import Any, Optional

from workflows.bench.markdown import not_measured, table, verdict
from workflows.bench.sections import HOW_TO_MEASURE, PIPELINE_GOAL, SECTION_TITLES, daemon_rss, ms


def _decode_rows(decode: dict[str, Any]) -> list[list[Any]]:
    edge_dec = decode.get("edge_decoder") or {}
    rows = []
    for e in decode.get("entries", []):
        used = e["library"] == edge_dec.get("library") and e["scale"] == edge_dec.get("scale")
        rows.append([e["library"], f"1/{e['scale']}", f"{e['output'][0]}x{e['output'][1]}", ms(e["decode"]),
                     ms(e["decode"], "p90_ms"), ms(e["decode_resize"]),
                     "yes" if e.get("below_model_input") else "", "**edge uses this**" if used else ""])
    return rows


def edge_rows(section: dict[str, Any]) -> list[list[Any]]:
    out = []
    for b in section.get("bundles", []):
        if "error" in b:
            out.append([b.get("bundle"), None, None, None, None, None, "–", None, None, None, None, b["error"]])
            continue
        inf = b.get("inference") or {}
        out.append([b.get("student"), f"{inf.get('precision')}, {inf.get('requests')} req",
                    ms(b.get("single_inference_ms")), b.get("raw_async_fps"), b.get("pipeline_fps"),
                    b.get("pipeline_vs_raw"), verdict(b.get("pipeline_vs_raw"), PIPELINE_GOAL, True),
                    ms(b.get("end_to_end_ms")), b.get("end_to_end_vs_single"), b.get("rss_mb_peak_during_pipeline"),
                    daemon_rss(b), (b.get("daemon") or {}).get("error", "")])
    return out


def edge_lines(section: Optional[dict[str, Any]], plots: dict[str, str]) -> list[str]:
    lines = [f"## {SECTION_TITLES['edge']}", ""]
    if not section:
        return lines + [not_measured(HOW_TO_MEASURE["edge"]), ""]
    su, dec = section["setup"], section.get("decode") or {}
    lines += [
        f"`edge bench` in its own process (no torch) on {su['device']}, "
        f"{su['frames']} frames per run, {su['rounds']} alternating raw/pipeline rounds (medians), source: "
        f"{su['source']}, bundle precision setting `{su['precision']}`. Raw async FPS: the same preprocessed blob "
        "submitted back to back with the optimal number of requests. Pipeline FPS: the daemon's pipeline (JPEG decode "
        "at reduced scale -> preprocess -> async infer -> postprocess, overlay, preview encode; saving off), dropping "
        "nothing. End-to-end latency: capture to postprocessed result with the stream fed as a live camera at half "
        "the pipeline rate. Bench RSS: peak resident memory of the `edge bench` process while the pipeline runs (it "
        "also holds the test frames and every round's results, so it is an upper bound). Daemon RSS: peak resident "
        "memory (VmHWM) of `edge run` on the same bundle and settings, replaying 100 of the frames from JPEG files as "
        "fast as it processes them (saving on, preview off): the vehicle's figure.",
        "",
    ]
    if section.get("bundles"):
        lines += [table(["student", "precision, requests", "single inference (ms)", "raw async FPS", "pipeline FPS",
                         "pipeline / raw", f"goal >= {PIPELINE_GOAL}", "end-to-end (ms)", "e2e / single", "bench RSS peak (MB)",
                         "daemon RSS peak (MB)",
                         "error"], edge_rows(section)), ""]
    else:
        lines += [not_measured(HOW_TO_MEASURE["edge"], "no bundle was benchmarked"), ""]
    if dec:
        fw, fh = dec["frame"]
        lines += [
            f"JPEG decode of one {fw}x{fh} q{dec['quality']} synthetic road frame ({dec['bytes'] / 1024:.0f} KiB), "
            f"alone and with the linear resize to the {dec['model_input'][0]}x{dec['model_input'][1]} model input. "
            f"Reduced scales use libjpeg's DCT scaling. The daemon picks {dec['edge_decoder']['library']} at "
            f"1/{dec['edge_decoder']['scale']} ({dec['edge_decoder']['rule']}). OpenCV rows include BGR->RGB.",
            "",
            table(["decoder", "scale", "output", "decode (ms)", "p90 (ms)", "decode + resize (ms)",
                   "smaller than model input", ""], _decode_rows(dec)),
            "",
        ]
    if plots.get("decode"):
        lines += [f"![JPEG decode cost]({plots['decode']})", ""]
    return lines

