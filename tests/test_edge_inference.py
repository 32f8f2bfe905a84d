"""Bundle loading, preprocessing, mask decoding, ordered async inference, the OpenVINO compat layer."""

from __future__ import annotations

import importlib
import random
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from crackedge.runtime.async_runner import AsyncRunner
from crackedge.runtime.backends import create_backend
from crackedge.runtime.backends.base import InferenceBackend
from crackedge.runtime.backends.openvino_compat import (
    check_device,
    choose_model_key,
    compile_properties,
    devices_needed_for,
    load_openvino_api,
    without_snippets,
)
from crackedge.runtime.bundle import load_bundle
from crackedge.runtime.decode import MaskDecoder
from crackedge.runtime.errors import DeviceError
from crackedge.runtime.metadata import BundleError, InputSpec, OutputSpec, load_metadata
from crackedge.runtime.preprocess import Preprocessor
from edge.config import ModelConfig
from tests.edge_bundle_fixture import build_test_bundle, synthetic_frame


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return build_test_bundle(tmp_path_factory.mktemp("bundle") / "b")


# ---- preprocessing and postprocessing ----------------------------------------------------------


@pytest.mark.parametrize("order", ["RGB", "BGR"])
def test_preprocessor_matches_numpy_reference_with_per_channel_std(order: str) -> None:
    spec = InputSpec(height=40, width=48, color_order=order, mean=(10.0, 100.0, 200.0), std=(2.0, 50.0, 80.0))
    rgb = synthetic_frame(96, 80, seed=1)
    blob = Preprocessor(spec)(rgb)
    assert blob.shape == (1, 3, 40, 48) and blob.dtype == np.float32
    import cv2

    ref = cv2.resize(rgb, (48, 40), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    if order == "BGR":
        ref = ref[..., ::-1]
    ref = (ref - np.array(spec.mean, np.float32)) / np.array(spec.std, np.float32)
    np.testing.assert_allclose(blob[0], ref.transpose(2, 0, 1), atol=1e-3)


def test_preprocessor_area_resize_and_uniform_std() -> None:
    spec = InputSpec(height=20, width=20, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0), resize="area")
    rgb = np.full((80, 80, 3), 255, np.uint8)
    blob = Preprocessor(spec)(rgb)
    np.testing.assert_allclose(blob, 1.0, atol=1e-6)


def test_mask_decoder_logits_equal_softmax_threshold_after_bilinear_upsampling() -> None:
    rng = np.random.default_rng(0)
    out = rng.normal(0, 2, (1, 2, 6, 8)).astype(np.float32)
    dec = MaskDecoder(OutputSpec(kind="logits", channels=2, crack_channel=1, stride=4), threshold=0.3)
    mask = dec.mask(out, (32, 24))
    assert mask.shape == (24, 32) and set(np.unique(mask)) <= {0, 1}
    import cv2

    up = np.stack([cv2.resize(out[0, c], (32, 24), interpolation=cv2.INTER_LINEAR) for c in range(2)])
    e = np.exp(up - up.max(0))
    prob = e[1] / e.sum(0)
    assert np.array_equal(mask, (prob > 0.3).astype(np.uint8))
    np.testing.assert_allclose(dec.probability(out, (32, 24)), prob, atol=1e-5)


def test_mask_decoder_probabilities_and_channel_zero() -> None:
    out = np.array([[[[0.2, 0.8], [0.6, 0.4]]]], np.float32)
    dec = MaskDecoder(OutputSpec(kind="probabilities", channels=1, crack_channel=0), threshold=0.5)
    assert dec.mask(out, (2, 2)).tolist() == [[0, 1], [1, 0]]
    two = np.concatenate([np.zeros_like(out), -out * 10], axis=1)  # crack channel 0 is the larger one
    dec0 = MaskDecoder(OutputSpec(kind="logits", channels=2, crack_channel=0), threshold=0.5)
    assert dec0.mask(two, (2, 2)).tolist() == [[1, 1], [1, 1]]


# ---- ordered async inference -------------------------------------------------------------------


