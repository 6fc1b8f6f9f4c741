"""``datahygiene datasheet OUT``: regenerate the datasheet documents of a finished run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datahygiene.cli.common import fail


def datasheet(
    output: Annotated[str, typer.Argument(help="A finished run's output directory or URL.")],
    answers: Annotated[
        Path | None, typer.Option("--answers", help="YAML answers to the datasheet's questions (see docs).")
    ] = None,
    identity_terms: Annotated[
        Path | None, typer.Option("--identity-terms", help="YAML identity-term lists extending the shipped ones.")
    ] = None,
    disparity_factor: Annotated[
        float, typer.Option("--disparity-factor", min=1.0, help="Flag drop rates above this multiple of the base rate.")
    ] = 2.0,
    min_group_rows: Annotated[
        int, typer.Option("--min-group-rows", min=1, help="Only flag groups mentioned in at least this many rows.")
    ] = 10,
    no_blur: Annotated[bool, typer.Option("--no-blur", help="Show gallery images unblurred.")] = False,
) -> None:
    """Write datasheet.md, datasheet.json, README.md and datasheet.html from a run, without rerunning models."""
    import yaml

    from datahygiene.io.sink import NotARunError, RunDir
    from datahygiene.io.storage import StorageError
    from datahygiene.reports.datasheet import write_datasheet
    from datahygiene.reports.datasheet.audit import IdentityTermsError
    from datahygiene.reports.datasheet.questions import AnswersError

    for given in (answers, identity_terms):
        if given is not None and not given.is_file():
            raise fail(f"{given} is not a file")
    try:
        run_dir = RunDir.at(output)
        if run_dir.remote:
            run_dir.read_manifest()  # a missing run is named by its URL, not by the local copy's folder
        with run_dir.local_view(write_back=True) as folder:
            written = write_datasheet(
                folder,
                answers=answers,
                identity_terms=identity_terms,
                disparity_factor=disparity_factor,
                min_group_rows=min_group_rows,
                blur=not no_blur,
            )
            paths = [run_dir.describe(path.relative_to(folder).as_posix()) for path in written]
    except (NotARunError, AnswersError, IdentityTermsError, StorageError, yaml.YAMLError) as error:
        raise fail(str(error)) from None
    for path in paths:
        typer.echo(str(path))
