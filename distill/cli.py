"""`distill`: students, channel-wise distillation, export to an edge model bundle, bundle evaluation.

  distill students                       list the registered students (input size, stride, parameters)
  distill train --teacher ... --student ... --data DIR --out DIR   distil a student (hard loss + CWD)
  distill export CHECKPOINT OUT_DIR      student checkpoint -> model bundle (ONNX opset 11, IR FP16, [INT8])
  distill eval BUNDLE --data DIR         evaluate the exported model itself (OpenVINO) on a dataset
  distill compare --data DIR --teacher-checkpoint PATH --out DIR   student + CWD vs student alone, same budget
  distill bench-steps --data DIR --teacher-checkpoint PATH          per-step time: cache vs student-only vs online
"""

from __future__ import annotations

import argparse
from typing import Sequence

from crackedge.cliutil import add_common_args, run_subcommand
from distill.cli_compare import add_bench_steps, add_compare
from distill.cli_export import add_eval, add_export
from distill.cli_train import add_train


def cmd_students(args: argparse.Namespace) -> int:
    from distill.students import build_student, list_students
    from distill.students.segmentor import count_parameters

    print(f"{'student':<24} {'input':>9} {'stride':>6} {'params':>9}  head")
    for name in list_students():
        model = build_student(name)
        s = model.spec
        print(f"{name:<24} {s.input_size[0]:>4}x{s.input_size[1]:<4} {s.stride:>6} {count_parameters(model) / 1e6:>8.2f}M  {s.head}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    p = sub.add_parser("students", help="list the registered students")
    add_common_args(p)
    p.set_defaults(func=cmd_students)
    add_train(sub, add_common_args)
    add_export(sub, add_common_args)
    add_eval(sub, add_common_args)
    add_compare(sub, add_common_args)
    add_bench_steps(sub, add_common_args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)
