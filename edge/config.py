"""The daemon's configuration (`edge.yaml`): typed, unknown keys rejected, each error names the key.

Loaded with `load_edge_config(path)`; `edge check-config edge.yaml` validates a file without
starting anything. Every section has defaults except `source`, `model` and `save.out_dir`.
See `edge/examples/edge.yaml` for a documented example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, model_validator

from crackedge.config import StrictModel, load_config
from crackedge.runtime.options import RemoteOptions, RuntimeOptions

# ----------------------------------------------------------------------------------------------
# Sources


class _SourceCommon(StrictModel):
    reconnect_initial_s: float = Field(default=0.5, gt=0, description="first wait before reopening a failed source")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="backoff ceiling (doubles up to this)")
    stall_timeout_s: float = Field(
        default=5.0, gt=0, description="no good frame for this long: the source is reopened and the stall reported"
    )


class _JpegSourceCommon(_SourceCommon):
    decode_scale: Literal["auto", 1, 2, 4, 8] = Field(
        default="auto",
        description="JPEG sources: libjpeg DCT scaling (1/N). auto: the largest 1/N whose decoded size is at "
        "least 3/4 of the model input on each side",
    )


class PicameraSource(_SourceCommon):
    """Raspberry Pi camera through picamera2: infer on `lores` (sized to the model), save from `main`."""

    kind: Literal["picamera2"]
    camera_num: int = Field(default=0, ge=0)
    main_size: tuple[int, int] = Field(default=(1280, 720), description="width, height of the saved stream")
    fps: Optional[float] = Field(default=None, gt=0, description="frame rate (None: the camera default)")
    buffer_count: int = Field(default=4, ge=2, le=16)
    capture_timeout_s: float = Field(default=2.0, gt=0, description="one capture longer than this counts as a stall")


class V4l2Source(_JpegSourceCommon):
    """USB UVC camera through OpenCV's V4L2 backend, MJPG, the raw JPEG kept for saving."""

    kind: Literal["v4l2"]
    device: Union[int, str] = Field(default="/dev/video0", description="/dev/videoN or its index N")
    width: int = Field(default=1280, gt=0)
    height: int = Field(default=720, gt=0)
    fps: Optional[float] = Field(default=None, gt=0)


class HttpMjpegSource(_JpegSourceCommon):
    """An mjpg-streamer style HTTP stream (multipart/x-mixed-replace of JPEG parts)."""

    kind: Literal["http_mjpeg"]
    url: str = Field(description="e.g. http://127.0.0.1:8080/?action=stream")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=5.0, gt=0, description="socket timeout while reading the stream")
    frame_timeout_s: float = Field(
        default=10.0, gt=0,
        description="deadline for one whole frame (headers and body): a server that trickles bytes or sends one "
        "huge part slowly is disconnected and reconnected. Must stay below watchdog.stage_timeout_s",
    )
    max_part_bytes: int = Field(default=16 * 1024 * 1024, gt=1024, description="a larger part is counted corrupt")

    @model_validator(mode="after")
    def _check_url(self) -> "HttpMjpegSource":
        if not (self.url.startswith("http://") or self.url.startswith("https://")):
            raise ValueError(f"url must start with http:// or https:// (got {self.url!r})")
        return self


class VideoFileSource(_SourceCommon):
    """A video file (anything OpenCV reads); frames are never dropped."""

    kind: Literal["video"]
    path: Path
    loop: bool = False
    rate_fps: Optional[float] = Field(default=None, gt=0, description="pace playback (None: as fast as processed)")


class ImageFolderSource(_JpegSourceCommon):
    """A folder of JPEG/PNG images in name order; frames are never dropped."""

    kind: Literal["images"]
    path: Path
    loop: bool = False
    rate_fps: Optional[float] = Field(default=None, gt=0)
    pattern: str = Field(default="*", description="glob within the folder (jpg/jpeg/png/bmp files only)")


SourceConfig = Annotated[
    Union[PicameraSource, V4l2Source, HttpMjpegSource, VideoFileSource, ImageFolderSource],
    Field(discriminator="kind"),
]

# ----------------------------------------------------------------------------------------------
# Model, pipeline, outputs


