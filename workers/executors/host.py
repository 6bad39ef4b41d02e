"""The name of the machine (or Ray node) a trial runs on, as its result records it."""

from __future__ import annotations

import os
import socket

NODE_ENV = "NAS_NODE_NAME"


def node_name() -> str:
    """``NAS_NODE_NAME`` where set (several Ray nodes on one host), else the host name."""
    return os.environ.get(NODE_ENV) or socket.gethostname()
