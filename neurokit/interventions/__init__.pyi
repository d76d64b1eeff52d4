# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from .ablation import DEFAULT_NOISE_STD as DEFAULT_NOISE_STD
from .ablation import DEFAULT_POSITIONS as DEFAULT_POSITIONS
from .ablation import AblationMethod as AblationMethod
from .ablation import Perturbation as Perturbation
from .ablation import Positions as Positions
from .ablation import SkillAblationExperiment as SkillAblationExperiment
from .ablation import check_train_store as check_train_store
from .ablation import evaluate_perturbed as evaluate_perturbed
from .ablation import perturbed as perturbed
from .ablation import train_activations as train_activations
from .ablation import train_mean as train_mean
from .cross_task import CrossTaskTarget as CrossTaskTarget
from .cross_task import cross_task_ablation as cross_task_ablation
from .effects import Resampling as Resampling
from .effects import ablation_effects as ablation_effects
from .effects import with_effects as with_effects
from .masks import as_masks as as_masks
from .masks import check_masks as check_masks
from .masks import check_skill_weights as check_skill_weights
from .masks import load_skill as load_skill
from .masks import random_masks as random_masks
from .masks import skill_masks as skill_masks
from .prune import DEFAULT_FRACTION as DEFAULT_FRACTION
from .prune import BiasFold as BiasFold
from .prune import PruneConfig as PruneConfig
from .prune import default_layers as default_layers
from .prune import kept_neurons as kept_neurons
from .prune import neuron_means as neuron_means
from .prune import parameter_count as parameter_count
from .prune import prune as prune
from .prune import save_pruned as save_pruned
from .transfer import by_source_task as by_source_task
from .transfer import plan_transfer as plan_transfer
from .transfer import transfer_matrix as transfer_matrix
