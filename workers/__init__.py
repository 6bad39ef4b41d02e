"""Execution: executors, the trial entry point, trial stores and the job runner (scheduler)."""
