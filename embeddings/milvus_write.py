"""Writing an AluQA index into Milvus, one article at a time (build, add, change, remove)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from embeddings.encoder import TextEncoder
from embeddings.index import corpus_hash, embed_units
from embeddings.manifest import IndexMismatchError, Manifest
from embeddings.milvus_store import (MANIFEST_KEY, STORE_FORMAT, check_manifest, collection, connect, encode_tokens,
                                     read_articles, read_manifest)
from embeddings.normalize import NORMALIZER_NAME
from embeddings.split import segment_articles
from embeddings.tokenize import TOKENIZER_NAME, tokenize_normalized
from embeddings.types import Article

# The dense index: HNSW by inner product (vectors are L2-normalised, so IP is the cosine).
HNSW_PARAMS = {"M": 16, "efConstruction": 200}
# bm25s's defaults, so Milvus ranks lexically as the local index does.
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
VECTOR_INDEX = f"milvus HNSW(IP, M={HNSW_PARAMS['M']}, efConstruction={HNSW_PARAMS['efConstruction']}) + BM25 sparse"
TEXT_BYTES = 8192  # sentences and passages are at most 300 characters (embeddings.split)
TOKENS_BYTES = 65535
ARTICLES_PER_BATCH = 64  # embedded together, then written
PART_CHARS = 16000  # an article's JSON is stored in parts of at most 16000 characters (< 65535 UTF-8 bytes)


@dataclass(frozen=True)
class SyncReport:
    """What writing a corpus into Milvus changed."""

    written: tuple[str, ...]  # articles added or changed (their rows replaced)
    removed: tuple[str, ...]  # articles no longer in the corpus (their rows deleted)
    manifest: Manifest
    embedded: int  # texts sent to the encoder


def _create(client, dimension: int) -> None:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    for unit in ("sentences", "passages"):
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=1024)
        schema.add_field("doc", DataType.VARCHAR, max_length=1024)
        for name in ("n", "paragraph", "start", "end"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field("match", DataType.VARCHAR, max_length=TEXT_BYTES)
        # See milvus_store.encode_tokens for why `standard` and not `whitespace`.
        schema.add_field("tokens", DataType.VARCHAR, max_length=TOKENS_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
        if unit == "sentences":
            schema.add_field("passage", DataType.INT64)
            for name in ("title", "source", "date"):  # the citation, readable without the articles
                schema.add_field(name, DataType.VARCHAR, max_length=TEXT_BYTES)
        else:
            schema.add_field("first", DataType.INT64)
            schema.add_field("count", DataType.INT64)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["tokens"], output_field_names=["sparse"]))
        index = client.prepare_index_params()
        index.add_index(field_name="dense", index_type="HNSW", metric_type="IP", params=HNSW_PARAMS)
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params=BM25_PARAMS)
        client.create_collection(collection(unit), schema=schema, index_params=index, consistency_level="Strong")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=1024)
    schema.add_field("kind", DataType.VARCHAR, max_length=16)
    schema.add_field("doc", DataType.VARCHAR, max_length=1024)
    schema.add_field("part", DataType.INT64)
    schema.add_field("payload", DataType.VARCHAR, max_length=65535)
    # Milvus wants a vector field in every collection; this one is never searched.
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index(field_name="unused", index_type="FLAT", metric_type="IP")
    client.create_collection(collection("docs"), schema=schema, index_params=index, consistency_level="Strong")


def _in(docs: Sequence[str]) -> str:
    return f"doc in {json.dumps(list(docs), ensure_ascii=False)}"


def _delete(client, docs: Sequence[str]) -> None:
    for kind in ("sentences", "passages", "docs"):
        client.delete(collection(kind), filter=_in(docs))


def _insert_articles(client, articles: Sequence[Article], encoder: TextEncoder) -> int:
    """Write the rows of some articles (their old ones already deleted); returns the texts embedded.

    The articles are embedded together (the encoder batches across them); each
    is segmented alone, so its unit numbers `n` count within the article.
    """
    cut = [(article, *segment_articles([article])) for article in articles]
    sentences = [s for _, article_sentences, _ in cut for s in article_sentences]
    passages = [p for _, _, article_passages in cut for p in article_passages]
    units = embed_units(articles, sentences, passages, encoder)
    by_doc = {a.doc: a for a in articles}
    rows = []
    for s, match, vector in zip(sentences, units.sentence_match, units.sentence_vectors):
        article = by_doc[s.doc]
        rows.append({"pk": f"{s.doc}:{s.id}", "doc": s.doc, "n": s.id, "paragraph": s.paragraph, "start": s.start,
                     "end": s.end, "text": s.text, "match": match, "passage": s.passage,
                     "tokens": encode_tokens(tokenize_normalized(match)), "dense": vector.tolist(),
                     "title": article.title, "source": article.source, "date": article.date})
    _insert(client, "sentences", rows)
    rows = []
    for p, match, vector in zip(passages, units.passage_match, units.passage_vectors):
        rows.append({"pk": f"{p.doc}:{p.id}", "doc": p.doc, "n": p.id, "paragraph": p.paragraph, "start": p.start,
                     "end": p.end, "text": p.text, "match": match, "first": p.sentence_ids[0],
                     "count": len(p.sentence_ids), "tokens": encode_tokens(tokenize_normalized(match)),
                     "dense": vector.tolist()})
    _insert(client, "passages", rows)
    rows = []
    for article in articles:
        payload = json.dumps(asdict(article), ensure_ascii=False)
        rows.extend({"pk": f"article:{article.doc}:{i}", "kind": "article", "doc": article.doc, "part": i,
                     "payload": payload[start:start + PART_CHARS], "unused": [0.0, 0.0]}
                    for i, start in enumerate(range(0, len(payload), PART_CHARS)))
    _insert(client, "docs", rows)
    return len(sentences) + len(passages)


def _insert(client, kind: str, rows: list[dict], batch: int = 1000) -> None:
    for start in range(0, len(rows), batch):  # one request stays well below gRPC's message limit
        client.insert(collection(kind), rows[start:start + batch])


def _count(client, kind: str) -> int:
    return int(client.query(collection(kind), filter="", output_fields=["count(*)"])[0]["count(*)"])


def sync_milvus(uri: str, articles: Sequence[Article], encoder: TextEncoder, full: bool = False,
                on_stage: Callable[[str], None] | None = None) -> SyncReport:
    """Make the Milvus index at `uri` hold exactly `articles`, writing only what changed.

    An article whose content hash the index already holds keeps its rows; a
    new or changed one has its rows replaced; one that left the corpus has its
    rows deleted, so it is never cited again. The manifest is written last.

    Args:
        full: drop the collections first and write every article again.

    Raises:
        MilvusUnavailableError: Milvus cannot be reached at `uri`.
        IndexMismatchError: the index there was built with another model or
            tokenizer (rebuild it with full=True).
    """
    stage = on_stage or (lambda label: None)
    client = connect(uri)
    manifest = None if full else read_manifest(client, uri)
    if manifest is not None:
        check_manifest(manifest, uri, encoder.name)
        if manifest.dimension != encoder.dimension:
            raise IndexMismatchError(f"the Milvus index at {uri} holds {manifest.dimension}-dim vectors, the "
                                     f"model gives {encoder.dimension}; rebuild it with: aluqa build --full "
                                     f"--store milvus:{uri}")
        stored = {doc: a.content_hash for doc, a in read_articles(client).items()}
    else:
        for kind in ("sentences", "passages", "docs"):
            if client.has_collection(collection(kind)):
                client.drop_collection(collection(kind))
        stage("creating the Milvus collections")
        _create(client, encoder.dimension)
        stored = {}
    wanted = {a.doc: a for a in articles}
    removed = sorted(set(stored) - set(wanted))
    changed = sorted(doc for doc, a in wanted.items() if stored.get(doc) != a.content_hash)
    # The manifest is removed first: a sync cut short leaves an index that is refused on
    # load and rebuilt whole by the next build, never one that looks current.
    client.delete(collection("docs"), ids=[MANIFEST_KEY])
    if removed or changed:
        _delete(client, removed + [d for d in changed if d in stored])
    embedded = 0
    for start in range(0, len(changed), ARTICLES_PER_BATCH):
        batch = changed[start:start + ARTICLES_PER_BATCH]
        stage(f"embedding and writing articles {start + 1}-{start + len(batch)} of {len(changed)}")
        embedded += _insert_articles(client, [wanted[doc] for doc in batch], encoder)
    manifest = Manifest(model=encoder.name, dimension=encoder.dimension, normalizer=NORMALIZER_NAME,
                        tokenizer=TOKENIZER_NAME, corpus_hash=corpus_hash(list(articles)), documents=len(wanted),
                        sentences=_count(client, "sentences"), passages=_count(client, "passages"),
                        vector_index=VECTOR_INDEX)
    client.insert(collection("docs"), [{"pk": MANIFEST_KEY, "kind": "manifest", "doc": "", "part": 0,
                                        "payload": json.dumps({"store_format": STORE_FORMAT,
                                                               "manifest": asdict(manifest)}, ensure_ascii=False),
                                        "unused": [0.0, 0.0]}])
    return SyncReport(tuple(changed), tuple(removed), manifest, embedded)
