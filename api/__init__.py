"""The service: REST API, storage and the ``nas`` command line (the outermost layer)."""

from nas.moved import moved

moved(
    {  # issue 27's renames: the old paths import the new modules
        "api.leaderboard": "api.live_board",
        "api.leaderboards": "api.board_cache",
        "api.results": "api.result_tables",
        "api.targets": "api.live_targets",
        "api.pareto": "nas.pareto",
        "api.errors": "api.error_responses",
        "api.cli.common": "api.cli.shared",
    }
)
