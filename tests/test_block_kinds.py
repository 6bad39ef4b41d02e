"""One torch-free module per block kind (``nas.blocks``), and the registries pointing to it.

Each built-in kind's rules, scaling rule and builder are the ones its module names: the block
rules (``nas.validation``), the scaling rules (``nas.scaling``) and the builders
(``nas.layers.builders``) hold exactly the catalog's kinds, and reading them imports no torch.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import nas.blocks
from nas.blocks.catalog import BUILTINS
from nas.blocks.kind import BlockKind
from nas.errors import SpecError
from nas.layers.builders import BLOCKS, resolve_builder
from nas.scaling import SCALERS
from nas.spec import ArchSpec
from nas.validation import BLOCK_RULES, COMMON_EXTRAS, block_extras

KINDS = {kind.name: kind for kind in BUILTINS}


def test_every_registry_holds_the_catalogs_kinds() -> None:
    assert len(KINDS) == len(BUILTINS)  # a name filed once
    assert BLOCK_RULES.names() == BLOCKS.names() == sorted(KINDS)
    assert SCALERS.names() == sorted(n for n, k in KINDS.items() if k.scale is not None)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_registries_point_to_the_kinds_module(name: str) -> None:
    kind = KINDS[name]
    rules = BLOCK_RULES.get(name)
    assert rules.validate is kind.check
    assert block_extras(name) == (None if kind.extras is None else kind.extras | COMMON_EXTRAS)
    assert SCALERS.find(name) is kind.scale
    module, _, _ = kind.builder.partition(":")
    assert module.startswith("nas.layers.")
    assert BLOCKS.get(name) is resolve_builder(kind.builder)


def test_every_block_module_files_its_kinds_in_the_catalog() -> None:
    shared = {"catalog", "extras", "kind", "rounding"}  # the machinery the kinds share
    filed: list[BlockKind] = []
    for info in pkgutil.iter_modules(nas.blocks.__path__):
        if info.name not in shared:
            filed += importlib.import_module(f"nas.blocks.{info.name}").KINDS
    assert sorted(k.name for k in filed) == sorted(KINDS)


def test_the_block_rules_and_scaling_import_no_torch() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        "import nas.blocks\n"
        "for info in pkgutil.iter_modules(nas.blocks.__path__):\n"
        "    importlib.import_module('nas.blocks.' + info.name)\n"
        "import nas.layers.plans, nas.scaling, nas.validation\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_built_in_kind_declares_its_extras(name: str) -> None:
    """None would accept any extra: a misspelt one (``se_ratoi``) would be ignored silently."""
    assert KINDS[name].extras is not None


@pytest.mark.parametrize("block", ["basic", "bottleneck", "ir", "ds"])
def test_an_extra_the_block_does_not_read_is_an_error_naming_it(block: str) -> None:
    base = f"resnet:r28:c1:n10:relu:stem_c16:{block}_r1_c16_typo=1:head_d0"
    with pytest.raises(SpecError) as caught:
        ArchSpec.from_string(base)
    assert caught.value.field == "stages[0].extras.typo"
