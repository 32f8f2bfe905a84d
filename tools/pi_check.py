"""`make pi-check`: the Raspberry Pi install and run, under emulation, checked end to end.

    sudo nice -n 19 python tools/pi_check.py --bundle BUNDLE [--images DIR] [--scenario cpu --scenario camera]

1. An arm64 Debian 12 (Bookworm, the base of Raspberry Pi OS) root built once with debootstrap +
   qemu-user-static into build/pi-root/base (cached; needs root, binfmt_misc and Debian's archive).
2. Per scenario a fresh copy of it, /proc and /sys mounted (without /sys OpenVINO's compile_model
   segfaults under emulation), the host's CA certificates and resolv.conf copied in, the wheel and
   constraints/*.txt put in its /tmp as `scp` would, then every shell block of docs/pi-install.md
   marked `<!-- pi-check: SCENARIO -->` run exactly as written with `env -i` (a clean environment),
   as root, on an emulated Cortex-A72. The one substitution: the camera scenario installs Debian's
   python3-opencv (4.6, built against the system numpy 1.24) in place of python3-picamera2, which only
   Raspberry Pi OS's archive has; it stands in for picamera2's numpy-1.x stack.
3. Checks in the root: the venv's numpy (the camera venv must import the system one), Debian's
   numpy-1.x cv2 extension loads in the venv (camera), no torch; optionally the old docs' commands in
   a second venv as a negative control (they must break that extension); the edge tests (pytest,
   onnx added with the scenario's constraints); `edge check-config` and `edge run` on the images as the
   service user under QEMU_CPU=cortex-a72 (Pi 4) and cortex-a76 (Pi 5), and tools/pi_masks.py.
4. The same runs on this x86 machine; masks and sidecar crack pixels compared; a JSON report and a
   markdown summary (for docs/pi-install.md section 10).

Takes tens of minutes to hours on 2 cores; run it under `nice -n 19`. Not part of `make test`.

The root (debootstrap, copies, mounts, chroot) is tools/pi_root.py; the verdict and the summary tools/pi_report.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: `tools` must be importable
    sys.path.insert(0, str(REPO))

from tools.pi_report import judge, markdown  # noqa: E402
from tools.pi_root import (  # noqa: E402
    CPUS, chroot_sh, ensure_base, log, mounted, preflight, prepare_root, remove_root, run,
)

DOCS = REPO / "docs" / "pi-install.md"
CAMERA_STAND_IN = ("python3-picamera2", "python3-opencv")
CONSTRAINTS = {"cpu": "pi-cpu.txt", "camera": "pi-camera.txt"}
# The old docs (main before issue 15): numpy<2 first, then the package; opencv 5 then pulls numpy 2.
OLD_CAMERA_COMMANDS = [
    "python3 -m venv --system-site-packages /opt/old-venv",
    '/opt/old-venv/bin/pip install "numpy<2"',
    '/opt/old-venv/bin/pip install "/opt/crackedge/crackedge-0.1.0-py3-none-any.whl[edge]"',
]
# Edge tests run in the root. Deselected, with the reason: none so far (listed here when needed).
TEST_FILES = ["tests/test_edge_*.py", "tests/test_pi_precision.py", "tests/test_pi_source_checks.py"]
DESELECT: dict[str, str] = {}
# Loads Debian's cv2 (python3-opencv, numpy 1.24 ABI) into the venv's interpreter, whatever cv2 pip put first.
DEBIAN_CV2 = r"""
import glob, importlib.util, numpy
so = sorted(glob.glob('/usr/lib/python3/dist-packages/cv2*.so') + glob.glob('/usr/lib/python3/dist-packages/cv2/**/cv2*.so', recursive=True))[0]
spec = importlib.util.spec_from_file_location('cv2', so)
cv2 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cv2)
img = cv2.resize(numpy.zeros((8, 8, 3), numpy.uint8), (4, 4))
print('debian cv2', cv2.__version__, 'from', so, 'works with numpy', numpy.__version__, 'from', numpy.__file__, img.shape)
"""


# ---- docs -----------------------------------------------------------------------------------------


def doc_blocks(scenario: str, text: Optional[str] = None) -> list[str]:
    """The shell blocks of docs/pi-install.md marked `<!-- pi-check: ... SCENARIO ... -->`, in order."""
    text = DOCS.read_text() if text is None else text
    blocks = []
    for m in re.finditer(r"<!-- pi-check: ([^>]*?) -->\s*\n```(?:sh|bash)\n(.*?)\n```", text, re.S):
        if scenario in m.group(1).split():
            blocks.append(m.group(2))
    return blocks


# ---- host side ------------------------------------------------------------------------------------


def build_wheel(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("crackedge-*.whl"):
        old.unlink()
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out),
         str(REPO)])
    return next(out.glob("crackedge-*.whl"))


def default_images(out: Path, n: int) -> tuple[Path, str]:
    """n crack500 test images when ../shared/datasets is there, else synthetic road frames."""
    out.mkdir(parents=True, exist_ok=True)
    src = REPO.parent / "shared" / "datasets" / "crack500" / "test" / "images"
    files = sorted(src.glob("*.jpg"))[:n] if src.is_dir() else []
    if len(files) == n:
        for f in files:
            shutil.copy2(f, out / f.name)
        return out, f"{n} crack500 test images ({src})"
    sys.path.insert(0, str(REPO))
    import cv2

    from tests.edge_bundle_fixture import synthetic_frame

    for i in range(n):
        cv2.imwrite(str(out / f"synth{i:02d}.png"), cv2.cvtColor(synthetic_frame(448, 448, seed=i), cv2.COLOR_RGB2BGR))
    return out, f"{n} synthetic road frames (no ../shared/datasets)"


def edge_config(bundle: str, images: str, out_dir: str, precision: str = "auto") -> str:
    import yaml

    return yaml.safe_dump({
        "source": {"kind": "images", "path": images},
        "model": {"bundle": bundle, "precision": precision},
        "save": {"out_dir": out_dir, "every_nth": 1, "min_crack_ratio": 0.0},
        "disk": {"min_free_mb": 1}, "preview": {"enabled": False},
        # one inference of a 224 px HRNet-W18 takes tens of seconds under qemu-user on 2 busy cores:
        # the watchdog (15 s on a real Pi) would call that a hung stage
        "watchdog": {"stage_timeout_s": 900.0, "exit_after_s": 1800.0},
    })


def sidecar_pixels(run_root: Path) -> dict[str, int]:
    runs = sorted((run_root / "runs").iterdir())
    return {p.stem: json.loads(p.read_text())["crack_pixels"] for p in sorted(runs[-1].glob("0*.json"))}


def host_reference(bundle: Path, images: Path, work: Path) -> dict:
    """x86 masks at f32 and at this CPU's auto precision, and an `edge run` at f32."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    ref: dict = {}
    for precision in ("f32", "f16", "auto"):
        out = work / f"x86-{precision}.npz"
        done = run([sys.executable, str(REPO / "tools" / "pi_masks.py"), str(bundle), str(images), str(out),
                    "--precision", precision], env=env)
        ref[precision] = {"npz": str(out), "said": done.stdout.strip(), **json.loads(out.with_suffix(".json").read_text())}
    cfg = work / "x86-edge.yaml"
    cfg.write_text(edge_config(str(bundle), str(images), str(work / "x86-run"), "f32"))
    shutil.rmtree(work / "x86-run", ignore_errors=True)
    run([sys.executable, "-m", "edge", "run", "--config", str(cfg)], env=env)
    ref["edge_run_f32_pixels"] = sidecar_pixels(work / "x86-run")
    return ref


