"""Soft prompts, prompt tuning, checkpoints, interop and reading a prompt through the vocabulary."""

from neurokit.prompts.checkpoint import PromptCheckpoint
from neurokit.prompts.config import PromptTuningConfig
from neurokit.prompts.data import EncodedBatch, EncodedSplit
from neurokit.prompts.interop import export_peft, import_npy, import_peft
from neurokit.prompts.metadata import PromptMetadata
from neurokit.prompts.neighbours import checkpoint_neighbours, prompt_neighbours
from neurokit.prompts.soft_prompt import FREQUENT_VOCABULARY_SIZE, PromptInit, SoftPrompt, frequent_token_ids
from neurokit.prompts.trainer import Evaluation, PromptTrainer, evaluate, prompt_metadata, save_untuned_prompt

__all__ = [
    "EncodedBatch", "EncodedSplit", "Evaluation", "FREQUENT_VOCABULARY_SIZE", "PromptCheckpoint", "PromptInit",
    "PromptMetadata", "PromptTrainer", "PromptTuningConfig", "SoftPrompt", "checkpoint_neighbours", "evaluate",
    "export_peft", "frequent_token_ids", "import_npy", "import_peft", "prompt_metadata", "prompt_neighbours",
    "save_untuned_prompt",
]