class ModelConfig(RuntimeOptions):
    """The bundle to run and how (device, model file, precision, requests: crackedge.runtime.options).

    backend openvino (default): `bundle` runs on this machine. backend remote: frames go to the model
    `remote` names on a KServe v2 server (`crackedge serve`) and to the local bundle `fallback` whenever
    the server does not answer within remote.timeout_s (crackedge.runtime.backends.fallback); the
    other keys (device, precision, requests ...) apply to the fallback, whose metadata also gives the
    preprocessing and the output layout.
    """

    backend: Literal["openvino", "remote"] = Field(default="openvino", description="openvino | remote")
    bundle: Optional[Path] = Field(default=None, description="the folder written by `distill export` or `teacher export`")
    input_tensor: Literal["f32", "u8"] = Field(
        default="u8",
        description="u8 (default): frames go to the model as uint8 at the network size and are normalised inside "
        "it (less host CPU and memory per frame); f32: normalised on the host, as export parity and `edge eval` do. "
        "backend remote: f32 (the wire encodes from the float input the fallback also takes)",
    )
    remote: Optional[RemoteOptions] = Field(default=None, description="backend remote: the served model")
    fallback: Optional[Path] = Field(default=None, description="backend remote: the local bundle frames fall back to")
    threshold: Optional[float] = Field(default=None, gt=0, lt=1, description="override the bundle's threshold")

    @model_validator(mode="before")
    @classmethod
    def _remote_takes_float_input(cls, data: Any) -> Any:
        """backend remote: input_tensor f32 (the local bundle's default, u8, does not apply: the wire and the
        fallback share the float input)."""
        if isinstance(data, dict) and data.get("backend") == "remote":
            if data.get("input_tensor", "f32") != "f32":
                raise ValueError("backend remote takes input_tensor: f32 (the wire and the fallback share the float input)")
            data = {**data, "input_tensor": "f32"}
        return data

    @model_validator(mode="after")
    def _backend_keys(self) -> "ModelConfig":
        if self.backend == "openvino":
            if self.bundle is None:
                raise ValueError("bundle is required (the folder written by `distill export`)")
            if self.remote is not None or self.fallback is not None:
                raise ValueError("remote and fallback belong to backend: remote")
        else:
            if self.remote is None or self.fallback is None:
                raise ValueError("backend remote needs remote: {url, model_name, ...} and fallback: a local bundle")
            if self.bundle is not None:
                raise ValueError("backend remote takes its local bundle as fallback:, not bundle:")
        return self

    @property
    def local_bundle(self) -> Path:
        """The bundle that runs on this machine (bundle, or the remote backend's fallback)."""
        path = self.bundle if self.backend == "openvino" else self.fallback
        assert path is not None  # the validator guarantees it
        return path


class PipelineConfig(StrictModel):
    queue_size: int = Field(default=2, ge=1, le=64, description="capacity of each stage queue")
    drop_policy: Literal["auto", "latest", "block"] = Field(
        default="auto",
        description="capture queue when full: latest = drop the oldest frame (live cameras), block = drop nothing "
        "(files). auto: latest for cameras/streams, block for video/images",
    )
    drain_timeout_s: float = Field(default=5.0, gt=0, description="on stop, wait this long for in-flight frames")


class OverlayConfig(StrictModel):
    alpha: float = Field(default=0.55, ge=0, le=1)
    contours: bool = True
    caption: bool = True
    jpeg_quality: int = Field(default=90, ge=30, le=100)


class MeasureConfig(StrictModel):
    calib: Optional[Path] = Field(default=None, description="a calib file: crack length/width in mm")
    min_component_px: int = Field(default=20, ge=0)
    max_crack_fraction: float = Field(
        default=0.25, gt=0, le=1,
        description="a mask whose crack pixels cover more than this share of the frame is reported as too_large, "
        "with area only (no length or width; a failing model, not a crack); 1: measure every mask",
    )


class SaveConfig(StrictModel):
    out_dir: Path = Field(description="runs are written to OUT_DIR/runs/<start time>/")
    enabled: bool = True
    min_crack_ratio: float = Field(default=0.002, ge=0, le=1, description="save a frame whose crack pixel ratio >= this")
    every_nth: int = Field(default=0, ge=0, description="also save every Nth frame (0: off)")
    min_spacing_m: float = Field(
        default=0.0, ge=0,
        description="save a crack frame only this far (GPS) from the last saved one; at most the road length a frame shows (0: off)",
    )
    min_interval_s: float = Field(
        default=0.0, ge=0,
        description="save a crack frame only this long after the last saved one, when there is no GPS fix to space by (0: off)",
    )
    save_raw: bool = Field(default=False, description="also save the raw frame (the original JPEG bytes when available)")
    fsync: bool = True


class DiskConfig(StrictModel):
    min_free_mb: float = Field(default=500.0, ge=0, description="keep this much free on the output disk")
    policy: Literal["stop", "rotate"] = Field(
        default="rotate", description="below the floor: rotate = delete the oldest runs first; stop = stop saving"
    )
    check_interval_s: float = Field(default=5.0, gt=0, description="free space measured (and rotation run) this often")
    resume_margin_mb: float = Field(
        default=50.0, ge=0,
        description="hysteresis: saving paused at the floor resumes only above min_free_mb + this (rotation frees as much)",
    )