class ShuffledBackend(InferenceBackend):
    """Finishes requests after random delays (out of order) on its own threads."""

    def __init__(self, n: int = 4, hang_after: int | None = None) -> None:
        self.n_requests = n
        self.info = {"device": "FAKE"}
        self.cb = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.hang_after = hang_after
        self.started = 0
        self._lock = threading.Lock()

    def infer(self, blob):
        return blob * 2

    def set_callback(self, callback) -> None:
        self.cb = callback

    def start_async(self, blob, userdata) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.started += 1
            if self.hang_after is not None and self.started > self.hang_after:
                return  # never completes: a wedged device

        def done() -> None:
            time.sleep(random.uniform(0, 0.02))
            with self._lock:
                self.in_flight -= 1
            self.cb(userdata, blob * 2, None)

        threading.Thread(target=done, daemon=True).start()

    def wait_all(self) -> None:
        pass


def test_async_runner_keeps_n_in_flight_and_returns_results_in_submit_order() -> None:
    random.seed(1)
    backend = ShuffledBackend(n=4)
    runner = AsyncRunner(backend)
    abort = threading.Event()
    got = []

    def consume():
        while True:
            r = runner.next_result(5.0)
            assert r is not None
            if r[0] == "end":
                return
            got.append((r[1], float(r[2].ravel()[0])))

    th = threading.Thread(target=consume)
    th.start()
    for i in range(60):
        assert runner.submit(np.full((1, 1), i, np.float32), i, abort)
    runner.finish()
    th.join(10)
    assert [g[0] for g in got] == list(range(60))
    assert all(v == 2 * k for k, v in got)
    assert 2 <= backend.max_in_flight <= 4


def test_async_runner_submit_gives_up_on_abort_when_device_hangs() -> None:
    backend = ShuffledBackend(n=2, hang_after=0)
    runner = AsyncRunner(backend)
    abort = threading.Event()
    assert runner.submit(np.zeros(1, np.float32), 0, abort)
    assert runner.submit(np.zeros(1, np.float32), 1, abort)
    assert runner.oldest_started() is not None and runner.in_flight == 2
    threading.Timer(0.2, abort.set).start()
    t0 = time.monotonic()
    assert runner.submit(np.zeros(1, np.float32), 2, abort) is False
    assert time.monotonic() - t0 < 2.0
    assert runner.next_result(0.05) is None


def test_a_request_s_start_is_stamped_after_the_wait_for_a_free_one() -> None:
    """The infer stage's latency starts when the device takes the frame, not while the frame waits for a
    free request (which is back-pressure, not device time)."""

    class SlowBackend(ShuffledBackend):
        def start_async(self, blob, userdata) -> None:
            threading.Timer(0.3, lambda: self.cb(userdata, blob * 2, None)).start()  # 0.3 s per inference

    runner = AsyncRunner(SlowBackend(n=1))
    abort = threading.Event()
    taker = threading.Thread(target=lambda: [runner.next_result(2.0) for _ in range(2)])
    taker.start()
    first: dict = {}
    second: dict = {}
    t0 = time.monotonic()
    assert runner.submit(np.zeros(1, np.float32), 0, abort, started=first)
    assert runner.submit(np.zeros(1, np.float32), 1, abort, started=second)  # waits for the only request
    taker.join(5)
    assert first["submit_mono"] - t0 < 0.1
    assert second["submit_mono"] - t0 >= 0.25  # stamped when it started, after the wait
    hung = AsyncRunner(ShuffledBackend(n=1, hang_after=0))
    assert hung.submit(np.zeros(1, np.float32), 0, abort)  # holds the only request forever
    late: dict = {}
    threading.Timer(0.3, abort.set).start()
    assert hung.submit(np.zeros(1, np.float32), 1, abort, started=late) is False
    assert late == {}  # never started: no stamp


# ---- bundle checks -------------------------------------------------------------------------------


