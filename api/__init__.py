"""The service: REST API, storage and the ``nas`` command line (the outermost layer)."""
