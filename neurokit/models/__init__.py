"""Backbones, architecture adapters, canonical neuron sites and activation hooks."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
