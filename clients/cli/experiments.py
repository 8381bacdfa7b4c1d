"""`campaign-lift experiments ...`: define, run, report on and evaluate experiments."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from clients.cli.common import (
    DEFAULT_TARGET,
    AdminToken,
    AsJson,
    OptionSyntaxError,
    ReaderToken,
    Target,
    call,
    cli_errors,
    console,
    message_dict,
    print_json,
)
from clients.evaluation import evaluation_request
from clients.render.evaluation import evaluation_view
from clients.render.experiments import (
    definition_view,
    experiments_table,
    policy_state_table,
    report_numbers,
    report_view,
)
from protos.campaignlift.v1 import evaluation_pb2_grpc, experiments_pb2, experiments_pb2_grpc

app = typer.Typer(
    help="Experiments: define them, the A/B report, off-policy evaluation of a policy on the logs."
)
Experiments = experiments_pb2_grpc.ExperimentServiceStub


# Option parsers: each gets one value as typed and names what is wrong with it.
def variant_option(text: str) -> experiments_pb2.VariantDefinition:
    """NAME:WEIGHT:POLICY_JSON (the policy JSON may itself hold colons)."""
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise OptionSyntaxError(f"{text!r} must be NAME:WEIGHT:POLICY_JSON")
    try:
        weight = float(parts[1])
    except ValueError:
        raise OptionSyntaxError(f"{text!r}: weight {parts[1]!r} is not a number") from None
    return experiments_pb2.VariantDefinition(name=parts[0], weight=weight, policy_json=parts[2])


def condition_option(text: str) -> experiments_pb2.Condition:
    """'FEATURE OP VALUE_JSON' (the value may hold spaces)."""
    parts = text.split(" ", 2)
    if len(parts) != 3:
        raise OptionSyntaxError(
            f"{text!r} must be 'FEATURE OP VALUE_JSON', e.g. 'channel in [\"Web\", \"Phone\"]'"
        )
    return experiments_pb2.Condition(feature=parts[0], op=parts[1], value_json=parts[2])


def namespace_option(text: str) -> experiments_pb2.Namespace | None:
    """NAME:START:END; empty: no namespace."""
    if not text:
        return None
    parts = text.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        return experiments_pb2.Namespace(name=parts[0], start=float(parts[1]), end=float(parts[2]))
    except ValueError:
        raise OptionSyntaxError(f"{text!r} must be NAME:START:END") from None


def time_option(text: str) -> datetime | None:
    """ISO 8601; without a zone it is UTC; empty: no bound."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise OptionSyntaxError(f"{text!r} is not an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def policy_option(text: str) -> dict[str, Any]:
    """A policy configuration: a JSON object (the server checks what is in it)."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OptionSyntaxError(f"is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise OptionSyntaxError("must be a JSON object")
    return config


Variants = Annotated[
    list[experiments_pb2.VariantDefinition],
    typer.Option(
        "--variant",
        parser=variant_option,
        metavar="NAME:WEIGHT:POLICY_JSON",
        help='Once per variant, control first, e.g. \'control:1:{"type": "no_campaign"}\'',
    ),
]
Eligible = Annotated[
    list[experiments_pb2.Condition] | None,
    typer.Option(
        parser=condition_option,
        metavar="'FEATURE OP VALUE_JSON'",
        help="Who may enter (ops eq ne in not_in lt lte gt gte).",
    ),
]
NamespaceRange = Annotated[
    experiments_pb2.Namespace | None,
    typer.Option(
        "--namespace",
        parser=namespace_option,
        metavar="NAME:START:END",
        help="Mutually exclusive with overlapping ranges.",
    ),
]
Salt = Annotated[str, typer.Option(help="Hash salt; empty: the name. Keep it to keep units.")]
Window = Annotated[
    float, typer.Option(help="Seconds an outcome counts for its decision; 0: one day.")
]
DefaultReward = Annotated[
    float, typer.Option(help="Reward of a decision with no outcome in its window.")
]
Coverage = Annotated[float, typer.Option(help="Share of eligible units included.")]
Release = Annotated[
    str, typer.Option(help="Variant for units outside the experiment; empty: the first.")
]
Covariate = Annotated[
    str, typer.Option(help="User feature measured before the experiment (CUPED).")
]


def _print_definition(definition: experiments_pb2.ExperimentDefinition, as_json: bool) -> None:
    data = message_dict(definition)
    if as_json:
        print_json(data)
    else:
        console.print(definition_view(data))


@app.command()
@cli_errors
def save(
    name: str,
    variant: Variants,
    salt: Salt = "",
    attribution_window: Window = 0.0,
    default_reward: DefaultReward = 0.0,
    coverage: Coverage = 1.0,
    namespace: NamespaceRange = None,
    eligible: Eligible = None,
    release: Release = "",
    covariate: Covariate = "",
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Create an experiment or replace its definition (needs the admin token)."""
    definition = experiments_pb2.ExperimentDefinition(
        name=name,
        salt=salt,
        variants=variant,
        attribution_window_s=attribution_window,
        default_reward=default_reward,
        coverage=coverage,
        eligibility=eligible or [],
        release=release,
        covariate=covariate,
    )
    if namespace is not None:
        definition.namespace.CopyFrom(namespace)
    request = experiments_pb2.SaveExperimentRequest(experiment=definition)
    _print_definition(call(target, Experiments, "SaveExperiment", request, token=token), as_json)