def compare_masks(a_npz: str, b_npz: str) -> dict:
    import numpy as np

    a, b = np.load(a_npz), np.load(b_npz)
    names = sorted(k[5:] for k in a.files if k.startswith("mask:"))
    inter = union = same = rgb_px = 0
    worst = blob_worst = 0.0
    per = {}
    for n in names:
        ma, mb = a[f"mask:{n}"].astype(bool), b[f"mask:{n}"].astype(bool)
        i, u = int((ma & mb).sum()), int((ma | mb).sum())
        inter, union = inter + i, union + u
        same += int((ma == mb).all())
        worst = max(worst, float(np.abs(a[f"prob:{n}"] - b[f"prob:{n}"]).max()))
        if f"blob:{n}" in a.files and f"blob:{n}" in b.files:
            rgb_px += int((a[f"rgb:{n}"] != b[f"rgb:{n}"]).any(axis=-1).sum())
            blob_worst = max(blob_worst, float(np.abs(a[f"blob:{n}"] - b[f"blob:{n}"]).max()))
        per[n] = {"pixels": [int(ma.sum()), int(mb.sum())], "iou": 1.0 if u == 0 else i / u}
    return {"images": len(names), "identical_masks": same, "pooled_iou": 1.0 if union == 0 else inter / union,
            "max_abs_prob_diff": worst, "decoded_pixels_differing": rgb_px, "max_abs_input_diff": blob_worst,
            "per_image": per}


