"""File sources: a folder of images (in order, corrupt ones counted) and a video file."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from edge.sources.base import CorruptFrame, SourceEnded, SourceError
from edge.sources.files import ImageFolderSource, VideoFileSource
from tests.edge_bundle_fixture import encode_jpeg, synthetic_frame

J1 = encode_jpeg(synthetic_frame(160, 120, seed=1))


# ---- files ---------------------------------------------------------------------------------------


def test_image_folder_source_reads_in_order_and_counts_corrupt(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(J1)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8broken")
    cv2.imwrite(str(tmp_path / "c.png"), cv2.cvtColor(synthetic_frame(80, 60, seed=4), cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("ignored")
    src = ImageFolderSource(tmp_path, (96, 96))
    src.open()
    first = src.read()
    assert first.jpeg == J1
    with pytest.raises(CorruptFrame):
        src.read()
    third = src.read()
    assert third.image.shape == (60, 80, 3) and third.jpeg is None
    with pytest.raises(SourceEnded):
        src.read()


def test_image_folder_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        ImageFolderSource(tmp_path / "nope", (96, 96)).open()
    with pytest.raises(SourceError, match="no .jpg"):
        ImageFolderSource(tmp_path, (96, 96)).open()


def test_video_file_source(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for s in range(3):
        w.write(cv2.cvtColor(synthetic_frame(160, 120, seed=s), cv2.COLOR_RGB2BGR))
    w.release()
    src = VideoFileSource(path, (96, 96))
    src.open()
    frames = []
    with pytest.raises(SourceEnded):
        while True:
            frames.append(src.read())
    src.close()
    assert len(frames) == 3 and frames[0].image.shape == (120, 160, 3)
