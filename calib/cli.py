"""`calib`: calibrate the inspection camera and measure cracks in millimetres.

Typical use (see docs/calib.md):
  calib render-test-board --board 9x6 --square-mm 25 --out board.png      # print it at 100 %
  calib camera --images photos/ --board 9x6 --square-mm 25 --out camera.yaml
  calib ground --camera camera.yaml --height-mm 1200 --pitch-deg 60 --out calib.yaml
  calib show calib.yaml
  calib measure mask.png --calib calib.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from crackedge.cliutil import add_common_args, run_subcommand
from crackedge.errors import DataError


def _cmd_camera(args: argparse.Namespace) -> int:
    from calib.board import parse_board
    from calib.calibration import Calibration
    from calib.intrinsics import calibrate_folder
    from calib.report import describe_intrinsics

    board = parse_board(args.board, args.square_mm)
    result = calibrate_folder(Path(args.images), board, model=args.distortion, progress=not args.quiet)
    cal = Calibration.create(result.image_size, intrinsics=result.to_schema())
    cal.source = str(args.out)
    cal.save(args.out)
    print("\n".join(describe_intrinsics(cal)))
    if args.overlays:
        from calib.overlays import calibration_overlays

        print(f"overlays: {calibration_overlays(Path(args.images), result, Path(args.overlays))} and one per photo")
    print(f"wrote {args.out}; next: `calib ground --camera {args.out} ...`")
    return 0


def _cmd_ground(args: argparse.Namespace) -> int:
    from calib.board import parse_board
    from calib.calibration import Calibration
    from calib.ground_fit import ground_from_points, ground_from_pose, ground_from_target
    from calib.report import describe_ground

    camera = Calibration.load(args.camera) if args.camera else None
    if args.height_mm is not None:
        if args.pitch_deg is None:
            raise DataError("--height-mm needs --pitch-deg (the tilt of the optical axis below the horizon; 90 = straight down)")
        cal = ground_from_pose(camera, args.height_mm, args.pitch_deg, args.roll_deg, args.yaw_deg)
    elif args.target_image is not None:
        if args.board is None or args.square_mm is None:
            raise DataError("--target-image needs --board COLSxROWS (inner corners) and --square-mm")
        cal = ground_from_target(camera, Path(args.target_image), parse_board(args.board, args.square_mm))
    else:
        cal = ground_from_points(camera, Path(args.points))
    if camera is not None and camera.data.notes:
        cal.data.notes = camera.data.notes
    cal.source = str(args.out)
    cal.save(args.out)
    print("\n".join(describe_ground(cal)))
    print(f"wrote {args.out}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from calib.calibration import Calibration
    from calib.report import describe

    print(describe(Calibration.load(args.calibration)))
    return 0


def _read_mask(path: Path, threshold: int | None):
    from crackedge.fileio import read_mask_gray

    gray = read_mask_gray(path)
    if threshold is None:
        threshold = 0 if gray.max() <= 1 else 127
    return gray > threshold


def _cmd_measure(args: argparse.Namespace) -> int:
    from calib.calibration import Calibration
    from calib.measure import measure_crack

    cal = Calibration.load(args.calib) if args.calib else None
    if cal is not None and not cal.has_ground():
        raise DataError(f"{args.calib} has no ground section, so there is nothing to convert to mm; run `calib ground` first")
    mask = _read_mask(Path(args.mask), args.threshold)
    m = measure_crack(mask, cal, min_component_px=args.min_component_px, undistorted=args.undistorted,
                      max_area_fraction=args.max_area_fraction)
    if args.overlay:
        _write_measure_overlay(args, mask, m)
    d = m.to_dict()
    if not args.parts:
        d.pop("parts")
    print(json.dumps(d, indent=2))
    return 0


def _write_measure_overlay(args: argparse.Namespace, mask, m) -> None:
    import numpy as np

    from calib.measure import measured_skeleton
    from calib.overlays import measurement_overlay
    from crackedge.fileio import read_image_rgb, write_image_atomic

    image = read_image_rgb(Path(args.image)) if args.image else None
    if image is not None and image.shape[:2] != mask.shape:
        raise DataError(f"--image {args.image} is {image.shape[1]}x{image.shape[0]} but the mask is "
                        f"{mask.shape[1]}x{mask.shape[0]}; pass the frame the mask was made from")
    skeleton = np.zeros(mask.shape, dtype=bool) if m.too_large else measured_skeleton(mask, args.min_component_px)
    write_image_atomic(Path(args.overlay), measurement_overlay(mask, m, skeleton, image))


def _cmd_render_board(args: argparse.Namespace) -> int:
    from calib.board import parse_board
    from calib.printable import board_image, png_with_dpi
    from crackedge.fileio import atomic_write_bytes

    board = parse_board(args.board, args.square_mm)
    page = board_image(board, dpi=args.dpi)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise DataError(f"--out must end in .png, got {out}")
    atomic_write_bytes(out, png_with_dpi(page, args.dpi))
    h, w = page.shape
    print(f"wrote {out}: {w}x{h} px = {w / args.dpi * 25.4:.0f} x {h / args.dpi * 25.4:.0f} mm at {args.dpi:g} dpi; "
          "print at 100 % and check the 100 mm bar")
    return 0


def _area_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value


def _cmd_bench(args: argparse.Namespace) -> int:
    from calib.bench import run_benchmark, run_frame_benchmark

    if args.frames:
        print(run_frame_benchmark(_frame_size(args.frame_size), count=args.masks, repeat=args.repeat))
    else:
        print(run_benchmark(size=args.size, repeat=args.repeat))
    return 0


def _frame_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise DataError(f"--frame-size must look like 1280x720, got {text!r}") from None
    if w < 64 or h < 64:
        raise DataError(f"--frame-size must be at least 64x64, got {text}")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    from calib.measure import MAX_AREA_FRACTION

    parser = argparse.ArgumentParser(prog="calib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("camera", help="lens intrinsics and distortion from checkerboard photos",
                       description="Detect the checkerboard in every photo in --images, calibrate the camera (OpenCV), "
                       "and write the intrinsics with the RMS reprojection error, per-photo errors, rejected photos "
                       "(with the reason) and coverage warnings. Take 15-25 sharp photos at the resolution the "
                       "vehicle will use, the board at different positions (corners of the frame too) and angles.")
    p.add_argument("--images", required=True, metavar="DIR", help="folder with the checkerboard photos (jpg/png)")
    p.add_argument("--board", required=True, metavar="COLSxROWS", help="INNER corners, e.g. 9x6 for a board of 10 x 7 squares")
    p.add_argument("--square-mm", required=True, type=float, help="side of one printed square in mm (measure it)")
    p.add_argument("--out", required=True, metavar="camera.yaml", help="calibration file to write")
    p.add_argument("--distortion", default="standard", choices=("simple", "standard", "rational"),
                   help="lens model: simple = k1 k2 p1 p2; standard = + k3 (default); rational = + k4 k5 k6 for "
                   "wide-angle lenses (needs many photos)")
    p.add_argument("--overlays", metavar="DIR", help="also write every photo with detected (green) and model (red) "
                   "corners, and overview.jpg, to DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_camera)

    p = sub.add_parser("ground", help="image -> road scale (mm per pixel) from the camera pose, a target, or points",
                       description="Add the mapping from image pixels to millimetres on the road. Choose ONE mode: "
                       "(1) pose: --camera camera.yaml --height-mm H --pitch-deg P [--roll-deg --yaw-deg]; "
                       "(2) target: a photo of the checkerboard lying flat on the road, --target-image IMG --board "
                       "9x6 --square-mm 25 (with --camera, recommended); (3) points: --points FILE.yaml with 4+ "
                       "image points and their road coordinates in mm. Prints mm per pixel at the top, centre and "
                       "bottom rows so you can see the perspective.")
    p.add_argument("--camera", metavar="camera.yaml", help="intrinsics from `calib camera` (required for the pose mode)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--height-mm", type=float, help="pose mode: lens centre height above the road, mm")
    mode.add_argument("--target-image", metavar="IMG", help="target mode: photo of the checkerboard lying flat on the road")
    mode.add_argument("--points", metavar="FILE",
                      help="points mode: YAML with image_size and points: [{pixel: [u, v], ground_mm: [x, y]}, ...]")
    p.add_argument("--pitch-deg", type=float, help="pose mode: optical axis below the horizon, degrees (90 = straight down)")
    p.add_argument("--roll-deg", type=float, default=0.0, help="pose mode: rotation about the optical axis (default 0)")
    p.add_argument("--yaw-deg", type=float, default=0.0, help="pose mode: turn to the left, seen from above (default 0)")
    p.add_argument("--board", metavar="COLSxROWS", help="target mode: inner corners of the board on the road")
    p.add_argument("--square-mm", type=float, help="target mode: side of one square in mm")
    p.add_argument("--out", required=True, metavar="calib.yaml", help="calibration file to write (may be the --camera file)")
    p.set_defaults(func=_cmd_ground)

    p = sub.add_parser("measure", help="measure the cracks in a mask image (JSON on stdout)",
                       description="Length, mean/max width, branches, bounding box and area of the cracks in a mask "
                       "(PNG, crack = non-zero for 0/1 masks, > 127 for 0/255 masks), in pixels and, with --calib, in mm.")
    p.add_argument("mask", help="mask image at the camera frame's resolution")
    p.add_argument("--calib", metavar="calib.yaml", help="calibration with a ground section, for mm values")
    p.add_argument("--min-component-px", type=int, default=20, help="ignore crack pieces smaller than this (default 20)")
    p.add_argument("--threshold", type=int, help="crack = pixel value > THRESHOLD (default: 0 for 0/1 masks, 127 otherwise)")
    p.add_argument("--undistorted", action="store_true", help="the mask comes from an undistorted frame")
    p.add_argument("--max-area-fraction", type=_area_fraction, default=MAX_AREA_FRACTION, metavar="F",
                   help=f"a mask whose crack pixels cover more than this share of it is reported as too_large, with area "
                   f"only (default {MAX_AREA_FRACTION}; 1 measures every mask)")
    p.add_argument("--parts", action="store_true", help="also list every connected component")
    p.add_argument("--overlay", metavar="OUT.png", help="also draw the crack, measured skeleton and numbers to OUT")
    p.add_argument("--image", metavar="FRAME", help="with --overlay: draw on this frame (same size as the mask)")
    p.set_defaults(func=_cmd_measure)

    p = sub.add_parser("show", help="summarise a calibration file", description="Print what a calibration file contains: "
                       "intrinsics with their errors and warnings, the ground mapping and mm per pixel across the image.")
    p.add_argument("calibration", metavar="CALIB.yaml")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("render-test-board", help="write a printable checkerboard PNG",
                       description="Write a checkerboard page that prints 1:1 (the PNG records its dpi) with a 100 mm "
                       "check bar. Glue the print flat on a rigid board.")
    p.add_argument("--board", default="9x6", metavar="COLSxROWS", help="inner corners (default 9x6 = 10 x 7 squares)")
    p.add_argument("--square-mm", type=float, default=25.0, help="square side in mm (default 25; fits A4)")
    p.add_argument("--dpi", type=float, default=300.0, help="print resolution (default 300)")
    p.add_argument("--out", required=True, metavar="board.png")
    p.set_defaults(func=_cmd_render_board)

    p = sub.add_parser("bench", help="time skeletonisation and measurement on synthetic masks (check a Pi's speed)")
    p.add_argument("--size", type=int, default=448, help="square mask size in pixels (default 448)")
    p.add_argument("--repeat", type=int, default=20, help="timed repetitions (default 20; per mask with --frames)")
    p.add_argument("--frames", action="store_true", help="camera-frame masks instead: thin cracks, and heavy masks "
                   "like an untrained model's (6-60 %% of the frame), each timed in px and mm")
    p.add_argument("--frame-size", default="1280x720", metavar="WxH", help="with --frames: frame size (default 1280x720)")
    p.add_argument("--masks", type=int, default=6, help="with --frames: masks of each kind (default 6)")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
