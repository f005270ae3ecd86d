"""The indexing stage: clean and split articles, embed them, save a FAISS + BM25 index.

Heavy libraries (torch, faiss, sentence-transformers) load inside the functions that need them.
"""

from embeddings.types import Article, CleanText, Passage, Sentence

__all__ = ["Article", "CleanText", "Passage", "Sentence"]
