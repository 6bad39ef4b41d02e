"""Where trials run: the ``Executor`` interface and its implementations (inline, local worker
processes, Ray actors behind a supervised bridge), the JSON-lines protocol they speak and the
entry point a worker runs for one trial. Nothing here knows about jobs, budgets or strategies."""
