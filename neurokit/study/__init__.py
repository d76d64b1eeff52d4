"""Paper reproductions: a study file in ``analyses/`` run end to end (``neurokit study``) into a report."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
