"""The simulated camera speaks mjpg-streamer's protocol: the edge HTTP source reads it frame by frame."""

from __future__ import annotations

import urllib.request

import cv2
import numpy as np

from edge.simcam import BOUNDARY, SimCamera, folder_frames, synthetic_frames


def test_stream_parts_decode_and_loop():
    frames = synthetic_frames((96, 64), n=3, seed=1)
    with SimCamera(frames, fps=50, max_frames=5) as cam:
        with urllib.request.urlopen(cam.url, timeout=10) as resp:
            assert resp.headers["Content-Type"] == f"multipart/x-mixed-replace;boundary={BOUNDARY}"
            body = resp.read()
    parts = [p for p in body.split(f"--{BOUNDARY}".encode()) if p.strip()]
    assert len(parts) == 5
    for i, part in enumerate(parts):
        head, data = part.split(b"\r\n\r\n", 1)
        length = int([ln for ln in head.decode().split("\r\n") if ln.startswith("Content-Length")][0].split(":")[1])
        jpeg = data[:length]
        assert jpeg == frames[i % 3]
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (64, 96, 3)
    assert cam.sent == 5


def test_snapshot_and_folder_frames(tmp_path):
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((20, 30, 3), 40 * i, np.uint8))
    frames = folder_frames(tmp_path, size_wh=(60, 40))
    assert len(frames) == 2
    with SimCamera(frames) as cam:
        snap = urllib.request.urlopen(cam.url.replace("stream", "snapshot"), timeout=10).read()
    assert cv2.imdecode(np.frombuffer(snap, np.uint8), cv2.IMREAD_COLOR).shape == (40, 60, 3)


def test_edge_http_source_reads_the_simulated_camera():
    from edge.sources.http_mjpeg import HttpMjpegSource

    frames = synthetic_frames((80, 60), n=2, seed=2)
    with SimCamera(frames, fps=40) as cam:
        src = HttpMjpegSource(cam.url, model_wh=(80, 60))
        src.open()
        try:
            got = [src.read() for _ in range(3)]
        finally:
            src.close()
    assert all(f is not None for f in got)
