"""The dense-vector index: exact search while small, then approximate indexes with exact re-scoring.

Three sizes, three indexes (each chosen with bench/faiss_scale.py on vectors
of e5's shape; figures in docs/performance.md, section 5):

- up to FLAT_INDEX_LIMIT vectors: exact inner product (`IndexFlatIP`);
- up to IVF_INDEX_FROM: HNSW over the vectors projected on their main axes,
  whose candidates are re-scored with the exact vectors;
- beyond: an inverted file (k-means lists) of 4-bit fast-scan product codes,
  whose candidates are re-scored with the exact vectors. At 1M vectors the
  HNSW graph reached recall@10 0.87-0.90 only; the inverted file 0.96 at
  8 ms per question, and it builds 10x faster.

Every index returns exact cosines as scores: the answerer's support uses them.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager

import numpy as np

# Exact search costs one pass over all vectors per question: about 35 ms at
# 100k on 2 shared cores (bench/faiss_scale.py), so beyond 50k an approximate index.
FLAT_INDEX_LIMIT = 50_000
# The approximate index up to IVF_INDEX_FROM vectors:
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
# Beyond this many vectors, the inverted file: about 4 x sqrt(n) lists (a power of
# two; 4,096 at 1M), of which an eighth but at least IVF_MIN_PROBES are searched
# per question, product codes of 2 dimensions per 4-bit code (fast-scan: the look-up
# tables sit in SIMD registers), and the best k * IVF_REFINE_K_FACTOR re-scored exactly.
# The lists searched decide recall (scanning the same lists exhaustively gave the
# same figure), and a smaller index needs a larger share of them: on `e5fit` data
# an eighth gave recall@10 0.963 at 1M but 0.897 at 100k, a quarter 0.969 at 100k.
IVF_INDEX_FROM = 300_000
IVF_LISTS_PER_SQRT = 4
IVF_PROBED_SHARE = 1 / 8
IVF_MIN_PROBES = 512
IVF_REFINE_K_FACTOR = 64.0
_IVF_TRAINING_SAMPLE = 200_000


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
    """Pick and fill the FAISS index by size (see the module docstring).

    Args:
        vectors: L2-normalised rows (float32).

    Returns:
        A `faiss.IndexFlatIP` up to FLAT_INDEX_LIMIT rows; up to
        IVF_INDEX_FROM an `IndexRefineFlat` over an HNSW of the projected rows
        (an `IndexHNSWFlat` on all dims if projecting would lose too much);
        beyond, an `IndexRefineFlat` over an inverted file of fast-scan
        product codes. All return exact cosines as scores (the plain HNSW's
        are exact too). `describe_vector_index` names it.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if len(vectors) <= FLAT_INDEX_LIMIT or dim <= PROJECTED_DIM:
        index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(vectors)
        return index
    if len(vectors) > IVF_INDEX_FROM and dim % 2 == 0:
        return _inverted_file(vectors)
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


def ivf_lists(count: int) -> int:
    """The number of k-means lists for `count` vectors: the power of two nearest 4 x sqrt(count).

    At most count / 39 (k-means wants about 39 points per list to place it).
    """
    nearest = 2 ** round(math.log2(IVF_LISTS_PER_SQRT * math.sqrt(count)))
    return max(1, min(nearest, 2 ** int(math.log2(max(1, count // 39)))))


def _inverted_file(vectors: np.ndarray):
    import faiss

    dim, lists = vectors.shape[1], ivf_lists(len(vectors))
    index = faiss.index_factory(dim, f"IVF{lists},PQ{dim // 2}x4fs,RFlat", faiss.METRIC_INNER_PRODUCT)
    rows = np.random.default_rng(0).choice(len(vectors), min(len(vectors), _IVF_TRAINING_SAMPLE), replace=False)
    with all_cores():
        index.train(vectors[np.sort(rows)])
        index.add(vectors)
    faiss.extract_index_ivf(index).nprobe = min(lists, max(round(lists * IVF_PROBED_SHARE), IVF_MIN_PROBES))
    index.k_factor = IVF_REFINE_K_FACTOR
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
    if graph is None and isinstance(outer, faiss.IndexRefine):
        ivf = faiss.extract_index_ivf(outer)
        codes = faiss.downcast_index(outer.base_index)
        return (f"{type(outer).__name__}({type(codes).__name__}(dim={ivf.d},lists={ivf.nlist},nprobe={ivf.nprobe},"
                f"pq={getattr(codes, 'M', '?')}x{getattr(codes, 'nbits', '?')}),k_factor={outer.k_factor:g})")
    if graph is None:
        return type(outer).__name__
    inner = f"IndexHNSWFlat(dim={graph.d},M={graph.hnsw.nb_neighbors(1)},efSearch={graph.hnsw.efSearch})"
    if graph.d == outer.d and not isinstance(outer, faiss.IndexRefine):
        return inner
    return f"{type(outer).__name__}(project {outer.d}->{graph.d},{inner},k_factor={outer.k_factor:g})"
