"""Block registry: stage builders looked up by the ``block`` name of a ``StageSpec``.

A builder turns one stage spec and its input channel count into a module whose output has
``stage.out_channels`` channels. Register new block types with :func:`register_block`; the
contract tests run over every entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nas.errors import NotFoundError

if TYPE_CHECKING:
    from torch import nn

    from nas.spec import Activation, StageSpec

StageBuilder = Callable[["StageSpec", int, "Activation"], "nn.Module"]

_BUILDERS: dict[str, StageBuilder] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register_block(name: str, description: str) -> Callable[[StageBuilder], StageBuilder]:
    """Decorator: register ``builder`` under ``name`` (a lowercase word, no underscores)."""

    def decorate(builder: StageBuilder) -> StageBuilder:
        if name in _BUILDERS:
            raise ValueError(f"block {name!r} is already registered")
        _BUILDERS[name] = builder
        _DESCRIPTIONS[name] = description
        return builder

    return decorate


def _ensure_loaded() -> None:
    import nas.layers.blocks  # noqa: F401  (registers the built-in blocks)


def block_names() -> list[str]:
    _ensure_loaded()
    return sorted(_BUILDERS)


def block_description(name: str) -> str:
    _ensure_loaded()
    return _DESCRIPTIONS[name]


def get_block(name: str) -> StageBuilder:
    _ensure_loaded()
    try:
        return _BUILDERS[name]
    except KeyError:
        raise NotFoundError(
            f"unknown block {name!r}; known: {', '.join(sorted(_BUILDERS))}", field="block"
        ) from None
