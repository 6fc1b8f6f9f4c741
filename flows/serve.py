"""Serve the hygiene flow on a cron schedule from this process (no work pool or worker needed).

Nightly incremental run against a persistent dedup index, from the repository root::

    python -m flows.serve --input '/data/incoming/{date}' --output '/data/clean/{date}' \\
        --dedup-index /data/dedup-index --cron '0 2 * * *'

``{date}`` becomes each run's scheduled date, so every night reads and
writes its own folder while the dedup index carries over. Needs a Prefect
API (``prefect server start``; see docs/flows.md).
"""

from __future__ import annotations

import sys

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.hygiene import build_parser, hygiene, params_from_args


def nightly_deployment(argv: list[str]) -> RunnerDeployment:
    """The deployment the options describe: flow parameters plus name, cron and time zone."""
    parser = build_parser("Serve the datahygiene flow on a schedule.")
    parser.add_argument("--name", default="nightly-incremental", help="deployment name")
    parser.add_argument("--cron", default="0 2 * * *", help="when to run (cron, in --timezone)")
    parser.add_argument("--timezone", default="UTC")
    args = parser.parse_args(argv)
    params = params_from_args(args)
    deployment = hygiene.to_deployment(
        name=args.name,
        schedules=[Cron(args.cron, timezone=args.timezone)],
        parameters={"params": params.model_dump(mode="json")},
        concurrency_limit=1,  # two runs at once would race for the dedup index
        description="Incremental datahygiene run; {date} in paths is the scheduled date.",
        tags=["datahygiene"],
    )
    assert isinstance(deployment, RunnerDeployment)  # the sync call returns the deployment itself
    return deployment


def main(argv: list[str] | None = None) -> None:
    """Register the deployment and run its scheduled flow runs until interrupted."""
    serve(nightly_deployment(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
