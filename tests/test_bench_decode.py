"""JPEG decode cost: full and reduced-scale entries for each decoder, with the right output sizes."""

from __future__ import annotations

from workflows.bench.decode import decode_costs


def test_decode_costs_full_and_reduced():
    r = decode_costs((1280, 720), (448, 448), max_seconds=0.02, repeats=3)
    cv = {e["scale"]: e for e in r["entries"] if e["library"] == "cv2.imdecode"}
    assert cv[1]["output"] == [1280, 720] and cv[2]["output"] == [640, 360] and cv[4]["output"] == [320, 180]
    assert not cv[1]["below_model_input"] and cv[2]["below_model_input"]
    for e in r["entries"]:
        assert e["decode"]["median_ms"] > 0 and e["decode_resize"]["n"] >= 1
    assert r["edge_decoder"]["scale"] == 2 and r["bytes"] > 10_000
    try:
        import simplejpeg  # noqa: F401
    except ImportError:
        return
    sj = {e["scale"]: e for e in r["entries"] if e["library"] == "simplejpeg"}
    assert sj[1]["output"] == [1280, 720] and sj[2]["output"] == [640, 360]
