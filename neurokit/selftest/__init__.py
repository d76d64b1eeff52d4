"""`neurokit selftest`: exactness of captures, padding, precision and interventions on the user's own model."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
