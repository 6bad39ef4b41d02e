"""Models built from specs, and named presets."""

from nas.models.network import Network, build_model
from nas.models.presets import preset, preset_names

__all__ = ["Network", "build_model", "preset", "preset_names"]
