"""``neurokit demo``: the whole pipeline on the embedded default, into one folder, on a laptop CPU.

Prompt-tunes the offline MiniLM-L6 on the built-in tasks (several seeds of the first task), adds an untuned
prompt per task as the null, extracts FFN activations of train (statistics only), dev and adversarial test,
analyses them (skill neurons chosen on dev, as Wang et al.; agreement across prompts and tasks, clean vs
adversarial, null), measures each prompt's test accuracy, perturbs the skill neurons of one prompt on test,
measures prompt transfer on test, draws the figures, and writes ``summary.md``: each of the papers' findings
with the number it rests on, the criterion, and whether it holds on this data.

Finished steps are reused when the command runs again with the same settings (prompts by their recorded
settings, stores by their identity); analysis, figures and summary are always rewritten.

Modules: :mod:`~neurokit.demo.config` (:class:`DemoConfig`, the sizes), :mod:`~neurokit.demo.pipeline` (the
steps and :func:`run_demo`), :mod:`~neurokit.demo.cache` (reuse of finished steps),
:mod:`~neurokit.demo.summary` (the findings and their verdicts), :mod:`~neurokit.demo.commands` (the command).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The pipeline loads torch, the analyses and the figures: imported on first use, so that importing
# :mod:`neurokit.demo.commands` for the CLI's argument parser stays cheap.
_EXPORTS = {
    "DemoConfig": "neurokit.demo.config",
    "run_demo": "neurokit.demo.pipeline",
}

__all__ = sorted(_EXPORTS)

# For type checkers and IDEs; at run time the names are imported lazily. (noqa: ruff does not see that
# ``__all__``, built from ``_EXPORTS``, exports them.)
if TYPE_CHECKING:
    from neurokit.demo.config import DemoConfig  # noqa: F401
    from neurokit.demo.pipeline import run_demo  # noqa: F401


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'neurokit.demo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