class GpsConfig(StrictModel):
    kind: Literal["gpsd", "nmea"]
    host: str = "127.0.0.1"
    port: int = Field(default=2947, ge=1, le=65535)
    path: Optional[str] = Field(default=None, description="nmea: serial port, pty or file with NMEA sentences")
    baud: int = Field(default=9600, description="nmea on a tty: line speed")
    max_age_s: float = Field(default=5.0, gt=0, description="an older fix is not attached to frames")

    @model_validator(mode="after")
    def _need_path(self) -> "GpsConfig":
        if self.kind == "nmea" and not self.path:
            raise ValueError("kind nmea needs path (e.g. /dev/ttyACM0 or /dev/serial0)")
        return self


class PreviewConfig(StrictModel):
    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="bind address; 0.0.0.0 exposes it to the network")
    port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port (logged)")
    token: Optional[str] = Field(default=None, min_length=8, description="required as ?token= or X-Token header")
    max_fps: float = Field(default=5.0, gt=0, description="annotated frames encoded for the preview per second")
    width: int = Field(default=640, ge=64, description="preview frames are scaled down to this width")
    workers: int = Field(default=8, ge=2, le=64, description="threads serving requests (streams use at most half)")
    max_connections: int = Field(
        default=32, ge=4, le=1024,
        description="open connections at most; when full the oldest one still sending its request is dropped",
    )
    request_timeout_s: float = Field(default=5.0, gt=0, le=60, description="a request head must arrive within this")


class WatchdogConfig(StrictModel):
    stage_timeout_s: float = Field(default=15.0, gt=0, description="a stage busy or silent longer than this is hung")
    exit_after_s: float = Field(default=30.0, gt=0, description="still hung after this long: exit non-zero")
    check_interval_s: float = Field(default=1.0, gt=0)


class EdgeConfig(StrictModel):
    source: SourceConfig
    model: ModelConfig
    save: SaveConfig
    pipeline: PipelineConfig = PipelineConfig()
    overlay: OverlayConfig = OverlayConfig()
    measure: MeasureConfig = MeasureConfig()
    disk: DiskConfig = DiskConfig()
    gps: Optional[GpsConfig] = None
    preview: PreviewConfig = PreviewConfig()
    watchdog: WatchdogConfig = WatchdogConfig()
    status_interval_s: float = Field(default=10.0, gt=0, description="STATUS= to systemd and a log line this often")

    @model_validator(mode="after")
    def _capture_waits_fit_the_watchdog(self) -> "EdgeConfig":
        """Every single wait of the capture stage must end before the watchdog calls it hung."""
        limit = self.watchdog.stage_timeout_s
        src = self.source
        waits: list[tuple[str, float]] = []
        if isinstance(src, HttpMjpegSource):
            waits = [("source.frame_timeout_s", src.frame_timeout_s),
                     ("source.connect_timeout_s + source.read_timeout_s", src.connect_timeout_s + src.read_timeout_s)]
        elif isinstance(src, PicameraSource):
            waits = [("source.capture_timeout_s", src.capture_timeout_s)]
        for key, value in waits:
            if value >= limit:
                raise ValueError(
                    f"{key} = {value:g} s must be below watchdog.stage_timeout_s = {limit:g} s, or a slow camera "
                    f"looks like a hung daemon: lower {key.split(' ')[0]} or raise watchdog.stage_timeout_s"
                )
        return self


def load_edge_config(path: str | Path) -> EdgeConfig:
    """Read and validate `edge.yaml`; relative paths in it are taken relative to the file's folder."""
    path = Path(path)
    cfg = load_config(path, EdgeConfig)
    return resolve_paths(cfg, path.resolve().parent)


def _abs(p: Optional[Path], base: Path) -> Optional[Path]:
    if p is None:
        return None
    p = Path(p).expanduser()
    return p if p.is_absolute() else (base / p)


def resolve_paths(cfg: EdgeConfig, base: Path) -> EdgeConfig:
    """Make every path in `cfg` absolute relative to `base` (the config file's folder)."""
    cfg.model.bundle = _abs(cfg.model.bundle, base)
    cfg.model.fallback = _abs(cfg.model.fallback, base)
    cfg.model.cache_dir = _abs(cfg.model.cache_dir, base)
    cfg.save.out_dir = _abs(cfg.save.out_dir, base)
    cfg.measure.calib = _abs(cfg.measure.calib, base)
    if isinstance(cfg.source, (VideoFileSource, ImageFolderSource)):
        cfg.source.path = _abs(cfg.source.path, base)
    return cfg


def is_live(source: object) -> bool:
    """Cameras and streams are live (keep the freshest frame); files are not (drop nothing)."""
    return isinstance(source, (PicameraSource, V4l2Source, HttpMjpegSource))
