"""The block kinds, torch-free: one module per block with its plan, its rules and its scaling.

A block's module (``nas.blocks.dense``, ``fire``, ``inception``, ...) holds its pure shape rule
(the *plan*: the widths its builder builds, or a ``SpecError`` naming the field), the extras it
reads, the check run whenever a spec is created, its scaling rule (when its widths live in extras
or its stage holds one block) and where its torch builder is (``nas.layers.<block>``), as
``BlockKind`` values in its ``KINDS``. ``nas.blocks.catalog`` lists them; the registries read the
catalog: the block rules (``nas.validation``), the scaling rules (``nas.scaling``) and the
builders (``nas.layers.builders``). The block modules import none of them.
"""
