"""pi-check's verdict on a scenario's report and the markdown summary for docs/pi-install.md section 10."""

from __future__ import annotations

from tools.pi_root import CPUS


def judge(report: dict, ref: dict, f16_validated: bool) -> list[str]:
    """One sentence per failed expectation of a scenario."""
    bad = []
    if report.get("failed"):
        return [report["failed"]]
    numpy_line = report.get("numpy", "")
    if report["scenario"] == "camera":
        if "/usr/lib/python3/dist-packages/numpy" not in numpy_line:
            bad.append(f"camera venv imports {numpy_line}, not the system numpy")
        if report.get("debian_cv2_in_venv", {}).get("rc") != 0:
            bad.append("Debian's numpy-1.x cv2 does not load in the camera venv")
    elif not numpy_line.startswith("2."):
        bad.append(f"CPU venv numpy {numpy_line}")
    if report.get("torch_installed"):
        bad.append("torch got installed")
    tests = report.get("tests")
    if tests is not None and tests["rc"] != 0:
        bad.append(f"edge tests: {tests['summary']}")
    for pi, entry in report.get("runs", {}).items():
        if entry["edge_run_rc"] != 0 or entry["check_config_rc"] != 0 or entry["masks_rc"] != 0:
            bad.append(f"{pi}: check-config rc {entry['check_config_rc']}, edge run rc {entry['edge_run_rc']}, "
                       f"masks rc {entry['masks_rc']}")
            continue
        want = "f16" if (pi == "pi5" and f16_validated) else "f32"
        got = entry["backend"].get("precision")
        if got != want:
            bad.append(f"{pi} ran {got}, expected {want}")
        cmp_ = entry.get("vs_x86", {})
        if cmp_ and cmp_["pooled_iou"] < 0.99:
            bad.append(f"{pi} masks vs x86 {cmp_['against']}: pooled IoU {cmp_['pooled_iou']:.4f} < 0.99")
    return bad


def _cmp(c: dict) -> str:
    return f"{c['against']}: {c['identical_masks']}/{c['images']}, {c['pooled_iou']:.4f}, {c['max_abs_prob_diff']:.1e}"


def markdown(summary: dict) -> str:
    lines = [f"Last run: {summary['date']}, {summary['host']}; bundle `{summary['bundle']}` ({summary['bundle_desc']}); "
             f"{summary['images']}; total {summary['minutes']:.0f} min under `nice -n 19`.", ""]
    lines.append("| | CPU set-up (`pi-cpu.txt`) | camera set-up (`pi-camera.txt`) |")
    lines.append("|---|---|---|")
    sc = summary["scenarios"]

    def cell(name: str, fn) -> str:
        r = sc.get(name)
        if r is None:
            return "not run"
        try:
            return fn(r)
        except Exception as err:  # a missing figure is shown, not hidden
            return f"n/a ({type(err).__name__})"

    def install(r):
        return "; ".join(f"{s['seconds'] / 60:.1f} min rc {s['rc']}" for s in r["steps"])

    rows = [
        ("docs blocks (time, exit)", install),
        ("venv numpy", lambda r: f"`{r['numpy']}`"),
        ("opencv / openvino / simplejpeg", lambda r: ", ".join(r["pip_list"].get(k, "-") for k in
                                                               ("opencv-python-headless", "openvino", "simplejpeg"))),
        ("torch installed", lambda r: str(r["torch_installed"]).lower()),
        ("Debian numpy-1.x cv2 in the venv", lambda r: ("loads (rc 0)" if r["debian_cv2_in_venv"]["rc"] == 0
                                                        else "FAILS") if "debian_cv2_in_venv" in r else "-"),
        ("old docs' commands (negative control)", lambda r: (
            f"numpy `{r['old_docs_negative_control']['numpy'].split()[0]}` in the venv, Debian cv2 "
            + ("FAILS" if r['old_docs_negative_control']['debian_cv2_rc'] else "loads"))
            if "old_docs_negative_control" in r else "-"),
        ("edge tests (pytest, emulated)", lambda r: f"{r['tests']['summary']} ({r['tests']['seconds'] / 60:.0f} min)"
            if "tests" in r else "skipped"),
    ]
    for pi in CPUS:
        rows.append((f"{pi} ({CPUS[pi]}): precision chosen", lambda r, pi=pi: r["runs"][pi]["backend"]["precision"]))
        rows.append((f"{pi}: masks vs x86 at the same precision (identical / IoU / max prob diff)",
                     lambda r, pi=pi: _cmp(r["runs"][pi]["vs_x86"])))
        if pi == "pi5":
            rows.append(("pi5: masks vs x86 f32", lambda r: _cmp(dict(r["runs"]["pi5"]["vs_x86_f32"], against="x86 f32"))))
        rows.append((f"{pi}: network input vs x86 (decoded pixels differing / max input diff)", lambda r, pi=pi: (
            f"{r['runs'][pi]['vs_x86']['decoded_pixels_differing']} px, "
            f"{r['runs'][pi]['vs_x86']['max_abs_input_diff']:.1e}")))
        rows.append((f"{pi}: `edge run` crack pixels = x86 f32", lambda r, pi=pi: (
            f"{r['runs'][pi]['pixels_equal_x86_f32']}/{len(r['runs'][pi]['edge_run_pixels'])} frames "
            f"({r['runs'][pi]['run_seconds_note']})")))
    for label, fn in rows:
        lines.append(f"| {label} | {cell('cpu', fn)} | {cell('camera', fn)} |")
    lines.append("")
    for name, r in sc.items():
        for pi in CPUS:
            reason = r.get("runs", {}).get(pi, {}).get("backend", {}).get("precision_reason")
            if reason:
                lines.append(f"- {name}, {pi}: `{reason}`")
                break
    lines.append("")
    lines.append("Verdict: " + ("**passed**" if summary["passed"] else "**FAILED**: " + "; ".join(
        f"{k}: {', '.join(v)}" for k, v in summary["problems"].items() if v)))
    return "\n".join(lines)