# ---- one scenario ---------------------------------------------------------------------------------


def run_scenario(scenario: str, base: Path, work: Path, wheel: Path, bundle: Path, images: Path, args) -> dict:
    root = work / scenario
    logs = work / "logs"
    report: dict = {"scenario": scenario, "steps": []}
    prepare_root(base, root, wheel)
    with mounted(root):
        for i, block in enumerate(doc_blocks(scenario)):
            script = block
            if scenario == "camera":
                script = script.replace(*CAMERA_STAND_IN)
            t0 = time.monotonic()
            log(f"[{scenario}] docs block {i + 1}: {block.splitlines()[0][:100]}")
            done = chroot_sh(root, script, logs / f"{scenario}-docs-{i + 1}.log", check=False)
            step = {"block": block, "ran": script, "rc": done.returncode, "seconds": round(time.monotonic() - t0, 1),
                    "output_tail": (done.stdout + done.stderr)[-1500:]}
            report["steps"].append(step)
            if done.returncode != 0:
                report["failed"] = f"docs block {i + 1} exited {done.returncode}"
                return report
        venv = "/opt/crackedge/venv/bin/python"
        q = chroot_sh(root, f"{venv} -m pip list --format json", logs / f"{scenario}-check.log")
        report["pip_list"] = {d["name"].lower(): d["version"] for d in json.loads(q.stdout)}
        q = chroot_sh(root, f"{venv} -c \"import numpy; print(numpy.__version__, numpy.__file__)\"",
                      logs / f"{scenario}-check.log")
        report["numpy"] = q.stdout.strip()
        report["torch_installed"] = "torch" in report["pip_list"]
        if scenario == "camera":
            q = chroot_sh(root, f"{venv} -c \"{DEBIAN_CV2}\"", logs / f"{scenario}-check.log", check=False)
            report["debian_cv2_in_venv"] = {"rc": q.returncode, "out": (q.stdout + q.stderr).strip()[-800:]}
            if args.negative_control:
                log("[camera] negative control: the old docs' commands in /opt/old-venv")
                q = chroot_sh(root, "\n".join(OLD_CAMERA_COMMANDS), logs / "camera-old-docs.log", check=False)
                n = chroot_sh(root, "/opt/old-venv/bin/python -c \"import numpy; print(numpy.__version__, numpy.__file__)\"",
                              logs / "camera-old-docs.log", check=False)
                c = chroot_sh(root, f"/opt/old-venv/bin/python -c \"{DEBIAN_CV2}\"", logs / "camera-old-docs.log", check=False)
                report["old_docs_negative_control"] = {
                    "install_rc": q.returncode, "numpy": n.stdout.strip(), "debian_cv2_rc": c.returncode,
                    "debian_cv2_out": (c.stdout + c.stderr).strip()[-600:]}
                chroot_sh(root, "rm -rf /opt/old-venv", logs / "camera-old-docs.log", check=False)
        # the bundle, images and check files, as they would be on the Pi
        shutil.copytree(bundle, root / "opt/crackedge/bundle", dirs_exist_ok=True)
        check = root / "opt/crackedge-check"
        shutil.copytree(images, check / "frames", dirs_exist_ok=True)
        shutil.copytree(REPO / "tests", check / "tests", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(REPO / "pyproject.toml", check / "pyproject.toml")
        # repository files some edge tests read (example configs, the systemd unit); edge/ has no
        # __init__.py here, so the installed package still wins the import
        shutil.copytree(REPO / "edge" / "examples", check / "edge" / "examples", dirs_exist_ok=True)
        shutil.copytree(REPO / "systemd", check / "systemd", dirs_exist_ok=True)
        shutil.copy2(REPO / "tools" / "pi_masks.py", check / "pi_masks.py")
        shutil.copytree(REPO / "tools", check / "tools", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(REPO / "docs", check / "docs", dirs_exist_ok=True)
        shutil.copytree(REPO / "constraints", check / "constraints", dirs_exist_ok=True)
        subprocess.run(["chmod", "-R", "a+rX", str(check), str(root / "opt/crackedge/bundle")], check=True)
        report["runs"] = {}
        for pi, cpu in CPUS.items():
            t0 = time.monotonic()
            out_dir = f"/var/lib/crackedge/check-{pi}"
            cfg = check / f"edge-{pi}.yaml"
            cfg.write_text(edge_config("/opt/crackedge/bundle", "/opt/crackedge-check/frames", out_dir))
            log(f"[{scenario}] edge check-config + run + masks on {pi} ({cpu})")
            cc = chroot_sh(root, f"/opt/crackedge/venv/bin/edge check-config /opt/crackedge-check/edge-{pi}.yaml",
                           logs / f"{scenario}-{pi}.log", cpu=cpu, check=False, user="crackedge")
            er = chroot_sh(root, f"/opt/crackedge/venv/bin/edge run --config /opt/crackedge-check/edge-{pi}.yaml",
                           logs / f"{scenario}-{pi}.log", cpu=cpu, check=False, user="crackedge")
            mk = chroot_sh(root, f"cd /tmp && {venv} /opt/crackedge-check/pi_masks.py /opt/crackedge/bundle "
                                 f"/opt/crackedge-check/frames /tmp/masks-{pi}.npz",
                           logs / f"{scenario}-{pi}.log", cpu=cpu, check=False)
            entry = {"cpu": cpu, "check_config_rc": cc.returncode, "check_config": cc.stdout.strip()[-1500:],
                     "edge_run_rc": er.returncode, "seconds": round(time.monotonic() - t0, 1),
                     "precision_log": [ln for ln in er.stderr.splitlines() if "inference precision" in ln][:2],
                     "masks_rc": mk.returncode, "masks_said": (mk.stdout + mk.stderr).strip()[-600:]}
            if er.returncode == 0:
                entry["edge_run_pixels"] = sidecar_pixels(root / out_dir.lstrip("/"))
                last_run = sorted((root / out_dir.lstrip("/") / "runs").iterdir())[-1]
                entry["run_json_precision"] = json.loads((last_run / "run.json").read_text())["precision_reason"]
            if mk.returncode == 0:
                dst = work / f"{scenario}-{pi}.npz"
                shutil.copy2(root / f"tmp/masks-{pi}.npz", dst)
                shutil.copy2(root / f"tmp/masks-{pi}.json", dst.with_suffix(".json"))
                entry["npz"] = str(dst)
                entry["backend"] = json.loads(dst.with_suffix(".json").read_text())
            report["runs"][pi] = entry
        if not args.skip_tests:
            log(f"[{scenario}] edge tests in the root (pytest under emulation)")
            t0 = time.monotonic()
            cons = f"/opt/crackedge/{CONSTRAINTS[scenario]}"
            dep = chroot_sh(root, f"/opt/crackedge/venv/bin/pip install -c {cons} pytest psutil onnx",
                            logs / f"{scenario}-tests.log", check=False)
            deselect = " ".join(f"--deselect {t}" for t in DESELECT)
            tests = chroot_sh(root, f"cd /opt/crackedge-check && /opt/crackedge/venv/bin/python -m pytest "
                                    f"{' '.join(TEST_FILES)} -m 'not slow' -q -p no:cacheprovider {deselect}",
                              logs / f"{scenario}-tests.log", check=False)
            tail = tests.stdout.strip().splitlines()
            counts = [ln for ln in tail if re.search(r"\d+ (passed|failed)", ln)]
            report["tests"] = {"deps_rc": dep.returncode, "rc": tests.returncode,
                               "summary": counts[-1].strip("= ") if counts else (tail[-1] if tail else ""),
                               "failures": [ln for ln in tail if ln.startswith("FAILED") or ln.startswith("ERROR")][:30],
                               "seconds": round(time.monotonic() - t0, 1),
                               "pip_after_tests": dep.stdout.strip().splitlines()[-1:] if dep.stdout else []}
    return report


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, help="bundle to run (default: a random-weight HRNet-W18 exported now)")
    ap.add_argument("--images", type=Path, help="image folder (default: 6 crack500 test images, else synthetic)")
    ap.add_argument("--n-images", type=int, default=6)
    ap.add_argument("--scenario", action="append", choices=["cpu", "camera"], help="default: both")
    ap.add_argument("--work", type=Path, default=REPO / "build" / "pi-root")
    ap.add_argument("--skip-tests", action="store_true", help="skip the edge tests inside the roots")
    ap.add_argument("--no-negative-control", dest="negative_control", action="store_false",
                    help="skip re-running the old docs' camera commands")
    ap.add_argument("--keep", action="store_true", help="keep the scenario roots (default: deleted after the run)")
    ap.add_argument("--summary", type=Path, help="also write the markdown summary here")
    args = ap.parse_args(argv)
    preflight()
    t_start = time.monotonic()
    work = args.work
    shutil.rmtree(work / "logs", ignore_errors=True)  # this run's logs only
    (work / "logs").mkdir(parents=True, exist_ok=True)
    ensure_base(work / "base", work / "logs")
    wheel = build_wheel(work / "dist")
    images, images_desc = (args.images, f"images from {args.images}") if args.images else \
        default_images(work / "frames", args.n_images)
    bundle = args.bundle
    if bundle is None:
        bundle = work / "bundle"
        shutil.rmtree(bundle, ignore_errors=True)
        log("exporting a random-weight HRNet-W18 (no --bundle): precisions will be judged on random weights")
        sys.path.insert(0, str(REPO))
        from distill.export.bundle_export import ExportOptions, export_bundle
        from tests.helpers.student_checkpoints import write_checkpoint

        export_bundle(write_checkpoint(work / "random.pt", "hrnet_w18", 128), bundle,
                      ExportOptions(input_size=(128, 128), parity_images=4, progress=False))
    bundle, images = bundle.resolve(), images.resolve()
    sys.path.insert(0, str(REPO))
    from crackedge.runtime.metadata import load_metadata
    from crackedge.runtime.precision import judge as judge_record

    meta = load_metadata(bundle)
    f16_ok, f16_why = judge_record(meta, "f16")
    log(f"bundle {bundle}: f16 record {'passes' if f16_ok else 'does not pass'}: {f16_why}")
    log("x86 reference runs")
    ref = host_reference(bundle, images, work)
    summary = {"date": time.strftime("%Y-%m-%d %H:%M"), "host": os.uname().machine, "bundle": str(bundle),
               "bundle_desc": f"{meta.student} {meta.input.width}x{meta.input.height}, {meta.training_data}",
               "images": images_desc, "f16_record": f16_why, "x86": ref, "scenarios": {}, "problems": {}}
    for scenario in args.scenario or ["cpu", "camera"]:
        t0 = time.monotonic()
        try:
            report = run_scenario(scenario, work / "base", work, wheel, bundle, images, args)
        except Exception as err:
            report = {"scenario": scenario, "failed": f"{type(err).__name__}: {err}"}
        for pi, entry in report.get("runs", {}).items():
            if "npz" in entry:
                got = entry["backend"].get("precision")
                against = got if got in ("f32", "f16") else "f32"
                entry["vs_x86"] = dict(compare_masks(entry["npz"], ref[against]["npz"]), against=f"x86 {against}")
                entry["vs_x86_f32"] = compare_masks(entry["npz"], ref["f32"]["npz"])
            if "edge_run_pixels" in entry:
                x86 = ref["edge_run_f32_pixels"]
                entry["pixels_equal_x86_f32"] = sum(entry["edge_run_pixels"].get(k) == v for k, v in x86.items())
                entry["run_seconds_note"] = f"{entry['seconds']:.0f} s for check-config, run and masks"
        report["minutes"] = round((time.monotonic() - t0) / 60, 1)
        summary["scenarios"][scenario] = report
        summary["problems"][scenario] = judge(report, ref, f16_ok)
        log(f"[{scenario}] done in {report['minutes']} min: {summary['problems'][scenario] or 'ok'}")
        if not args.keep and not report.get("failed"):
            remove_root(work / scenario)
    summary["minutes"] = (time.monotonic() - t_start) / 60
    summary["passed"] = not any(summary["problems"].values())
    (work / "pi-check.json").write_text(json.dumps(summary, indent=1, default=str))
    md = markdown(summary)
    (work / "pi-check.md").write_text(md + "\n")
    if args.summary:
        args.summary.write_text(md + "\n")
    print(md)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
