"""Building blocks, one concept per module, looked up by name through ``nas.layers.registry``.

Importing the package imports no torch: ``nas.layers.extras`` and ``nas.layers.plans`` are
torch-free and read by the block rules (``nas.validation``) whenever a spec is created.
"""
