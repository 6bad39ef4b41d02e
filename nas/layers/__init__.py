"""Building blocks, one concept per module, looked up by name through ``nas.layers.builders``.

Each block's torch module is here (``resnet``, ``mbconv``, ``plain``, ``dense``, ``fire``,
``dynamic_conv``, ``inception``); its torch-free rules (plan, checks, scaling) are its
``nas.blocks`` module's (``nas.layers.plans`` keeps the plans' former names, torch-free).
Importing the package imports no torch: the public names below are loaded at first use (PEP 562),
so ``nas.layers.DiffStride`` imports torch then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.lazy import lazy_exports

if TYPE_CHECKING:
    from nas.layers.builders import get_block, register_block
    from nas.layers.diffstride import DiffStride, complexity_regularizer
    from nas.layers.spectral_pool import SpectralPool
    from nas.validation import block_names

_EXPORTS = {
    "DiffStride": "nas.layers.diffstride",
    "SpectralPool": "nas.layers.spectral_pool",
    "block_names": "nas.validation",
    "complexity_regularizer": "nas.layers.diffstride",
    "get_block": "nas.layers.builders",
    "register_block": "nas.layers.builders",
}

__all__ = [
    "DiffStride",
    "SpectralPool",
    "block_names",
    "complexity_regularizer",
    "get_block",
    "register_block",
]


_export, __dir__ = lazy_exports(globals(), _EXPORTS)

if not TYPE_CHECKING:  # hidden from mypy, which reads the imports above (a typo stays an error)
    __getattr__ = _export
