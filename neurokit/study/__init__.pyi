# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from .config import REPORT_SECTIONS as REPORT_SECTIONS
from .config import StudyConfig as StudyConfig
from .report import write_report as write_report
from .runner import run_study as run_study
