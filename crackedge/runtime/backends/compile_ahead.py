"""Compile a model into OpenVINO's compiled-model cache in a short child process, before the daemon loads it.

A process that compiles an IR holds the parsed graph, the plugin's transformed copy of it and, with a
cache (CACHE_DIR), the compiled blob that OpenVINO serialises in memory before writing it; a process
that imports the blob from the cache holds none of that. For HRNet-W18 448 on a 2-core x86 at bf16
the daemon's peak (VmHWM) was 15-25 MB higher on its first start with the INT8 IR (297-310 against
283-286 MB) and 6-8 MB with the FP16 IR (docs/edge.md, Memory). The vehicle's long-running process
should not carry that transient: when the model (with these settings) has not been compiled into its
cache folder yet, `compile_in_child` compiles it in a fresh interpreter that writes the cache and
exits, and the daemon then imports the blob. The two never hold memory at the same time (the parent
waits), so the machine's peak is the larger of the two, and the child's own peak (it has no frames,
queues or OpenCV) is reported beside the daemon's.

A model counts as compiled when its cache folder (one per model content, crackedge.runtime.model_cache)
holds the marker of `compile_key` (device, compile properties, input tensor, OpenVINO version, file
name): written after a child or an in-process compile succeeded. A child that fails or runs past its
time is logged and the caller compiles in its own process as before, which reports the real error.

    python -m crackedge.runtime.backends.compile_ahead '{"model": ..., "cache_dir": ..., ...}'
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from crackedge.child_env import checkout_env
from crackedge.process_memory import rss_mb
from crackedge.runtime.metadata import InputSpec

log = logging.getLogger(__name__)

#: prefix of the marker files; the rest of the name is `compile_key`
MARKER_PREFIX = ".compiled-"
#: a child that has not compiled the model by then is killed (the caller then compiles it itself)
CHILD_TIMEOUT_S = 900.0


def compile_key(model_path: Path, device: str, props: dict[str, str], u8_input: Optional[InputSpec],
                version: str) -> str:
    """16 hex digits naming one way of compiling one model file: what the cache's blob depends on."""
    text = json.dumps(
        {"file": Path(model_path).name, "device": device, "props": props, "version": version,
         "u8_input": u8_input.model_dump(mode="json") if u8_input is not None else None},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def is_compiled(cache_dir: Path, key: str) -> bool:
    """True when a compile with `key` into `cache_dir` has succeeded before (its marker is there)."""
    return (Path(cache_dir) / f"{MARKER_PREFIX}{key}").is_file()


def mark_compiled(cache_dir: Path, key: str) -> None:
    """Record that a compile with `key` succeeded (a failure to write is only logged: it costs a child next start)."""
    try:
        (Path(cache_dir) / f"{MARKER_PREFIX}{key}").touch()
    except OSError as err:
        log.warning("cannot mark the compiled-model cache %s as filled: %s", cache_dir, err)


def compile_in_child(model_path: Path, cache_dir: Path, device: str, props: dict[str, str],
                     u8_input: Optional[InputSpec], timeout_s: float = CHILD_TIMEOUT_S) -> dict[str, Any]:
    """Compile `model_path` into `cache_dir` in a child interpreter and wait for it.

    Returns {"ok": bool, "peak_mb": the child's VmHWM as it reports it (None where it cannot), "seconds":
    wall time, "error": why not ok (absent when ok)}. Never raises for a failing child: the caller
    compiles in-process then. (Not the child's ru_maxrss: after a vfork that counts the parent's peak.)
    """
    request = {"model": str(model_path), "cache_dir": str(cache_dir), "device": device, "props": props,
               "u8_input": u8_input.model_dump(mode="json") if u8_input is not None else None}
    cmd = [sys.executable, "-m", __name__, json.dumps(request)]
    start = time.monotonic()
    # files, not pipes: a pipe left unread could fill and block the child
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out_file, stderr=err_file,
                                    env=checkout_env())
        except OSError as err:
            return {"ok": False, "peak_mb": None, "seconds": 0.0, "error": f"cannot start {sys.executable}: {err}"}
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {"ok": False, "peak_mb": None, "seconds": round(time.monotonic() - start, 2),
                    "error": f"still compiling after {timeout_s:.0f} s: killed"}
        seconds = round(time.monotonic() - start, 2)
        if code != 0:
            err_file.seek(0)
            tail = err_file.read().decode("utf-8", "replace").strip().splitlines()[-1:]
            return {"ok": False, "peak_mb": None, "seconds": seconds,
                    "error": f"exited {code}" + (f": {tail[0][:300]}" if tail else "")}
        out_file.seek(0)
        try:
            peak_mb = json.loads(out_file.read().decode("utf-8") or "{}").get("peak_mb")
        except ValueError:
            peak_mb = None
    return {"ok": True, "peak_mb": peak_mb, "seconds": seconds}


def main(argv: Optional[list[str]] = None) -> int:
    """The child: compile the model of the JSON request into its cache folder and exit (0 when compiled)."""
    from crackedge.runtime.backends.openvino_compile import compiled_model
    from crackedge.runtime.backends.openvino_compat import load_openvino_api, shared_core

    args = sys.argv[1:] if argv is None else argv
    request = json.loads(args[0])
    api = load_openvino_api()
    core = shared_core(api)
    core.set_property({"CACHE_DIR": request["cache_dir"]})
    spec = InputSpec.model_validate(request["u8_input"]) if request["u8_input"] is not None else None
    compiled_model(core, Path(request["model"]), request["device"], request["props"], api, spec)
    print(json.dumps({"peak_mb": rss_mb("VmHWM")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
