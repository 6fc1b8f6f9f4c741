"""Datasheet, dataset card and HTML report written from a finished run's outputs."""

from datahygiene.datasheet.build import build_datasheet, write_datasheet
from datahygiene.datasheet.model import Datasheet

__all__ = ["Datasheet", "build_datasheet", "write_datasheet"]
