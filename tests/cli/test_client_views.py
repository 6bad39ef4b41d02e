"""The client's views of the server's answers (``api.client``) mirror the server's models.

The client declares only the fields its verbs read (the rest pass through, ``extra="allow"``),
so it needs neither torch nor the server's store. This contract keeps the two from drifting:
every field a view declares exists on the server's model with the same type (an enum on the
server is its plain value, ``str``, on the client), and a field the server always sends is
required on the client too only if the server requires it.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any, Union

import pytest
from pydantic import BaseModel

from api import client
from api import targets as server_targets
from api.schemas.jobs import BestOut, JobOut
from api.schemas.jobs import JobProgress as ServerProgress
from api.schemas.trials import TrialDetail as ServerTrialDetail
from api.schemas.trials import TrialLog as ServerTrialLog
from api.schemas.trials import TrialOut
from api.schemas.verdict import VerdictOut
from nas.verdict import PairVerdict, StrategyRuns, TradeOff
from workers.jobs.confirm import ConfirmationSummary
from workers.jobs.store import BudgetUse as ServerBudgetUse

PAIRS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (client.Trial, TrialOut),
    (client.TrialDetail, ServerTrialDetail),
    (client.TrialLog, ServerTrialLog),
    (client.Best, BestOut),
    (client.Confirmation, ConfirmationSummary),
    (client.BudgetUse, ServerBudgetUse),
    (client.JobProgress, ServerProgress),
    (client.Target, server_targets.Target),
    (client.SeriesTarget, server_targets.SeriesTarget),
    (client.Comparison, server_targets.Comparison),
    (client.Job, JobOut),
    (client.VerdictStrategy, StrategyRuns),
    (client.VerdictPair, PairVerdict),
    (client.VerdictTradeOff, TradeOff),
    (client.Verdict, VerdictOut),
]
VIEWS = {view: model for view, model in PAIRS}


def plain(annotation: Any) -> Any:
    """A server annotation as the client reads it: enums and literals of strings are ``str``,
    models are the client's view of them or else plain data (``dict[str, Any]``), containers and
    unions element-wise."""
    if annotation in VIEWS:  # already the client's side
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return str
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return str
    if origin in (Union, types.UnionType):
        return frozenset(plain(a) for a in typing.get_args(annotation))
    if origin is not None:
        return (origin, tuple(plain(a) for a in typing.get_args(annotation)))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        view = next((view for view, model in PAIRS if model is annotation), None)
        return view or (dict, (str, Any))
    return annotation


def test_every_view_of_the_client_is_checked() -> None:
    views = {
        value
        for value in vars(client).values()
        if isinstance(value, type)
        and issubclass(value, client.View)
        and value not in (client.View, client.Page)
    }
    assert views == set(VIEWS), "a client view without its server model in PAIRS"


@pytest.mark.parametrize(("view", "model"), PAIRS, ids=[v.__name__ for v, _ in PAIRS])
def test_a_view_declares_only_server_fields_with_their_types(
    view: type[BaseModel], model: type[BaseModel]
) -> None:
    for name, field in view.model_fields.items():
        assert name in model.model_fields, f"{view.__name__}.{name} is not in {model.__name__}"
        served = model.model_fields[name]
        assert plain(field.annotation) == plain(served.annotation), (
            f"{view.__name__}.{name}: {field.annotation} on the client, "
            f"{served.annotation} on the server"
        )
        if field.is_required():
            assert served.is_required(), f"{view.__name__}.{name} required, optional on the server"


def test_the_check_sees_a_drifted_view() -> None:
    class Drifted(client.View):
        id: str  # the server sends an int
        nickname: str  # the server sends no such field

    with pytest.raises(AssertionError, match=r"Drifted\.id"):
        test_a_view_declares_only_server_fields_with_their_types(Drifted, TrialOut)
