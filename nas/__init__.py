"""stride-nas: search CNN strides and scaling (fixed strides, DiffStride, compound scaling)."""

__version__ = "0.1.0"
