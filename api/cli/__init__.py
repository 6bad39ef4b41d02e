"""The ``nas`` command line (typer + rich): one app assembled from a sub-app per seam.

Local verbs (``api.cli.local``): ``train``, ``run`` (a whole comparison, no server);
``simulate`` (``api.cli.simulate``: strategies replayed against an oracle table); the server's
verbs (``api.cli.server``): ``serve`` and ``keys``. Client verbs talk to a server over HTTP only
(``api.client``; ``api.cli.remote`` and ``api.cli.watch``): ``submit``, ``watch``, ``jobs``,
``leaderboard`` (``--csv``), ``best`` (``--export DIR``), ``cancel``, ``extend``, ``trial``,
``log``, ``verdict`` (``api.cli.verdict``); the server and key come from ``--server`` /
``--api-key`` or ``NAS_SERVER`` / ``NAS_API_KEY``. Exit codes: 0 ok, 1 the server refused (or
the watched job did not complete), 2 bad input here, 3 server unreachable.

The names ``api/cli.py`` had before it became this package (e95d3b3) stay importable from here,
but for the ``simulate`` and ``watch`` commands: those names are now the sub-modules.
"""

from __future__ import annotations

import typer

from api.cli import local, remote, server, simulate, verdict, watch
from api.cli.local import run, train
from api.cli.remote import best, cancel, extend, leaderboard, list_jobs, submit, trial_log
from api.cli.server import DatabaseUrl, keys_app, keys_create, keys_list, keys_revoke, serve
from api.cli.shared import ApiKey, AsJson, Server, console, err_console, fail
from api.cli.simulate import FRACTIONS, SimulatedStrategy
from api.defaults import DEFAULT_SERVER
from workers.jobs.store import FINISHED_STATES as FINISHED_TRIAL_STATES

app = typer.Typer(help="Neural architecture search for strides and scaling.", no_args_is_help=True)
# unnamed sub-apps put their verbs on ``nas`` itself, in this order (``nas --help``)
app.add_typer(local.app)
app.add_typer(simulate.app)
app.add_typer(server.app)
app.add_typer(remote.app)
app.add_typer(watch.app)
app.add_typer(verdict.app)
app.add_typer(server.keys_app, name="keys")

__all__ = [
    "DEFAULT_SERVER",
    "FINISHED_TRIAL_STATES",
    "FRACTIONS",
    "ApiKey",
    "AsJson",
    "DatabaseUrl",
    "Server",
    "SimulatedStrategy",
    "app",
    "best",
    "cancel",
    "console",
    "err_console",
    "extend",
    "fail",
    "keys_app",
    "keys_create",
    "keys_list",
    "keys_revoke",
    "leaderboard",
    "list_jobs",
    "run",
    "serve",
    "submit",
    "train",
    "trial_log",
]
