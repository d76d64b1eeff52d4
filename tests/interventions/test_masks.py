"""Skill masks for perturbation follow the analysis's multi-class rule, decided in one place
(``neurokit.analysis.skill.skill_set``): a balanced 3-way task's first sub-task filled from its second."""

from __future__ import annotations

import numpy as np
import pytest

from neurokit.analysis import SkillNeurons, save_results
from neurokit.interventions.masks import as_masks, load_skill
from tests.helpers.synthetic_stores import THREE_WAY, make_store, reference_filled


@pytest.mark.slow
def test_masks_from_three_way_scores_equal_the_analysis_skill_sets(tmp_path):
    train = make_store(1, label_names=THREE_WAY, split="train", n_examples=80, n_neurons=20)
    data = make_store(2, label_names=THREE_WAY, n_neurons=20)
    fractions = (0.1, 0.2, 0.5)
    for scheme in ("balanced", "all-examples"):
        result = SkillNeurons(fractions=fractions, scheme=scheme).fit(train).score(data).compute()
        masks = as_masks(result["score"], fractions=fractions)
        np.testing.assert_array_equal(masks.values, result["skill"].values)
        save_results({f"{scheme}/skill": result}, tmp_path / f"{scheme}.zarr")
        stored = as_masks(load_skill(tmp_path / f"{scheme}.zarr", group=f"{scheme}/skill"), fractions=fractions)
        np.testing.assert_array_equal(stored.values, result["skill"].values)
    scores = result["score"].values  # all-examples scores: filled sets differ from their union
    assert not np.array_equal(reference_filled(scores, 0.5), result["skill"].values[2])
