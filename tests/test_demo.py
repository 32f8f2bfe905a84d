from pathlib import Path

from crackedge.demo import DemoConfig, run_demo


def test_demo_runs_on_synthetic_default(tmp_path):
    summary = run_demo(DemoConfig(out=tmp_path, size=(64, 64), n_train=4, n_val=2, n_test=2))
    assert (tmp_path / "data" / "dataset.yaml").is_file()
    sheet = tmp_path / "data_examples.jpg"
    assert sheet.read_bytes()[:2] == b"\xff\xd8"
    assert any("8 synthetic images" in line for line in summary.lines)
