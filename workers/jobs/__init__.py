"""Running a job: the runner that drives a job's strategies against an executor, the pool that
shares one executor between jobs, budget accounting, the trial store, confirmation of the
recommendation, ranking across strategies and simulation against an oracle table."""
