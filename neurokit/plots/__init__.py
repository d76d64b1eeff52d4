"""Publication figures from analysis results: xarray results in, :class:`matplotlib.figure.Figure` out.

Every figure function takes results as ``neurokit analyze`` stores them (a group of the results store, its
Dataset, or a single variable), a ``width`` of one or two paper columns and an optional ``ax`` to draw into,
and returns the figure without showing it. Figures are built without pyplot (no display needed) inside
:func:`paper_style`, which restores every rcParam afterwards. :func:`save_figure` writes PDF, SVG and PNG.
See ``docs/plots.md``; ``neurokit plot RESULTS --out DIR`` draws them all.

Names are imported on first use (``__init__.pyi`` lists them): matplotlib, seaborn and xarray take a second
or two to import, which ``neurokit --help`` (it imports :mod:`neurokit.plots.commands`) should not pay.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