@app.command("list")
@cli_errors
def list_(
    target: Target = DEFAULT_TARGET, as_json: AsJson = False, token: ReaderToken = ""
) -> None:
    """Every experiment with its status and variants."""
    request = experiments_pb2.ListExperimentsRequest()
    reply = call(target, Experiments, "ListExperiments", request, token=token)
    if as_json:  # as it always was: fields at their default left out, unlike `show --json`
        print_json(message_dict(reply, defaults=False).get("experiments", []))
    else:
        console.print(experiments_table(message_dict(reply)["experiments"]))


def _set_status(target: str, token: str, as_json: bool, **status: str) -> None:
    request = experiments_pb2.SetExperimentStatusRequest(**status)
    _print_definition(
        call(target, Experiments, "SetExperimentStatus", request, token=token), as_json
    )


@app.command()
@cli_errors
def stop(
    name: str,
    release: Annotated[
        str, typer.Option(help="Variant everyone gets from now on (e.g. the winner).")
    ] = "",
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Stop an experiment: everyone gets the released variant's policy, outside the experiment."""
    _set_status(target, token, as_json, name=name, status="stopped", release=release)


@app.command()
@cli_errors
def start(
    name: str, target: Target = DEFAULT_TARGET, as_json: AsJson = False, token: AdminToken = ""
) -> None:
    """Start a stopped experiment again (same salt: units return to their variants)."""
    _set_status(target, token, as_json, name=name, status="running")


@app.command("policy-state")
@cli_errors
def policy_state(
    name: str,
    variant: str,
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    token: ReaderToken = "",
) -> None:
    """What a learning variant (thompson, linucb) has learned, shared by every replica."""
    request = experiments_pb2.GetPolicyStateRequest(experiment=name, variant=variant)
    data = message_dict(call(target, Experiments, "GetPolicyState", request, token=token))
    if as_json:
        print_json(data)
    else:
        console.print(policy_state_table(name, variant, data))


@app.command()
@cli_errors
def show(
    name: str, target: Target = DEFAULT_TARGET, as_json: AsJson = False, token: ReaderToken = ""
) -> None:
    """An experiment's salt, variants, weights and policies."""
    request = experiments_pb2.GetExperimentRequest(name=name)
    _print_definition(call(target, Experiments, "GetExperiment", request, token=token), as_json)


def _report_dict(reply: experiments_pb2.ExperimentReport) -> dict[str, Any]:
    """The report as a dict, with its counts as numbers (proto JSON writes int64 as strings)."""
    return report_numbers(message_dict(reply))


@app.command()
@cli_errors
def report(
    name: str,
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    covariate: Annotated[
        str | None,
        typer.Option(help="User feature for CUPED instead of the experiment's; '' turns it off."),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the report as one self-contained HTML file."),
    ] = None,
    token: ReaderToken = "",
) -> None:
    """Per variant and campaign: units, decisions, outcomes, rates, revenue per unit, lift vs
    control, p-values (z-test for rates, Welch t for revenue), CUPED, SRM."""
    request = experiments_pb2.GetReportRequest(experiment=name)
    if covariate is not None:
        request.covariate = covariate
    data = _report_dict(call(target, Experiments, "GetReport", request, token=token, timeout_s=60))
    if html is not None:
        from clients.render.html import render_html  # matplotlib: only when asked for

        html.write_text(render_html(data), encoding="utf-8")
    if as_json:
        print_json(data)
        return
    console.print(report_view(data))
    if html is not None:
        console.print(f"wrote {html}")


DEFAULT_POLICY = '{"type": "epsilon_greedy", "epsilon": 0.1}'
Policy = Annotated[
    dict[str, Any] | None,
    typer.Option(
        parser=policy_option,
        metavar="JSON",
        show_default=False,
        help=f"Policy config as JSON (default: {DEFAULT_POLICY}).",
    ),
]
Objective = Annotated[
    str, typer.Option(help="Model target the policy ranks by (default: the server's).")
]
Reward = Annotated[
    str, typer.Option(help="click, conversion or revenue (default: the objective's).")
]
After = Annotated[
    datetime | None,
    typer.Option(parser=time_option, metavar="TIME", help="Only decisions at or after (ISO 8601)."),
]
Before = Annotated[
    datetime | None,
    typer.Option(parser=time_option, metavar="TIME", help="Only decisions before (ISO 8601)."),
]
Bootstrap = Annotated[int, typer.Option(help="Bootstrap resamples (0: normal intervals).")]


@app.command()
@cli_errors
def evaluate(
    name: str,
    model_version: Annotated[str, typer.Option(help="The model version whose predictions decide.")],
    policy: Policy = None,
    objective: Objective = "",
    reward: Reward = "",
    variant: Annotated[str, typer.Option(help="Only this variant's decisions.")] = "",
    after: After = None,
    before: Before = None,
    confidence: Annotated[float, typer.Option(help="Interval level.")] = 0.95,
    bootstrap: Bootstrap = 0,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    token: ReaderToken = "",
) -> None:
    """What a model version with a policy would have earned on an experiment's logs (IPS,
    SNIPS, DM, DR), next to what the logged policy earned."""
    request = evaluation_request(
        name,
        model_version,
        policy if policy is not None else policy_option(DEFAULT_POLICY),
        objective=objective,
        reward=reward,
        variant=variant,
        decided_after=after,
        decided_before=before,
        confidence=confidence,
        bootstrap_samples=bootstrap,
        seed=seed,
    )
    stub = evaluation_pb2_grpc.EvaluationServiceStub
    reply = call(target, stub, "EvaluatePolicy", request, token=token, timeout_s=300)
    data = message_dict(reply)
    data["decisions"] = int(data["decisions"])
    if as_json:
        print_json(data)
    else:
        console.print(evaluation_view(data))
