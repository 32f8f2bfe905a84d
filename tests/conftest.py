"""Shared fixtures and marker handling.

Every test module has a kind in TEST_KINDS, added to its tests as a marker (`pytest -m unit`):

- `unit`: one function or class; fast, no subprocess, no training loop.
- `integration`: several packages together: small trainings, exports, OpenVINO, the package without torch.
- `system`: whole commands or daemons end to end: the demo, the soak, servers, CLI entry points and
  subprocesses of them.

A test module missing from TEST_KINDS is a collection error (tests/test_test_kinds.py checks the table
against the folder). Helpers shared by several test modules live in tests/helpers/, never in a test module.

- `data` tests need the real datasets (../shared/datasets beside the checkout, or
  $CRACKEDGE_SHARED_DATA); they are skipped with a reason when absent.
- `gpu` tests need CUDA; `pi` tests need Raspberry Pi hardware; both skip elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path:
    env = os.environ.get("CRACKEDGE_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


TEST_KINDS: dict[str, str] = {
    "test_augment_synth.py": "unit",
    "test_batch_dihedral.py": "unit",
    "test_batch_crop.py": "unit",
    "test_bench_accuracy_figure.py": "integration",
    "test_bench_decode.py": "unit",
    "test_bench_inference.py": "integration",
    "test_bench_render.py": "unit",
    "test_bench_soak_serve.py": "unit",
    "test_bench_utils.py": "unit",
    "test_calib_calibration.py": "unit",
    "test_calib_cli.py": "system",
    "test_calib_equivalence.py": "unit",
    "test_calib_ground.py": "unit",
    "test_calib_intrinsics.py": "unit",
    "test_calib_limits.py": "unit",
    "test_calib_measure.py": "unit",
    "test_calib_no_torch.py": "integration",
    "test_calib_skeleton.py": "unit",
    "test_cli_and_imports.py": "system",
    "test_data_ingest.py": "unit",
    "test_data_mask_values.py": "unit",
    "test_data_names.py": "unit",
    "test_data_prepare.py": "unit",
    "test_data_real.py": "integration",
    "test_data_unlabeled.py": "unit",
    "test_demo_stages.py": "integration",
    "test_demo.py": "system",
    "test_distill_checkpoints.py": "unit",
    "test_distill_compare.py": "system",
    "test_distill_compare_report.py": "unit",
    "test_distill_compare_reuse.py": "unit",
    "test_distill_export.py": "integration",
    "test_distill_int8_ranges.py": "integration",
    "test_distill_losses.py": "unit",
    "test_distill_ncs2.py": "integration",
    "test_distill_parity_check.py": "integration",
    "test_distill_students.py": "integration",
    "test_distill_teacher_source.py": "unit",
    "test_distill_train.py": "integration",
    "test_edge_bench_eval.py": "system",
    "test_edge_capture_loop.py": "unit",
    "test_edge_config_cli.py": "system",
    "test_edge_daemon_stream.py": "system",
    "test_edge_field_capture.py": "system",
    "test_edge_field_disk.py": "unit",
    "test_edge_field_preview.py": "system",
    "test_edge_field_soak.py": "system",
    "test_edge_field_startup.py": "system",
    "test_edge_field_systemd.py": "system",
    "test_edge_field_watchdog.py": "unit",
    "test_edge_imports.py": "integration",
    "test_edge_inference.py": "integration",
    "test_model_cache.py": "integration",
    "test_compile_ahead.py": "integration",
    "test_process_memory.py": "unit",
    "test_edge_outputs.py": "unit",
    "test_edge_page_cache.py": "unit",
    "test_edge_perf.py": "integration",
    "test_edge_save_spacing.py": "unit",
    "test_edge_preview.py": "system",
    "test_edge_remote_fallback.py": "unit",
    "test_edge_sdnotify_watchdog.py": "integration",
    "test_edge_simcam.py": "integration",
    "test_edge_sources_cameras.py": "unit",
    "test_edge_sources_files.py": "unit",
    "test_edge_sources_mjpeg.py": "unit",
    "test_evaluation.py": "integration",
    "test_fileio.py": "unit",
    "test_metrics.py": "unit",
    "test_noise.py": "unit",
    "test_openvino_2022.py": "integration",
    "test_photometric.py": "unit",
    "test_pi_install.py": "system",
    "test_pi_precision.py": "integration",
    "test_pi_source_checks.py": "system",
    "test_pseudo_labeled.py": "unit",
    "test_label_record.py": "unit",
    "test_serve_triton.py": "system",
    "test_teacher_baselines.py": "unit",
    "test_teacher_cracksam_checkpoints.py": "unit",
    "test_teacher_cracksam_cli.py": "system",
    "test_teacher_cracksam_loader.py": "unit",
    "test_teacher_cracksam_model.py": "unit",
    "test_teacher_cracksam_params.py": "unit",
    "test_teacher_ddp.py": "system",
    "test_teacher_export.py": "integration",
    "test_teacher_parnet_blocks.py": "unit",
    "test_teacher_parnet_cli.py": "system",
    "test_teacher_parnet_complexity.py": "unit",
    "test_teacher_parnet_loss.py": "unit",
    "test_teacher_parnet_model.py": "unit",
    "test_teacher_parnet_swin.py": "unit",
    "test_teacher_tiling.py": "unit",
    "test_teacher_train_config.py": "unit",
    "test_test_kinds.py": "unit",
    "test_torch_dataset_cache.py": "unit",
    "test_training_utils.py": "integration",
}
KINDS = ("unit", "integration", "system")
TESTS_DIR = Path(__file__).resolve().parent


class UnclassifiedTestModule(pytest.File):
    """Stands in for a test module missing from TEST_KINDS: collecting it is an error that says what to do."""

    def collect(self):
        raise self.CollectError(
            f"tests/{self.path.name} has no kind: add it to TEST_KINDS in tests/conftest.py as one of "
            f"{', '.join(KINDS)} (what each means is in that file's docstring)")


def pytest_pycollect_makemodule(module_path: Path, parent):
    if module_path.parent == TESTS_DIR and module_path.name.startswith("test_") and module_path.name not in TEST_KINDS:
        return UnclassifiedTestModule.from_parent(parent, path=module_path)
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        kind = TEST_KINDS.get(item.path.name) if item.path.parent == TESTS_DIR else None
        if kind is not None:
            item.add_marker(getattr(pytest.mark, kind))

    data_dir = shared_datasets_dir()
    skip_data = pytest.mark.skip(reason=f"real datasets not found at {data_dir} (set CRACKEDGE_SHARED_DATA)")
    skip_gpu = pytest.mark.skip(reason="no CUDA GPU")
    skip_pi = pytest.mark.skip(reason="needs Raspberry Pi hardware")
    skip_browser = pytest.mark.skip(reason="headless Chromium not found (apt install chromium)")
    has_data = data_dir.is_dir()
    has_browser = shutil.which("chromium") is not None or shutil.which("chromium-browser") is not None
    gpu_checked: bool | None = None
    for item in items:
        if "data" in item.keywords and not has_data:
            item.add_marker(skip_data)
        if "gpu" in item.keywords:
            if gpu_checked is None:
                gpu_checked = _has_cuda()
            if not gpu_checked:
                item.add_marker(skip_gpu)
        if "pi" in item.keywords:
            item.add_marker(skip_pi)
        if "browser" in item.keywords and not has_browser:
            item.add_marker(skip_browser)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_datasets_dir()


def run_python_without_torch(code: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter where importing torch, timm or segment_anything fails."""
    prelude = (
        "import sys\n"
        "for _m in ('torch', 'torchvision', 'timm', 'segment_anything'):\n"
        "    sys.modules[_m] = None\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=str(cwd or REPO_ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
