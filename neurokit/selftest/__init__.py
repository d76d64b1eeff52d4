"""`neurokit selftest`: exactness of captures, padding, precision and interventions on the user's own model."""

from neurokit.selftest.checks import (
    CheckResult,
    CheckState,
    ReducedPrecision,
    SelftestConfig,
    format_table,
    run_selftest,
)

__all__ = ["CheckResult", "CheckState", "ReducedPrecision", "SelftestConfig", "format_table", "run_selftest"]
