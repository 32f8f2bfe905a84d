"""The one torch-free runtime of a model bundle: what the vehicle, `distill eval`, the export checks
and the benchmarks all run.

    metadata.py     the bundle format (BundleMetadata: preprocessing, output layout, parity, hashes)
    bundle.py       load_bundle: metadata read, every model file checked against its SHA-256
    options.py      RuntimeOptions: device, model file, precision, requests, threads
    precision.py    which CPU precision runs: the fastest offered whose parity record passes
    preprocess.py   frame -> network input, exactly as the metadata says
    backends/       OpenVINO (2022.3 and 2023+) behind InferenceBackend; create_backend, open_model
    async_runner.py requests in flight, results in submit order
    decode.py       network output -> crack probability / mask at the frame's size
    predictor.py    one frame through all of it, synchronously (the evaluator's predictor)
"""
