"""stride-nas: search CNN strides and scaling (fixed strides, DiffStride, compound scaling)."""

__version__ = "0.1.0"

from nas.moved import moved

moved(
    {  # issue 27's renames: the old paths import the new modules
        "nas.search": "nas.search_space",
        "nas.data.registry": "nas.data.sources",
        "nas.layers.registry": "nas.layers.builders",
    }
)
