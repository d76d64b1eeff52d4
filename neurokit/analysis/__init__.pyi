# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from .auc import auroc as auroc
from .common import PositionSet as PositionSet
from .common import RunAggregation as RunAggregation
from .common import Selection as Selection
from .compare import binomial_p_value as binomial_p_value
from .compare import chance_threshold as chance_threshold
from .compare import clean_vs_adversarial as clean_vs_adversarial
from .compare import model_accuracy as model_accuracy
from .compare import null_comparison as null_comparison
from .compare import pairwise_agreement as pairwise_agreement
from .compare import stack_scores as stack_scores
from .compare import task_selectivity as task_selectivity
from .pipeline import AnalysisOptions as AnalysisOptions
from .pipeline import analysis_provenance as analysis_provenance
from .pipeline import analyze_stores as analyze_stores
from .resampling import benjamini_hochberg as benjamini_hochberg
from .results import compute_results as compute_results
from .results import load_results as load_results
from .results import save_results as save_results
from .results import tidy_table as tidy_table
from .results import write_tables as write_tables
from .skill import DEFAULT_FRACTIONS as DEFAULT_FRACTIONS
from .skill import BaselineKind as BaselineKind
from .skill import SkillNeurons as SkillNeurons
from .skill import skill_set as skill_set
from .skill import top_fraction as top_fraction
from .subtasks import SubtaskScheme as SubtaskScheme
