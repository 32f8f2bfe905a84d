"""calib runs on a Raspberry Pi without torch: every module imports and works with torch blocked."""

from __future__ import annotations

from tests.conftest import run_python_without_torch


def test_calib_imports_and_measures_without_torch():
    code = (
        "import pkgutil, importlib, sys\n"
        "import calib, calib.measure, calib.calibration, calib.cli\n"
        "for m in pkgutil.iter_modules(calib.__path__):\n"
        "    if not m.name.startswith('_'): importlib.import_module('calib.' + m.name)\n"
        "import numpy as np\n"
        "from calib.measure import measure_crack\n"
        "mask = np.zeros((40, 140), np.uint8); mask[10:13, 20:120] = 1\n"
        "m = measure_crack(mask)\n"
        "assert abs(m.length_px - 100) < 1.5, m\n"
        "assert calib.cli.main(['bench', '--size', '96', '--repeat', '1']) == 0\n"
        "heavy = [n for n in ('torch', 'torchvision', 'timm', 'segment_anything') if sys.modules.get(n) is not None]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    proc = run_python_without_torch(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")
