"""`campaign-lift score`: one Score call for one user, printed as a table and the decision."""

from __future__ import annotations

from typing import Annotated

import typer

from clients.cli.common import (
    DEFAULT_TARGET,
    ScoringToken,
    Target,
    cli_errors,
    console,
    json_object,
)
from clients.client import CampaignLiftClient, UserRequest, credentials_from_env
from clients.render.scoring import decision_view

User = Annotated[str, typer.Option(help='User features as JSON, e.g. {"age": 30}.')]
Candidates = Annotated[str, typer.Option(help="JSON object: campaign id -> features.")]


@cli_errors
def score(
    user: User,
    candidates: Candidates,
    unit_id: Annotated[str, typer.Option(help="Unit (user) id.")] = "cli-user",
    experiment: Annotated[str, typer.Option()] = "",
    target: Target = DEFAULT_TARGET,
    token: ScoringToken = "",
) -> None:
    """Score candidate campaigns for one user and print the decision."""
    request = UserRequest(
        unit_id=unit_id,
        user_features=json_object(user, "--user"),
        candidates=list(json_object(candidates, "--candidates").items()),
        experiment=experiment,
    )
    with CampaignLiftClient(target, credentials=credentials_from_env(), token=token) as client:
        result = client.score(request)
    console.print(decision_view(result))
