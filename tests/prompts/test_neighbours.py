"""Nearest vocabulary tokens of soft-prompt vectors (Lester et al. 2021)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurokit.errors import NeurokitError
from neurokit.prompts import prompt_neighbours

VOCABULARY = ["the", " positive", "negative", "movie", "great", "bad", "a", "of", "film", "awful"]


def _decode(token_id: int) -> str:
    return VOCABULARY[token_id]


def test_neighbours_match_loop_over_vocabulary():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(len(VOCABULARY), 6))
    prompt = embeddings[[1, 4, 9]] * 3 + 0.1 * rng.normal(size=(3, 6))
    result = prompt_neighbours(prompt, embeddings, _decode, k=3, label_words=["positive", "negative"])
    for position, vector in enumerate(prompt):
        cosines = [float(vector @ row / np.linalg.norm(vector) / np.linalg.norm(row)) for row in embeddings]
        ranked = sorted(range(len(VOCABULARY)), key=lambda token: (-cosines[token], token))[:3]
        assert list(result["token_id"].sel(vector="prompt", prompt_position=position).values) == ranked
        np.testing.assert_allclose(result["cosine"].sel(vector="prompt", prompt_position=position),
                                   [cosines[token] for token in ranked])
    assert result["token"].sel(vector="prompt", prompt_position=0, rank=1).item() == " positive"
    assert bool(result["is_label_word"].sel(vector="prompt", prompt_position=0, rank=1))
    assert result["label_word_rate"].sel(vector="prompt") >= 1 / 3


def test_random_control_has_prompt_norms_and_seed():
    rng = np.random.default_rng(1)
    embeddings, prompt = rng.normal(size=(10, 8)), rng.normal(size=(4, 8)) * 5
    first = prompt_neighbours(prompt, embeddings, _decode, k=2, seed=3)
    again = prompt_neighbours(prompt, embeddings, _decode, k=2, seed=3)
    np.testing.assert_array_equal(first["token_id"], again["token_id"])
    np.testing.assert_allclose(first["norm"], np.linalg.norm(prompt, axis=1))
    assert first["token_id"].dims == ("vector", "prompt_position", "rank")


def test_ties_go_to_lower_token_id_and_torch_inputs_work():
    embeddings = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [3.0, 0.0]], dtype=torch.bfloat16)
    result = prompt_neighbours(torch.tensor([[1.0, 0.0]]), embeddings, _decode, k=2)
    assert list(result["token_id"].sel(vector="prompt").values[0]) == [0, 1]


def test_shape_errors_are_neurokit_errors():
    with pytest.raises(NeurokitError):
        prompt_neighbours(np.ones((2, 3)), np.ones((5, 4)), _decode)
    with pytest.raises(NeurokitError):
        prompt_neighbours(np.ones((2, 3)), np.ones((5, 3)), _decode, k=6)
