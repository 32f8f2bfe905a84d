"""Student networks: a registry of timm backbones with segmentation heads.

>>> from distill.students import build_student, list_students
>>> model = build_student("hrnet_w18")          # random weights
>>> model.spec.stride, model.spec.input_size
(4, (448, 448))
"""

# Importing the family modules runs their @register_student decorators (registry.py imports none of them).
from distill.students import hrnet, mobilenet, resnet  # noqa: F401
from distill.students.registry import UnknownStudentError, build_student, list_students, register_student

__all__ = ["UnknownStudentError", "build_student", "list_students", "register_student"]
