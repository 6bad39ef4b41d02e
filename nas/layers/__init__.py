"""Building blocks, one concept per module, looked up by name through ``nas.layers.registry``."""

from nas.layers.diffstride import DiffStride, complexity_regularizer
from nas.layers.registry import block_names, get_block, register_block
from nas.layers.spectral_pool import SpectralPool

__all__ = [
    "DiffStride",
    "SpectralPool",
    "block_names",
    "complexity_regularizer",
    "get_block",
    "register_block",
]
