import sys
from pathlib import Path

# The test modules and the writer subprocesses share store_fixtures.py; make it importable whatever
# pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))
