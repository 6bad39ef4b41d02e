"""The Pareto rule lives in ``nas.pareto``; its names stay importable from here."""

from nas.pareto import ParetoFront, pareto_front

__all__ = ["ParetoFront", "pareto_front"]
