"""The export machinery every model bundle goes through (torch is allowed here, like crackedge.training):
`distill export` (students) and `teacher export` (CrackSAM, PARNet) both write the one bundle format
(crackedge.runtime.metadata) with it.

    onnx_export.py   torch -> ONNX with the TorchScript exporter, the written opset checked, onnx.checker
    openvino_ir.py   ONNX -> OpenVINO IR with FP16 weights
    parity.py        outputs of each runtime vs torch: max abs diff, mask IoU, IoU vs ground truth
    parity_check.py  the acceptance criteria judged from the parity records
    samples.py       parity / calibration images: a canonical dataset, an image folder, or synthetic
    ncs2_ops.py      the ONNX ops an NCS2 runs (allow-list) and the graph check
    bundle.py        staging folder + atomic publish, the float parity runs, the verdict, the summary
    errors.py        ExportError, UnsupportedOpsError

Model specifics stay with their packages: the student wrapper and INT8 (NNCF) in `distill/export/`,
the teacher wrappers and delta merging in `teacher/export.py`.
"""
