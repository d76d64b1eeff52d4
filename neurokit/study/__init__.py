"""Paper reproductions: a study file in ``analyses/`` run end to end (``neurokit study``) into a report."""

from neurokit.study.config import REPORT_SECTIONS, StudyConfig
from neurokit.study.report import write_report
from neurokit.study.runner import run_study

__all__ = ["REPORT_SECTIONS", "StudyConfig", "run_study", "write_report"]
