# The names this package exports, for type checkers and IDEs. At run time its __init__.py hands this file to
# lazy_loader.attach_stub, which imports each name from its module on first use (and lists them in dir()).

from .checkpoint import PromptCheckpoint as PromptCheckpoint
from .config import PromptTuningConfig as PromptTuningConfig
from .data import EncodedBatch as EncodedBatch
from .data import EncodedSplit as EncodedSplit
from .interop import export_peft as export_peft
from .interop import import_npy as import_npy
from .interop import import_peft as import_peft
from .metadata import PromptMetadata as PromptMetadata
from .neighbours import checkpoint_neighbours as checkpoint_neighbours
from .neighbours import prompt_neighbours as prompt_neighbours
from .soft_prompt import FREQUENT_VOCABULARY_SIZE as FREQUENT_VOCABULARY_SIZE
from .soft_prompt import PromptInit as PromptInit
from .soft_prompt import SoftPrompt as SoftPrompt
from .soft_prompt import frequent_token_ids as frequent_token_ids
from .trainer import Evaluation as Evaluation
from .trainer import PromptTrainer as PromptTrainer
from .trainer import evaluate as evaluate
from .trainer import prompt_metadata as prompt_metadata
from .trainer import save_untuned_prompt as save_untuned_prompt
