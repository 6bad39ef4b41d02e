"""stride-nas: search strides and scaling of CNNs (fixed-stride search, DiffStride, compound scaling)."""

__version__ = "0.1.0"
