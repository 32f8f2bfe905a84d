"""`crackedge serve`: model bundles behind Triton Inference Server (KServe v2 / Open Inference Protocol).

    triton.py         finding the tritonserver of the `nvidia-pytriton` wheel, why it cannot run here
                      (triton_unsupported), the server's environment (the libpython trap), TritonServer
    repository.py     a Triton model repository for bundles: config.pbtxt + model.py per bundle
    triton_model.py   the Python-backend model: decodes the wire payload, runs the bundle with
                      crackedge.runtime (OpenVINO), returns crack probability
The wire format (what a client sends, how the server tells payloads apart) is shared with the
vehicle's client: crackedge.runtime.wire.
See docs/serve.md.
"""
