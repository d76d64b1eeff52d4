# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from .checks import CheckResult as CheckResult
from .checks import CheckState as CheckState
from .checks import ReducedPrecision as ReducedPrecision
from .checks import SelftestConfig as SelftestConfig
from .checks import format_table as format_table
from .checks import run_selftest as run_selftest
