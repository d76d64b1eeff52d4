"""Tasks: registry of classification tasks, their canonical train/dev/test splits and the offline suite.

>>> from neurokit.tasks import get_task, load_split
>>> spec = get_task("toy_sentiment_movies")
>>> dev = load_split(spec, "dev", size=100)
>>> spec.render(dev[0]) == dev[0]["sentence"]
True

Names are imported on first use (``__init__.pyi`` lists them), so that importing
:mod:`neurokit.tasks.commands` for the CLI's argument parser does not load ``datasets``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
