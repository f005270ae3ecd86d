"""The dense-vector index: exact search while small, a projected HNSW with exact re-scoring beyond."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import numpy as np

# Exact search costs one pass over all vectors per question: about 35 ms at
# 100k on 2 shared cores (bench/faiss_scale.py), so beyond 50k an approximate index.
FLAT_INDEX_LIMIT = 50_000
# The approximate index (chosen with bench/faiss_scale.py, docs/performance.md):
# HNSW over the vectors projected to PROJECTED_DIM (2-3x faster to build and
# search than over 384 dims), whose k * REFINE_K_FACTOR candidates are then
# re-scored with the exact vectors, so recall improves and scores stay true cosines.
PROJECTED_DIM = 128
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 512
REFINE_K_FACTOR = 2.0
# Project only when the kept axes hold this share of the vectors' energy (e5:
# 0.95); on vectors without dominant axes (uniform random: 0.33) the projection
# loses the neighbours (recall@10 0.24 at 100k), so the graph is built on all dims.
MIN_PROJECTED_ENERGY = 0.9
_PROJECTION_SAMPLE = 100_000


def _projection(vectors: np.ndarray, dim: int):
    """A linear map onto the top `dim` principal axes of the (uncentred) vectors, or None.

    None when those axes hold less than MIN_PROJECTED_ENERGY of the energy.
    """
    # Uncentred, without bias: inner products survive up to the dropped axes,
    # so the graph can search by inner product directly.
    import faiss

    rows = np.random.default_rng(0).choice(len(vectors), min(len(vectors), _PROJECTION_SAMPLE), replace=False)
    sample = vectors[np.sort(rows)].astype(np.float64)
    energy, axes = np.linalg.eigh(sample.T @ sample)  # ascending eigenvalues
    if energy[::-1][:dim].sum() < MIN_PROJECTED_ENERGY * energy.sum():
        return None
    transform = faiss.LinearTransform(vectors.shape[1], dim, False)
    faiss.copy_array_to_vector(np.ascontiguousarray(axes[:, ::-1][:, :dim].T, dtype=np.float32).ravel(), transform.A)
    transform.is_trained = True
    return transform


def make_vector_index(vectors: np.ndarray):
    """Pick and fill the FAISS index by size: exact inner product while small, a refined HNSW beyond.

    Args:
        vectors: L2-normalised rows (float32).

    Returns:
        A `faiss.IndexFlatIP` up to FLAT_INDEX_LIMIT rows, else an
        `IndexRefineFlat` over an HNSW of the projected rows (an
        `IndexHNSWFlat` on all dims if projecting would lose too much); all
        return exact cosines as scores. `describe_vector_index` names it.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if len(vectors) <= FLAT_INDEX_LIMIT or dim <= PROJECTED_DIM:
        index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(vectors)
        return index
    projection = _projection(vectors, PROJECTED_DIM)
    graph = faiss.IndexHNSWFlat(dim if projection is None else PROJECTED_DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph.hnsw.efSearch = HNSW_EF_SEARCH
    if projection is None:
        index = graph
    else:
        index = faiss.IndexRefineFlat(faiss.IndexPreTransform(projection, graph))  # exact vectors re-score
        index.k_factor = REFINE_K_FACTOR
    with all_cores():
        index.add(vectors)
    return index


@contextmanager
def all_cores():
    """Run the block with OpenMP on every core, whatever `CorpusIndex.load` set for searching.

    The previous thread counts of FAISS and (if imported) torch are restored after.
    """
    import faiss

    # When torch is imported before FAISS the two share one OpenMP runtime, so
    # setting FAISS to one thread for searching also slows torch: set both.
    torch = sys.modules.get("torch")
    previous = faiss.omp_get_max_threads(), torch.get_num_threads() if torch else None
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    if torch:
        torch.set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous[0])
        if torch:
            torch.set_num_threads(previous[1])


def find_hnsw(index):
    """The HNSW graph inside a (possibly wrapped) FAISS index, or None; valid while `index` lives."""
    import faiss

    node = faiss.downcast_index(index)
    while not hasattr(node, "hnsw"):
        if isinstance(node, faiss.IndexRefine):
            node = faiss.downcast_index(node.base_index)
        elif isinstance(node, faiss.IndexPreTransform):
            node = faiss.downcast_index(node.index)
        else:
            return None
    return node


def describe_vector_index(index) -> str:
    """The index type, with the parameters that decide its speed and recall (recorded in the manifest)."""
    import faiss

    # A separate name: rebinding `index` could free the caller's only reference.
    outer = faiss.downcast_index(index)
    graph = find_hnsw(index)
    if graph is None:
        return type(outer).__name__
    inner = f"IndexHNSWFlat(dim={graph.d},M={graph.hnsw.nb_neighbors(1)},efSearch={graph.hnsw.efSearch})"
    if graph.d == outer.d and not isinstance(outer, faiss.IndexRefine):
        return inner
    return f"{type(outer).__name__}(project {outer.d}->{graph.d},{inner},k_factor={outer.k_factor:g})"
