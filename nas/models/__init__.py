"""Models built from specs; the named presets (``nas.presets``) re-exported.

``nas.models.presets`` stays importable as the module ``nas.presets`` (moved there in 4525802).
"""

import sys

from nas import presets as presets
from nas.models.network import Network, build_model
from nas.presets import preset, preset_names

sys.modules.setdefault(f"{__name__}.presets", presets)

__all__ = ["Network", "build_model", "preset", "preset_names"]
