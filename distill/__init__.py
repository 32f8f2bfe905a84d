"""distill: HRNet-W18 / ResNet50 students trained from a teacher with channel-wise distillation,
exported as an edge-ready model bundle (ONNX opset 11, OpenVINO IR FP16, optional INT8)."""
