"""Helpers shared by the test folders and by the writer/CLI subprocesses some tests start: synthetic stores,
tiny prompted models, model folders and checkpoints, Hub-format mirrors. Fixtures stay in the conftest.py files."""
