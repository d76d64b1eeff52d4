# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from .files import FileSource as FileSource
from .files import load_task_spec_file as load_task_spec_file
from .hub import MIRROR_ENV as MIRROR_ENV
from .hub import HubSource as HubSource
from .loading import DEV_FRACTION as DEV_FRACTION
from .perturb import TextPerturbation as TextPerturbation
from .registry import get_task as get_task
from .registry import list_tasks as list_tasks
from .registry import load_split as load_split
from .registry import register_task as register_task
from .spec import SPLITS as SPLITS
from .spec import TaskSource as TaskSource
from .spec import TaskSpec as TaskSpec
from .spec import TaskType as TaskType
from .toy import GeneratedSource as GeneratedSource
