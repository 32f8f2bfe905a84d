"""`edge`: the vehicle daemon and its tools (never imports torch).

  edge run --config edge.yaml          run the daemon (systemd: systemd/crackedge-edge.service)
  edge check-config edge.yaml          validate a config, the bundle's hashes and the device; start nothing
  edge bench BUNDLE                    pipeline FPS vs raw async inference FPS, latency, memory
  edge eval BUNDLE --data DATASET      OpenVINO metrics on a canonical dataset split
  edge soak BUNDLE --out DIR           run the daemon for a long time against a hostile camera, a
                                       filling disk and preview floods, systemd watchdog emulated
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from crackedge.cli_options import add_runtime_device
from crackedge.cliutil import add_common_args, run_subcommand
from crackedge.evaluation.command import add_bundle_eval_arguments, bundle_eval_command


def _cmd_run(args: argparse.Namespace) -> int:
    from edge.config import load_edge_config
    from edge.daemon import EXIT_HUNG, run_daemon

    cfg = load_edge_config(args.config)
    code = run_daemon(cfg, Path(args.config))
    if code == EXIT_HUNG:
        # a thread stuck inside the runtime could block interpreter exit: leave now
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _cmd_check_config(args: argparse.Namespace) -> int:
    from edge.checkconfig import check_config

    print(check_config(Path(args.config), check_device=not args.no_device))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from edge.bench import BenchOptions, run_bench

    opts = BenchOptions(
        bundle=Path(args.bundle),
        device=args.device,
        precision=args.precision,
        model=args.model,
        source=Path(args.source) if args.source else None,
        frames=args.frames,
        frame_size=(args.width, args.height),
        num_requests=args.num_requests,
        json_out=Path(args.json) if args.json else None,
        rounds=args.rounds,
        daemon=not args.no_daemon,
        performance_hint=args.performance_hint,
        cpu_snippets=args.cpu_snippets,
        compile_ahead=not args.no_compile_ahead,
        input_tensor=args.input_tensor,
        save=not args.no_save,
        daemon_only=args.daemon_only,
    )
    run_bench(opts)
    return 0


def _cmd_soak(args: argparse.Namespace) -> int:
    from edge.soak import SoakOptions, run_soak

    report = run_soak(SoakOptions(
        bundle=Path(args.bundle), out=Path(args.out), duration_s=args.duration, seed=args.seed, fps=args.fps,
        watchdog_sec=args.watchdog_sec, json_out=Path(args.json) if args.json else None,
    ))
    return 0 if report["passed"] else 1


def _add_model_args(p: argparse.ArgumentParser) -> None:
    add_runtime_device(p)
    p.add_argument(
        "--precision", default="auto", choices=["auto", "bundle", "f32", "f16", "bf16"],
        help="CPU inference precision; auto (default): the fastest this CPU offers that the bundle validated; "
        "bundle: the precision declared at export",
    )
    p.add_argument(
        "--model", default="auto", choices=["auto", "onnx", "ir_fp16", "ir_int8"],
        help="which model of the bundle (auto: FP16 IR on OpenVINO 2023+, ONNX on 2022.3)",
    )


def _cmd_simcam(args: argparse.Namespace) -> int:
    import signal
    import threading

    from edge.simcam import SimCamera, folder_frames, synthetic_frames

    size = (args.width, args.height)
    frames = folder_frames(Path(args.images), size) if args.images else synthetic_frames(size, args.frames, args.seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SimCamera(frames, fps=args.fps, host=args.host, port=args.port) as cam:
        print(f"simulated camera: {len(frames)} frame(s) looped at {args.fps} FPS on {cam.url} (Ctrl-C to stop)", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("run", help="run the daemon with a config file (see edge/examples/edge.yaml)")
    p.add_argument("--config", required=True, help="edge.yaml")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("check-config", help="validate edge.yaml, the bundle and the device without starting anything")
    p.add_argument("config", help="edge.yaml")
    p.add_argument("--no-device", action="store_true", help="do not load OpenVINO to check the device")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("bench", help="pipeline FPS vs raw async inference FPS of the same model; latency; memory")
    p.add_argument("bundle", help="model bundle folder")
    _add_model_args(p)
    p.add_argument("--source", help="a video file or image folder (default: a synthetic stream)")
    p.add_argument("--frames", type=int, default=200, help="frames per measurement (default 200)")
    p.add_argument("--width", type=int, default=1280, help="synthetic frame width (default 1280)")
    p.add_argument("--height", type=int, default=720, help="synthetic frame height (default 720)")
    p.add_argument("--num-requests", type=int, default=None, help="infer requests in flight (default: device optimum)")
    p.add_argument("--rounds", type=int, default=2, help="alternating raw/pipeline rounds; medians reported (default 2)")
    p.add_argument("--performance-hint", default="THROUGHPUT", choices=["THROUGHPUT", "LATENCY"],
                   help="model.performance_hint (LATENCY: one stream, less memory; default THROUGHPUT)")
    p.add_argument("--input-tensor", choices=("u8", "f32"), default="u8",
                   help="model.input_tensor: u8 (default, normalised inside the model) or f32 (normalised on the host)")
    p.add_argument("--cpu-snippets", action="store_true",
                   help="model.cpu_snippets: the CPU plugin's element-wise JIT on (more memory; default off)")
    p.add_argument("--no-compile-ahead", action="store_true",
                   help="model.compile_ahead false: the daemon's first start compiles the model in its own process")
    p.add_argument("--no-save", action="store_true",
                   help="pipeline rounds without saving (default: the default config's saving policy)")
    p.add_argument("--daemon-only", action="store_true", help="only the last step: the peak memory of `edge run`")
    p.add_argument("--no-daemon", action="store_true",
                   help="skip the last step: the peak memory of `edge run` on the same bundle and settings")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("eval", help="evaluate a bundle with OpenVINO on a canonical dataset split (= distill eval)",
                       description="Score the bundle as the daemon runs it (its preprocessing, OpenVINO, the output "
                       "decoded at each image's size) in both metric conventions; the same command as `distill eval`.")
    add_bundle_eval_arguments(p)
    p.set_defaults(func=bundle_eval_command)

    p = sub.add_parser("soak", help="run the daemon against a hostile camera, a filling disk and preview floods; report")
    p.add_argument("bundle", help="model bundle folder (a small one is fine: the soak tests the daemon, not the model)")
    p.add_argument("--out", required=True, help="working folder (config, daemon.log, data/runs)")
    p.add_argument("--duration", type=float, default=1800.0, help="seconds (default 1800)")
    p.add_argument("--seed", type=int, default=0, help="seed of the chaos (default 0)")
    p.add_argument("--fps", type=float, default=10.0, help="camera frame rate (default 10)")
    p.add_argument("--watchdog-sec", type=float, default=30.0, help="emulated WatchdogSec (default 30, like the unit)")
    p.add_argument("--json", help="also write the report to this JSON file")
    p.set_defaults(func=_cmd_soak)

    p = sub.add_parser("simcam", help="serve a simulated mjpg-streamer camera (synthetic road frames or a folder)")
    p.add_argument("--images", help="stream these images (looped) instead of synthetic road frames")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080, like mjpg-streamer)")
    p.add_argument("--fps", type=float, default=5.0, help="frames per second (default 5)")
    p.add_argument("--width", type=int, default=1280, help="frame width (default 1280)")
    p.add_argument("--height", type=int, default=720, help="frame height (default 720)")
    p.add_argument("--frames", type=int, default=24, help="distinct synthetic frames before looping (default 24)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_simcam)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
