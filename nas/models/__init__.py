"""Models built from specs; the named presets (``nas.presets``) re-exported."""

from nas.models.network import Network, build_model
from nas.presets import preset, preset_names

__all__ = ["Network", "build_model", "preset", "preset_names"]
