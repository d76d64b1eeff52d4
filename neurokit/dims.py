"""The names of the labelled dimensions (and of the store's auxiliary coordinates) that neurokit's stages share.

Extraction writes activation stores with these dims, analyses reduce and add them, interventions and figures
read them: every stage imports them from here, so that a name is decided once. Dims that live inside one
function only (e.g. ``rank`` of the nearest-token decoding) are spelled there.
"""

# Dims of an activation store (docs/store-format.md) and of the analyses over it.
EXAMPLE = "example"
LAYER = "layer"  # the layer index of a neuron site
POSITION = "position"  # a stored token position (0 … P−1), see POSITION_ROLE
NEURON = "neuron"
CLASS = "class"
#: Auxiliary coordinate on ``layer``: the neuron site's module name.
SITE = "site"
#: Auxiliary coordinate on ``position``: what a stored position holds ("mask", "prompt_3", "input_mean", …).
POSITION_ROLE = "position_role"

# Dims that the analyses add.
RUN = "run"  # one extraction run (a prompt) of several combined stores
SUBTASK = "subtask"  # a binary sub-task of a multi-class task
TASK = "task"  # results of several tasks stacked
FRACTION = "fraction"  # a top fraction of neurons
BOUND = "bound"  # "lower"/"upper" of an interval

# Dims of interventions.
DRAW = "draw"  # a random neuron set (and its noise or donor draw)
#: Which neurons an ablation perturbed: "skill" or "random" (size-matched) sets.
SELECTION = "selection"
SOURCE = "source"  # a source prompt of prompt transfer
TARGET = "target"  # a target task of prompt transfer
SOURCE_TASK = "source_task"  # the task whose prompts (transfer) or skill neurons (cross-task ablation) are used
TARGET_TASK = "target_task"  # the task a cross-task ablation is evaluated on
