"""Every registered student: declared shapes vs a real forward pass, ONNX export, weight loading."""

from __future__ import annotations

import pytest
import torch

from distill.errors import CheckpointError
from distill.students import build_student, list_students
from distill.students.segmentor import count_parameters

torch.set_num_threads(2)
SIZE = 64


def test_registry_lists_the_required_students():
    names = list_students()
    for required in ("hrnet_w18", "resnet50"):
        assert required in names
    assert len(names) >= 3  # plus at least one light student for a Pi CPU


def test_unknown_student_is_a_value_error_listing_the_valid_names():
    with pytest.raises(ValueError) as exc:
        build_student("hrnet_w99")
    assert "hrnet_w99" in str(exc.value)
    for name in list_students():
        assert name in str(exc.value)


@pytest.mark.parametrize("name", list_students())
def test_student_forward_matches_its_declaration_and_exports(name, tmp_path):
    import onnx

    from distill.export.onnx_export import export_onnx
    from distill.export.wrapper import export_module

    model = build_student(name).eval()
    spec = model.spec
    assert spec.input_size == (448, 448)
    with torch.no_grad():
        y = model(torch.randn(2, 3, SIZE, SIZE))
    assert y.shape == (2, 2, *spec.output_size((SIZE, SIZE)))
    assert y.shape[-1] == SIZE // spec.stride
    assert torch.isfinite(y).all()

    path = export_onnx(export_module(model), tmp_path / "m.onnx", (SIZE, SIZE))
    m = onnx.load(str(path))
    assert [i.version for i in m.opset_import if i.domain in ("", "ai.onnx")] == [11]
    out_dims = [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == [1, 1, SIZE // spec.stride, SIZE // spec.stride]


def test_hrnet_w18_parameter_count_is_the_papers():
    n = count_parameters(build_student("hrnet_w18"))
    assert 9.55e6 < n < 9.70e6  # CrackSAM paper: 9.63 M


def test_timm_classification_weights_load_onto_the_feature_backbone(tmp_path):
    import timm

    full = timm.create_model("hrnet_w18_small_v2", pretrained=False)
    path = tmp_path / "hrnet_w18_small_v2.pth"
    torch.save({"state_dict": full.state_dict()}, path)
    student = build_student("hrnet_w18_small_v2", weights=path)
    loaded = student.backbone.state_dict()
    src = full.state_dict()
    assert len(loaded) > 100
    for key, value in loaded.items():
        assert torch.equal(value, src[key]), key


def test_mismatched_weights_name_the_keys(tmp_path):
    import timm

    path = tmp_path / "wrong.pth"
    torch.save(timm.create_model("mobilenetv3_large_100", pretrained=False).state_dict(), path)
    with pytest.raises(CheckpointError) as exc:
        build_student("hrnet_w18_small_v2", weights=path)
    msg = str(exc.value)
    assert "wrong.pth" in msg and "hrnet_w18_small_v2" in msg
    assert "missing" in msg and "conv1.weight" in msg


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        build_student("hrnet_w18_small_v2", weights=tmp_path / "nope.pth")
