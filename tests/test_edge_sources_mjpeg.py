"""The HTTP MJPEG source: multipart part splitting, JPEG checks and reduced decoding, and the source
against real sockets (silent server, bad answers, interrupt on shutdown)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge.jpeg import JpegDecoder, choose_scale, jpeg_size, looks_complete
from edge.sources.base import CorruptFrame, SourceError, SourceStalled
from edge.sources.http_mjpeg import MultipartJpegReader, PartTooLarge, parse_boundary
from edge.sources.jpegframes import JpegFrameMaker
from tests.edge_bundle_fixture import encode_jpeg, synthetic_frame

J1 = encode_jpeg(synthetic_frame(160, 120, seed=1))
J2 = encode_jpeg(synthetic_frame(160, 120, seed=2, crack=False))


def _chunks(data: bytes, size: int = 37):
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    it = iter(parts)
    return lambda: next(it, b"")


# ---- MJPEG multipart ---------------------------------------------------------------------------


def test_multipart_reader_uses_content_length_and_marker_fallback() -> None:
    body = (
        b"--bnd\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(J1) + J1 + b"\r\n"
        + b"--bnd\r\nContent-Type: image/jpeg\r\n\r\n" + J2 + b"\r\n"  # no Content-Length
        + b"--bnd\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(J2) + J2 + b"\r\n"
        + b"--bnd--\r\n"
    )
    reader = MultipartJpegReader(_chunks(body), parse_boundary("multipart/x-mixed-replace;boundary=bnd"))
    assert reader.next_part() == J1
    assert reader.next_part() == J2
    assert reader.next_part() == J2
    assert reader.parts_without_length == 1
    with pytest.raises(EOFError):
        reader.next_part()


def test_multipart_reader_tolerates_garbage_dashes_and_headerless_parts() -> None:
    body = b"junk before\r\n\r\n--bnd\r\n\r\n" + J1 + b"\r\n--bnd\r\nContent-Length: %d\r\n\r\n" % len(J2) + J2
    # boundary given with leading dashes in the header (some servers do that)
    reader = MultipartJpegReader(_chunks(body, 5), parse_boundary('multipart/x-mixed-replace; boundary="--bnd"'))
    assert reader.next_part() == J1
    assert reader.next_part() == J2
    with pytest.raises(EOFError):
        reader.next_part()


def test_multipart_reader_truncated_part_without_length_is_handed_over_and_next_part_survives() -> None:
    truncated = J1[: len(J1) // 2]
    body = b"--bnd\r\n\r\n" + truncated + b"\r\n--bnd\r\nContent-Length: %d\r\n\r\n" % len(J2) + J2 + b"\r\n"
    reader = MultipartJpegReader(_chunks(body), b"bnd")
    first = reader.next_part()
    assert not looks_complete(first)
    assert reader.next_part() == J2


def test_multipart_reader_rejects_oversized_parts() -> None:
    body = b"--bnd\r\nContent-Length: 999999\r\n\r\n" + J1 + b"\r\n--bnd\r\nContent-Length: %d\r\n\r\n" % len(J2) + J2
    reader = MultipartJpegReader(_chunks(body), b"bnd", max_part_bytes=50_000)
    with pytest.raises(PartTooLarge):
        reader.next_part()
    assert reader.next_part() == J2


# ---- JPEG helpers ------------------------------------------------------------------------------


def test_jpeg_size_scale_choice_and_reduced_decode() -> None:
    big = encode_jpeg(synthetic_frame(1280, 720, seed=3))
    assert jpeg_size(big) == (1280, 720)
    assert choose_scale((1280, 720), (448, 448)) == 2  # 640x360: 360 >= 0.75 * 448
    assert choose_scale((1280, 720), (96, 96)) == 8
    assert choose_scale((448, 448), (448, 448)) == 1
    maker = JpegFrameMaker((448, 448))
    cap = maker.make(big)
    assert cap.image.shape == (360, 640, 3) and cap.image.dtype == np.uint8
    assert cap.full_size == (1280, 720) and cap.jpeg == big
    for prefer in ("opencv", "auto"):
        img = JpegDecoder(prefer).decode(big, 2)
        assert img.shape == (360, 640, 3)


def test_corrupt_and_truncated_jpegs_raise_corrupt_frame() -> None:
    maker = JpegFrameMaker((96, 96))
    for bad in (J1[: len(J1) // 2], b"\xff\xd8 not a jpeg \xff\xd9", b"", b"hello"):
        with pytest.raises(CorruptFrame):
            maker.make(bad)
    # driver padding after EOI is fine
    assert maker.make(J1 + b"\x00" * 64).jpeg == J1


# ---- HTTP source against real sockets --------------------------------------------------------------


def _one_shot_server(response: bytes, hold_s: float = 3.0):
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(response)
                time.sleep(hold_s)  # then silence: the client must time out, not hang

    threading.Thread(target=serve, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.getsockname()[1]}/?action=stream"


def test_http_source_times_out_on_a_silent_server_and_reports_bad_answers() -> None:
    from edge.sources.http_mjpeg import HttpMjpegSource

    head = b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=b\r\n\r\n"
    part = b"--b\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(J1) + J1 + b"\r\n"
    srv, url = _one_shot_server(head + part)
    try:
        src = HttpMjpegSource(url, (96, 96), connect_timeout_s=2.0, read_timeout_s=0.3)
        src.open()
        assert src.read().jpeg == J1
        t0 = time.monotonic()
        with pytest.raises(SourceStalled, match="no data for 0.3 s"):
            src.read()
        assert time.monotonic() - t0 < 2.0
        src.close()
    finally:
        srv.close()
    srv, url = _one_shot_server(b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\n\r\n" + J1, hold_s=0)
    try:
        with pytest.raises(SourceError, match=r"not an MJPEG stream.*\?action=stream"):
            HttpMjpegSource(url, (96, 96)).open()
    finally:
        srv.close()
    srv, url = _one_shot_server(b"HTTP/1.0 404 Not Found\r\n\r\n", hold_s=0)
    try:
        with pytest.raises(SourceError, match="HTTP 404"):
            HttpMjpegSource(url, (96, 96)).open()
    finally:
        srv.close()
    with pytest.raises(SourceError, match="cannot connect"):
        HttpMjpegSource("http://127.0.0.1:1/?action=stream", (96, 96), connect_timeout_s=1.0).open()


def test_http_source_read_is_interrupted_on_shutdown() -> None:
    from edge.sources.http_mjpeg import HttpMjpegSource

    srv, url = _one_shot_server(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=b\r\n\r\n", hold_s=10)
    try:
        src = HttpMjpegSource(url, (96, 96), read_timeout_s=10.0)
        src.open()
        threading.Timer(0.2, src.interrupt).start()
        t0 = time.monotonic()
        with pytest.raises(SourceError):
            src.read()
        assert time.monotonic() - t0 < 3.0
        src.close()
    finally:
        srv.close()
