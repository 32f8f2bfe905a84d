"""Inference backends. Each one keeps its heavy import (openvino) inside its own module."""
