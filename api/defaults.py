"""Where a server listens unless told otherwise, and so where a client looks first: the one home
of the address that ``api.settings.Settings``, ``api.client`` and the ``nas`` verbs share. No
imports, so the command line reads it without loading pydantic or httpx."""

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_SERVER = f"http://{LOOPBACK}:{DEFAULT_PORT}"
