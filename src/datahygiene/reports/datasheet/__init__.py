"""Datasheet, dataset card and HTML report written from a finished run's outputs."""

from datahygiene.reports.datasheet.build import build_datasheet, write_datasheet
from datahygiene.reports.datasheet.model import Datasheet

__all__ = ["Datasheet", "build_datasheet", "write_datasheet"]
