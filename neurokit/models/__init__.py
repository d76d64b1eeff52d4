"""Backbones, architecture adapters, canonical neuron sites and activation hooks."""

from neurokit.models.adapters import (
    ADAPTERS,
    LEGACY_LAYOUT,
    ArchitectureAdapter,
    Family,
    PromptLayout,
    Scoring,
    Verbalizer,
    adapter_for,
)
from neurokit.models.backbone import (
    EMBEDDED_DESCRIPTION,
    EMBEDDED_MODEL,
    Backbone,
    backbone_from_config,
    embedded_model_path,
    load_backbone,
)
from neurokit.models.capture import capture_activations, edit_activations
from neurokit.models.sites import NeuronSite, Stack, parse_site_name

__all__ = [
    "ADAPTERS", "ArchitectureAdapter", "Backbone", "EMBEDDED_DESCRIPTION", "EMBEDDED_MODEL", "Family",
    "LEGACY_LAYOUT", "NeuronSite", "PromptLayout", "Scoring", "Stack", "Verbalizer", "adapter_for",
    "backbone_from_config", "capture_activations", "edit_activations", "embedded_model_path", "load_backbone", "parse_site_name",
]
