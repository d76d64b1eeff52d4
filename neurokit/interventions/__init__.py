"""Interventions on prompted models: perturbing (skill) neurons, across tasks too, prompt transfer, and
pruning a backbone to its skill neurons.

See ``docs/interventions.md``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