def test_load_bundle_verifies_hashes(bundle_dir: Path, tmp_path: Path) -> None:
    import shutil

    ok = load_bundle(bundle_dir)
    assert ok.input_wh == (96, 96) and ok.model_sha256("ir_fp16")
    broken = tmp_path / "missing"
    shutil.copytree(bundle_dir, broken)
    (broken / "model.bin").unlink()
    with pytest.raises(BundleError, match="model.bin is missing"):
        load_bundle(broken)
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle_dir, tampered)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    (tampered / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.onnx does not match the SHA-256"):
        load_bundle(tampered)
    with pytest.raises(BundleError, match="metadata.yaml is missing"):
        load_bundle(tmp_path)


# ---- OpenVINO compatibility layer -----------------------------------------------------------------


class Fake2022Core:
    """Enough of openvino.runtime.Core (2022.3) to drive OpenVinoBackend."""

    instances: list["Fake2022Core"] = []

    def __init__(self) -> None:
        self.available_devices = ["CPU", "MYRIAD"]
        self.read = []
        self.compiled_with = []
        self.compiled_models = []
        self.properties = {}
        Fake2022Core.instances.append(self)

    def set_property(self, props) -> None:
        self.properties.update(props)

    def read_model(self, path):
        self.read.append(path)
        return object()

    def compile_model(self, model, device, props):
        self.compiled_models.append(model)
        self.compiled_with.append((device, dict(props)))
        if "SNIPPETS_MODE" in props:  # 2022.3's CPU plugin has no such key
            raise RuntimeError(f"Unsupported property SNIPPETS_MODE by {device} plugin")
        return FakeCompiled(device, props)


class FakeCompiled:
    def __init__(self, device, props) -> None:
        self.device, self.props = device, props
        self.outputs = [types.SimpleNamespace(names={"crack"})]

    def get_property(self, name):
        if name == "OPTIMAL_NUMBER_OF_INFER_REQUESTS":
            return 4 if self.device == "MYRIAD" else 2
        if name == "INFERENCE_PRECISION_HINT":
            return self.props.get("INFERENCE_PRECISION_HINT", "bf16")
        raise KeyError(name)

    def create_infer_request(self):
        return types.SimpleNamespace()


class FakeAsyncInferQueue:
    def __init__(self, compiled, n) -> None:
        self.n = n

    def set_callback(self, cb) -> None:
        self.cb = cb

    def wait_all(self) -> None:
        pass


@pytest.fixture
def fake_openvino_2022(monkeypatch):
    """sys.modules as on a Pi with OpenVINO 2022.3: `openvino` has no Core; `openvino.runtime` has."""
    pkg = types.ModuleType("openvino")
    pkg.__path__ = []
    rt = types.ModuleType("openvino.runtime")
    rt.Core = Fake2022Core
    rt.AsyncInferQueue = FakeAsyncInferQueue
    rt.get_version = lambda: "2022.3.0-9052-9752fafe8eb-releases/2022/3"
    pkg.runtime = rt
    monkeypatch.setitem(sys.modules, "openvino", pkg)
    monkeypatch.setitem(sys.modules, "openvino.runtime", rt)
    Fake2022Core.instances = []
    monkeypatch.setattr("crackedge.runtime.backends.openvino_compat._CORES", {})
    return rt


def test_compat_selects_2022_api_and_reads_onnx(fake_openvino_2022, bundle_dir: Path) -> None:
    api = load_openvino_api()
    assert api.generation == "2022" and api.module == "openvino.runtime" and api.version.startswith("2022.3")
    meta = load_metadata(bundle_dir)
    assert choose_model_key(meta, "2022") == "onnx"
    with pytest.raises(BundleError, match="does not load there"):
        choose_model_key(meta, "2022", "ir_fp16")
    backend, key = create_backend(ModelConfig(bundle=bundle_dir, device="MYRIAD"), load_bundle(bundle_dir))
    core = Fake2022Core.instances[-1]
    assert key == "onnx" and core.compiled_models == [str(bundle_dir / "model.onnx")]
    device, props = core.compiled_with[-1]
    assert device == "MYRIAD" and "INFERENCE_PRECISION_HINT" not in props
    assert backend.n_requests == 4 and backend.info["precision"] == "f16"
    assert backend.input_tensor == "f32"  # 2022.3 (the NCS2 path): no PrePostProcessor, float input as before
    backend, _ = create_backend(ModelConfig(bundle=bundle_dir, device="CPU"), load_bundle(bundle_dir))
    (_, tried), (_, used) = Fake2022Core.instances[-1].compiled_with[-2:]
    assert tried["SNIPPETS_MODE"] == "DISABLE"  # asked first, refused by 2022.3's plugin ...
    assert "SNIPPETS_MODE" not in used and used["INFERENCE_PRECISION_HINT"] == "f32"  # ... so compiled without it
    assert len(Fake2022Core.instances) == 1  # one Core per process, shared by both backends


def test_compat_selects_2023_api_here() -> None:
    api = load_openvino_api()
    assert api.generation == "2023+" and api.module == "openvino"
    import openvino

    assert api.Core is openvino.Core


RUNTIME_IMPORT_PROBE = """
import json, sys
from crackedge.runtime.backends.openvino_compat import load_openvino_api
api = load_openvino_api()
import openvino
before = sorted(m for m in sys.modules if m.startswith(("openvino.tools", "openvino_telemetry")))
convert = openvino.convert_model
print(json.dumps({"generation": api.generation, "before": before, "core": api.Core is openvino.Core,
                  "convert": convert.__module__, "after": "openvino.tools.ovc" in sys.modules,
                  "planted": sys.modules.get("openvino.tools.ovc", 1) is None}))
"""


def test_runtime_imports_openvino_without_its_model_converter() -> None:
    """The daemon's import skips openvino.tools.ovc (27.3 -> 11.4 MB resident for the import) and its telemetry; convert_model
    still works in the same process, imported on first use. A fresh interpreter: this one has OpenVINO."""
    import json
    import subprocess

    from crackedge.child_env import checkout_env

    proc = subprocess.run([sys.executable, "-c", RUNTIME_IMPORT_PROBE], capture_output=True, text=True,
                          timeout=120, env=checkout_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["generation"] == "2023+" and report["core"]
    assert report["before"] == []  # neither the converter nor its telemetry
    assert report["convert"].startswith("openvino.tools.ovc") and report["after"] and not report["planted"]


def test_compat_without_openvino_says_what_to_install(monkeypatch) -> None:
    from crackedge.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingDependencyError, match="pip install openvino.*2022.3"):
        load_openvino_api()


def test_compile_properties_set_cpu_precision_explicitly() -> None:
    props = compile_properties("CPU", "f32", "THROUGHPUT", threads=2, num_requests=3)
    assert props == {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": "2",
                     "PERFORMANCE_HINT_NUM_REQUESTS": "3"}
    assert "INFERENCE_PRECISION_HINT" not in compile_properties("MYRIAD", "f32")


def test_compile_properties_turn_cpu_snippets_off_only_on_cpu_and_drop_them_only_for_that_error() -> None:
    props = compile_properties("CPU", "bf16", snippets=False)
    assert props["SNIPPETS_MODE"] == "DISABLE"
    assert "SNIPPETS_MODE" not in compile_properties("CPU", "bf16", snippets=True)
    assert "SNIPPETS_MODE" not in compile_properties("MYRIAD", None, snippets=False)
    assert without_snippets(props, RuntimeError("Unsupported property SNIPPETS_MODE by CPU plugin")) == {
        "PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "bf16"}
    assert without_snippets(props, RuntimeError("out of memory")) is None
    assert ModelConfig(bundle=Path("b")).cpu_snippets is False  # the daemon's default: off (less memory)


def test_check_device_lists_found_devices_and_the_fix() -> None:
    check_device("GPU", ["CPU", "GPU.0"], "2024.6")
    check_device("AUTO", ["CPU"], "2024.6")
    with pytest.raises(DeviceError) as err:
        check_device("MYRIAD", ["CPU"], "2026.4.1")
    msg = str(err.value)
    assert "'MYRIAD' not found" in msg and "sees: CPU" in msg and "2022.3" in msg and "99-ncs2.rules" in msg


class PluginCountingCore:
    """A Core whose `available_devices` counts how often every plugin was loaded."""

    def __init__(self, cpu_answers: bool = True) -> None:
        self.cpu_answers, self.enumerated = cpu_answers, 0

    def get_property(self, device, name):
        if not self.cpu_answers:
            raise RuntimeError("no CPU plugin")
        assert (device, name) == ("CPU", "FULL_DEVICE_NAME")
        return "Some CPU"

    @property
    def available_devices(self):
        self.enumerated += 1
        return ["CPU", "NPU", "MYRIAD"]


def test_cpu_device_check_loads_only_the_cpu_plugin() -> None:
    core = PluginCountingCore()
    assert devices_needed_for(core, "CPU") == ["CPU"] and core.enumerated == 0
    assert devices_needed_for(core, "MYRIAD") == ["CPU", "NPU", "MYRIAD"] and core.enumerated == 1
    broken = PluginCountingCore(cpu_answers=False)  # CPU plugin missing: the full list names what is there
    assert devices_needed_for(broken, "CPU") == ["CPU", "NPU", "MYRIAD"] and broken.enumerated == 1


def test_real_openvino_backend_runs_the_bundle_at_f32(bundle_dir: Path) -> None:
    backend, key = create_backend(ModelConfig(bundle=bundle_dir, device="CPU", num_requests=3), load_bundle(bundle_dir))
    assert key == "ir_fp16" and backend.info["precision"] == "f32" and backend.n_requests == 3
    assert backend.input_tensor == "u8"  # the daemon's default: normalised inside the model
    meta = load_metadata(bundle_dir)
    pre, dec = Preprocessor(meta.input, backend.input_tensor), MaskDecoder(meta.output, meta.threshold)
    crack = dec.mask(backend.infer(pre(synthetic_frame(160, 120, seed=2, crack=True, thickness=8))), (160, 120))
    blank = dec.mask(backend.infer(pre(synthetic_frame(160, 120, seed=3, crack=False))), (160, 120))
    assert crack.mean() > 0.01 and blank.sum() == 0
    runner = AsyncRunner(backend)
    abort = threading.Event()
    blobs = [pre(synthetic_frame(160, 120, seed=s, crack=s % 2 == 0, thickness=8)) for s in range(6)]
    for i, b in enumerate(blobs):
        runner.submit(b, i, abort)
    runner.finish()
    outs = []
    while (r := runner.next_result(10.0))[0] != "end":
        outs.append(r)
    assert [o[1] for o in outs] == list(range(6))
    for i, o in enumerate(outs):
        np.testing.assert_allclose(o[2], backend.infer(blobs[i]), atol=1e-4)
    backend.close()


def test_uint8_input_gives_the_float_path_s_output(bundle_dir: Path) -> None:
    """The daemon hands the model uint8 frames and lets OpenVINO normalise them (model.input_tensor u8); export
    parity and `edge eval` normalise on the host (f32). Both must give the same network output."""
    bundle = load_bundle(bundle_dir)
    u8, _ = create_backend(ModelConfig(bundle=bundle_dir, precision="f32"), bundle)
    f32, _ = create_backend(ModelConfig(bundle=bundle_dir, precision="f32", input_tensor="f32"), bundle)
    pre_u8, pre_f32 = Preprocessor(bundle.meta.input, u8.input_tensor), Preprocessor(bundle.meta.input, f32.input_tensor)
    assert (u8.input_tensor, f32.input_tensor) == ("u8", "f32")
    assert u8.info["input"].startswith("uint8") and f32.info["input"].startswith("float32")
    for seed in range(3):
        frame = synthetic_frame(160, 120, seed=seed, crack=True, thickness=6)
        a, b = u8.infer(pre_u8(frame)), f32.infer(pre_f32(frame))
        assert a.shape == b.shape and float(np.abs(a - b).max()) < 1e-4
    u8.close()
    f32.close()


def test_a_remote_model_in_front_keeps_the_fallback_on_float_input(bundle_dir: Path) -> None:
    """backend remote: the pipeline's one input goes to the server's wire or to the fallback, so both take
    the float input the wire encodes from."""
    remote = {"url": "http://127.0.0.1:9", "model_name": "m"}
    cfg = ModelConfig(backend="remote", fallback=bundle_dir, remote=remote)
    backend, _ = create_backend(cfg, load_bundle(bundle_dir))
    assert backend.input_tensor == "f32" and backend.info["input"] == "float32 NCHW"
    backend.close()
    with pytest.raises(ValueError, match="backend remote takes input_tensor: f32"):
        ModelConfig(backend="remote", fallback=bundle_dir, remote=remote, input_tensor="u8")


def test_with_u8_input_converts_reorders_and_normalises_inside_the_model() -> None:
    """An identity network shows each step: uint8 NHWC RGB in, (BGR - mean) / std NCHW float out."""
    import openvino as ov

    from crackedge.runtime.backends.openvino_compile import with_u8_input

    # opsets are top-level from 2023.2; OpenVINO 2023.1 (the edge extra's floor) has them in openvino.runtime
    opset = getattr(ov, "opset8", None) or importlib.import_module("openvino.runtime.opset8")
    param = opset.parameter([1, 3, 4, 5], ov.Type.f32, name="image")
    model = ov.Model([opset.relu(param)], [param], "identity")
    spec = InputSpec(height=4, width=5, color_order="BGR", mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 5.0))
    compiled = ov.Core().compile_model(with_u8_input(model, spec), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    rgb = np.random.default_rng(0).integers(100, 256, size=(1, 4, 5, 3), dtype=np.uint8)
    out = compiled.create_infer_request().infer({0: rgb})[0]
    bgr = rgb[0, :, :, ::-1].transpose(2, 0, 1).astype(np.float32)
    expected = (bgr - np.array([10, 20, 30], np.float32)[:, None, None]) / np.array([2, 4, 5], np.float32)[:, None, None]
    np.testing.assert_allclose(out[0], expected, rtol=1e-5)


def test_async_runner_window_holds_the_producer_back_when_nobody_takes_results() -> None:
    backend = ShuffledBackend(n=2)
    runner = AsyncRunner(backend)
    abort = threading.Event()
    submitted = []

    def produce():
        for i in range(10):
            if not runner.submit(np.zeros(1, np.float32), i, abort):
                return
            submitted.append(i)

    th = threading.Thread(target=produce)
    th.start()
    time.sleep(0.5)
    assert len(submitted) == runner.window == 4  # finished outputs do not pile up
    for i in range(10):
        r = runner.next_result(5.0)
        assert r[1] == i
    th.join(5)
    assert len(submitted) == 10


def test_precision_the_cpu_cannot_run_is_reported(bundle_dir, monkeypatch, caplog) -> None:
    """A bundle validated at bf16 on the export box, run on a CPU without bf16 (a Pi 4): OpenVINO
    falls back silently, so the daemon says so and reports the precision it really runs."""
    import crackedge.runtime.backends.openvino_backend as ovb

    monkeypatch.setattr(ovb, "type_name", lambda value: "f32")
    with caplog.at_level("WARNING"):
        backend, _ = create_backend(ModelConfig(bundle=bundle_dir, device="CPU", precision="bf16"), load_bundle(bundle_dir))
    assert backend.info["precision"] == "f32"
    assert "asked OpenVINO for bf16 inference on this CPU but it runs f32" in caplog.text


def test_this_openvino_compiles_with_cpu_snippets_off_without_falling_back(bundle_dir: Path, caplog) -> None:
    caplog.set_level("INFO")
    backend, _ = create_backend(ModelConfig(bundle=bundle_dir, device="CPU"), load_bundle(bundle_dir))
    spec = load_metadata(bundle_dir).input
    try:
        assert np.isfinite(backend.infer(np.zeros_like(Preprocessor(spec, backend.input_tensor).new_input()))).all()
    finally:
        backend.close()
    assert "has no SNIPPETS_MODE" not in caplog.text  # OpenVINO 2023+ knows the key: no silent fallback
