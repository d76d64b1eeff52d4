# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from .analysis import AnalysisOptions as AnalysisOptions
from .analysis import SkillNeurons as SkillNeurons
from .analysis import analyze_stores as analyze_stores
from .analysis import load_results as load_results
from .analysis import save_results as save_results
from .extract import ExtractionConfig as ExtractionConfig
from .extract import extract_run as extract_run
from .extract import open_run as open_run
from .extract import open_runs as open_runs
from .interventions import SkillAblationExperiment as SkillAblationExperiment
from .interventions import transfer_matrix as transfer_matrix
from .models import load_backbone as load_backbone
from .plots import draw_figures as draw_figures
from .prompts import PromptCheckpoint as PromptCheckpoint
from .prompts import PromptTrainer as PromptTrainer
from .prompts import PromptTuningConfig as PromptTuningConfig
from .selftest import run_selftest as run_selftest
from .study import run_study as run_study
from .tasks import get_task as get_task
from .tasks import load_split as load_split

__version__: str
