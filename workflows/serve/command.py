"""`crackedge serve BUNDLE[=NAME]...`: write the repository, start Triton, wait for a signal."""

from __future__ import annotations

import argparse
import logging
import signal
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve model bundles through Triton Inference Server (KServe v2 over HTTP and gRPC)",
        description="Serves each BUNDLE (from `distill export` or `teacher export`) as a Triton model running "
        "the bundle with OpenVINO on the CPU: KServe v2 / Open Inference Protocol over HTTP and gRPC, dynamic "
        "batching, /v2/health/ready, Prometheus metrics on their own port. Binds 127.0.0.1 unless --host says "
        "otherwise; for a public address put it behind TLS and authentication (docs/serve.md). Needs "
        "`pip install 'crackedge[serve]'` (Linux x86_64, glibc >= 2.35).")
    p.add_argument("bundles", nargs="+", metavar="BUNDLE[=NAME]", help="bundle folder, optionally =model name "
                   "(default: the bundle's model name)")
    p.add_argument("--host", default="127.0.0.1", help="address for HTTP, gRPC and metrics (default 127.0.0.1)")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument("--no-dynamic-batching", action="store_true",
                   help="one request at a time per model instance (default: dynamic batching)")
    p.add_argument("--max-batch-size", type=int, default=16, help="requests grouped per execution (default 16)")
    p.add_argument("--max-queue-delay-us", type=int, default=2000,
                   help="how long the batcher waits for more requests, microseconds (default 2000)")
    p.add_argument("--instances", type=int, default=1, help="model instances (processes) per bundle (default 1)")
    p.add_argument("--requests", type=int, default=None,
                   help="OpenVINO infer requests per instance (default: the CPU's optimal number)")
    p.add_argument("--threads", type=int, default=None, help="OpenVINO CPU threads per instance (default: all)")
    p.add_argument("--precision", default="bundle", choices=["bundle", "f32", "bf16", "f16"],
                   help="CPU inference precision (default: the bundle's validated one)")
    p.add_argument("--triton-arg", action="append", default=[], metavar="ARG",
                   help="extra tritonserver option, repeatable (e.g. --triton-arg=--grpc-use-ssl=true)")
    p.add_argument("--work-dir", type=Path, default=None, help="repository, backend copy and log (default: a temp folder)")
    p.add_argument("--write-repository", type=Path, metavar="DIR", default=None,
                   help="only write a self-contained model repository (bundles copied in) for another machine, a "
                   "stock Triton or a KServe InferenceService, and exit")
    p.set_defaults(func=cmd_serve)


def _settings(args: argparse.Namespace):
    from workflows.serve.repository import ModelSettings

    return ModelSettings(dynamic_batching=not args.no_dynamic_batching, max_batch_size=args.max_batch_size,
                         max_queue_delay_us=args.max_queue_delay_us, instances=args.instances,
                         requests=args.requests, threads=args.threads, precision=args.precision)


def cmd_serve(args: argparse.Namespace) -> int:
    from workflows.serve.repository import parse_bundle_arg, write_repository
    from workflows.serve.triton import ServerOptions, TritonServer

    bundles = [parse_bundle_arg(b) for b in args.bundles]
    if args.write_repository is not None:
        models = write_repository(bundles, args.write_repository, _settings(args), copy_bundles=True)
        print(f"model repository: {args.write_repository} ({', '.join(models)}); serve it with "
              f"`tritonserver --model-repository={args.write_repository}` where crackedge and openvino are installed")
        return 0
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="crackedge-serve-"))
    models = write_repository(bundles, work / "repository", _settings(args))
    if args.host not in LOOPBACK:
        log.warning("serving on %s: anyone who reaches this address can use the models and read the metrics. Put "
                    "it behind a TLS proxy with authentication (docs/serve.md, 'Public address').", args.host)
    server = TritonServer(work / "repository", work, ServerOptions(args.host, args.http_port, args.grpc_port,
                                                                   args.metrics_port, extra_args=args.triton_arg))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    for name, bundle in models.items():
        m = bundle.meta
        print(f"{name}: {m.model.kind} {m.model_name}, input {m.input.height}x{m.input.width}, "
              f"{server.http_url}/v2/models/{name}/infer")
    print(f"HTTP {server.http_url}  gRPC {server.grpc_url}  metrics {server.metrics_url}  log {server.log_file}",
          flush=True)
    while not stop.wait(1.0):
        if server.proc is not None and server.proc.poll() is not None:
            print(f"error: tritonserver exited with status {server.proc.returncode}:\n{server.log_tail()}")
            return 1
    server.stop()
    return 0
