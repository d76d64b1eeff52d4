"""Reading a soft prompt through the vocabulary (Lester, Al-Rfou, Constant 2021).

Each learned prompt vector is compared by cosine similarity with every row of the model's input embedding
matrix; its nearest tokens often form a semantic cluster and include the class labels. Random vectors of the
same norms are the control: their neighbours should look arbitrary and rarely hit a label word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from neurokit.errors import ConfigError


def _as_matrix(values, name: str) -> np.ndarray:
    """A (rows, width) float64 matrix from numpy or torch (any device, any float dtype, bfloat16 included)."""
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ConfigError(f"{name} must be a 2-d matrix (rows, width), got shape {matrix.shape}")
    return matrix


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def _top_k(cosine: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and values of the ``k`` largest entries, ties to the lower id (exact at the cut as well)."""
    cut = np.partition(cosine, cosine.size - k)[cosine.size - k]
    candidates = np.flatnonzero(cosine >= cut)
    order = np.lexsort((candidates, -cosine[candidates]))[:k]
    return candidates[order], cosine[candidates[order]]


def prompt_neighbours(prompt, embeddings, decode: Callable[[int], str], k: int = 5,
                      label_words: Sequence[str] = (), seed: int = 0) -> xr.Dataset:
    """The ``k`` vocabulary tokens nearest (by cosine) to each prompt vector and to a same-norm random vector.

    ``prompt`` (P, d) and ``embeddings`` (V, d) as numpy arrays or torch tensors; ``decode`` maps a token id
    to its text. Random controls: one Gaussian direction per prompt position from
    ``np.random.default_rng(seed)``, scaled to that prompt vector's norm. Ties in cosine go to the lower
    token id. A neighbour counts as a label word when its decoded text, stripped and lower-cased, equals one
    of ``label_words`` (lower-cased).

    Returns a Dataset with dims (vector, prompt_position, rank), vector ∈ {"prompt", "random"}:
    ``token_id`` (int64), ``token`` (str), ``cosine`` (in [-1, 1]), ``is_label_word`` (bool); plus
    ``label_word_rate`` (vector): share of prompt positions with a label word among their neighbours, and
    ``norm`` (prompt_position): the prompt vectors' Euclidean norms.
    """
    prompt = _as_matrix(prompt, "prompt")
    embeddings = _as_matrix(embeddings, "embeddings")
    if prompt.shape[1] != embeddings.shape[1]:
        raise ConfigError(f"prompt width {prompt.shape[1]} does not match embedding width {embeddings.shape[1]}")
    if not 1 <= k <= embeddings.shape[0]:
        raise ConfigError(f"k must be between 1 and the vocabulary size {embeddings.shape[0]}, got {k}")
    norms = np.linalg.norm(prompt, axis=1)
    directions = np.random.default_rng(seed).standard_normal(prompt.shape)
    random = _unit_rows(directions) * norms[:, None]
    queries = _unit_rows(np.concatenate([prompt, random]))  # prompt rows, then random rows
    vocabulary = _unit_rows(embeddings)
    nearest = np.empty((queries.shape[0], k), dtype=np.int64)
    similarity = np.empty((queries.shape[0], k))
    for row, query in enumerate(queries):  # one row at a time: a (2P, V) matrix can reach gigabytes
        nearest[row], similarity[row] = _top_k(vocabulary @ query, k)
    token_id = nearest.reshape(2, prompt.shape[0], k)
    similarity = similarity.reshape(token_id.shape)
    tokens = np.array([[[decode(int(index)) for index in row] for row in block] for block in token_id], dtype=object)
    wanted = {word.strip().lower() for word in label_words}
    is_label = np.vectorize(lambda text: str(text).strip().lower() in wanted, otypes=[bool])(tokens)
    dims = ("vector", "prompt_position", "rank")
    return xr.Dataset(
        {
            "token_id": (dims, token_id.astype(np.int64)),
            "token": (dims, tokens),
            "cosine": (dims, similarity),
            "is_label_word": (dims, is_label),
            "label_word_rate": ("vector", is_label.any(axis=2).mean(axis=1)),
            "norm": ("prompt_position", norms),
        },
        coords={"vector": np.array(["prompt", "random"], dtype=object),
                "prompt_position": np.arange(prompt.shape[0]), "rank": np.arange(1, k + 1)},
        attrs={"seed": seed, "label_words": list(label_words)},
    )


def checkpoint_neighbours(backbone, checkpoint, k: int = 5, seed: int = 0) -> xr.Dataset:
    """:func:`prompt_neighbours` of a prompt checkpoint's trained vectors (the frozen mask slot left out) in
    ``backbone``'s input-embedding space, with the label words the prompt was tuned with."""
    vectors = checkpoint.soft_prompt(backbone).vectors
    embeddings = backbone.model.get_input_embeddings().weight
    label_words = checkpoint.metadata.label_words or ()
    result = prompt_neighbours(vectors, embeddings, backbone.tokenizer.convert_ids_to_tokens, k, label_words, seed)
    return result.assign_attrs(prompt=str(checkpoint.path), prompt_sha256=checkpoint.sha256)
