# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from ._plan import ExtractionConfig as ExtractionConfig
from ._plan import PositionSelection as PositionSelection
from .check import check_store as check_store
from .check import store_info as store_info
from .extraction import extract_run as extract_run
from .reader import open_run as open_run
from .reader import open_runs as open_runs
from .spec import Provenance as Provenance
from .spec import StoredDtype as StoredDtype
from .spec import StoreSpec as StoreSpec
from .writer import ActivationStoreWriter as ActivationStoreWriter
