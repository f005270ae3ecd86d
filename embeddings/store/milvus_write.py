"""Writing an AluQA index into Milvus, one article at a time (build, add, change, remove)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from collections import Counter
from typing import Callable, Iterable, Sequence

from embeddings.model.encoder import TextEncoder
from embeddings.store.local import corpus_hash, embed_units
from embeddings.store.manifest import IndexMismatchError, Manifest
from embeddings.store.milvus import (FETCH_BATCH, KINDS, MANIFEST_KEY, STORE_FORMAT, TERM_KEY_BYTES, check_manifest,
                                     collection, connect, count_rows, decode_tokens, encode_tokens, manifest_of,
                                     read_article_hashes, read_payload, scan_rows, term_key)
from embeddings.text.normalize import NORMALIZER_NAME
from embeddings.text.split import segment_articles
from embeddings.text.tokenize import TOKENIZER_NAME, tokenize_normalized
from embeddings.types import Article

# The dense index: HNSW by inner product (vectors are L2-normalised, so IP is the cosine).
HNSW_PARAMS = {"M": 16, "efConstruction": 200}
# bm25s's defaults, so Milvus ranks lexically as the local index does.
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
VECTOR_INDEX = f"milvus HNSW(IP, M={HNSW_PARAMS['M']}, efConstruction={HNSW_PARAMS['efConstruction']}) + BM25 sparse"
TEXT_BYTES = 8192  # sentences and passages are at most 300 characters (embeddings.text.split)
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
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("doc", DataType.VARCHAR, max_length=1024)
        for name in ("paragraph", "start", "end"):
            schema.add_field(name, DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field("match", DataType.VARCHAR, max_length=TEXT_BYTES)
        # See embeddings.store.milvus.encode_tokens for why `standard` and not `whitespace`.
        schema.add_field("tokens", DataType.VARCHAR, max_length=TOKENS_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
        if unit == "sentences":
            schema.add_field("passage", DataType.INT64)  # the id of the passage holding the sentence
            for name in ("title", "source", "date"):  # the citation, readable without the articles
                schema.add_field(name, DataType.VARCHAR, max_length=TEXT_BYTES)
        else:
            schema.add_field("first", DataType.INT64)  # the id of its first sentence
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
    schema.add_field("hash", DataType.VARCHAR, max_length=64)  # the article's content hash, on every part
    schema.add_field("payload", DataType.VARCHAR, max_length=65535)
    _create_unsearched(client, "docs", schema)
    # How many sentences hold each token (the answerer's IDF): kept up to date per article.
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=TERM_KEY_BYTES)
    schema.add_field("df", DataType.INT64)
    _create_unsearched(client, "terms", schema)


def _create_unsearched(client, kind: str, schema) -> None:
    from pymilvus import DataType

    # Milvus wants a vector field in every collection; this one is never searched.
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index(field_name="unused", index_type="FLAT", metric_type="IP")
    client.create_collection(collection(kind), schema=schema, index_params=index, consistency_level="Strong")


def _in(docs: Sequence[str]) -> str:
    return f"doc in {json.dumps(list(docs), ensure_ascii=False)}"


def _sentence_terms(token_lists: Iterable[Iterable[str]]) -> Counter:
    """How many of these sentences hold each token (keyed as in `<prefix>_terms`)."""
    return Counter(key for tokens in token_lists for key in {term_key(t) for t in tokens}
                   if len(key) <= TERM_KEY_BYTES)


def _update_terms(client, change: Counter, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) sentence counts in `<prefix>_terms`; a count reaching 0 goes."""
    keys = list(change)
    for start in range(0, len(keys), FETCH_BATCH):
        batch = keys[start:start + FETCH_BATCH]
        have = {row["key"]: int(row["df"]) for row in client.get(collection("terms"), ids=batch,
                                                                 output_fields=["key", "df"])}
        counts = {key: have.get(key, 0) + sign * change[key] for key in batch}
        kept = [{"key": key, "df": df, "unused": [0.0, 0.0]} for key, df in counts.items() if df > 0]
        gone = [key for key, df in counts.items() if df <= 0 and key in have]
        if kept:
            client.upsert(collection("terms"), kept)
        if gone:
            client.delete(collection("terms"), ids=gone)


def _delete(client, docs: Sequence[str]) -> None:
    stored = scan_rows(client, collection("sentences"), ["tokens"], filter=_in(docs))
    _update_terms(client, _sentence_terms(decode_tokens(row["tokens"]) for row in stored), -1)
    for kind in ("sentences", "passages", "docs"):
        client.delete(collection(kind), filter=_in(docs))


def _insert_articles(client, articles: Sequence[Article], encoder: TextEncoder, next_ids: dict[str, int]) -> int:
    """Write the rows of some articles (their old ones already deleted); returns the texts embedded.

    The articles are embedded together (the encoder batches across them); each
    is segmented alone, and its units get the next free ids (`next_ids`,
    advanced here), so an article's sentences have consecutive ids.
    """
    sentences, passages = segment_articles(list(articles))  # ids 0.. in this batch, in article order
    units = embed_units(articles, sentences, passages, encoder)
    sentence_base, passage_base = next_ids["sentences"], next_ids["passages"]
    by_doc = {a.doc: a for a in articles}
    rows, token_lists = [], []
    for s, match, vector in zip(sentences, units.sentence_match, units.sentence_vectors):
        article = by_doc[s.doc]
        tokens = tokenize_normalized(match)
        token_lists.append(tokens)
        rows.append({"id": sentence_base + s.id, "doc": s.doc, "paragraph": s.paragraph,
                     "start": s.start, "end": s.end, "text": s.text, "match": match,
                     "passage": passage_base + s.passage, "tokens": encode_tokens(tokens), "dense": vector.tolist(),
                     "title": article.title, "source": article.source, "date": article.date})
    _insert(client, "sentences", rows)
    rows = []
    for p, match, vector in zip(passages, units.passage_match, units.passage_vectors):
        rows.append({"id": passage_base + p.id, "doc": p.doc, "paragraph": p.paragraph,
                     "start": p.start, "end": p.end, "text": p.text, "match": match,
                     "first": sentence_base + p.sentence_ids[0], "count": len(p.sentence_ids),
                     "tokens": encode_tokens(tokenize_normalized(match)), "dense": vector.tolist()})
    _insert(client, "passages", rows)
    rows = []
    for article in articles:
        payload = json.dumps(asdict(article), ensure_ascii=False)
        rows.extend({"pk": f"article:{article.doc}:{i}", "kind": "article", "doc": article.doc, "part": i,
                     "hash": article.content_hash, "payload": payload[start:start + PART_CHARS],
                     "unused": [0.0, 0.0]}
                    for i, start in enumerate(range(0, len(payload), PART_CHARS)))
    _insert(client, "docs", rows)
    _update_terms(client, _sentence_terms(token_lists), +1)
    next_ids["sentences"] += len(sentences)
    next_ids["passages"] += len(passages)
    return len(sentences) + len(passages)


def _insert(client, kind: str, rows: list[dict], batch: int = 1000) -> None:
    for start in range(0, len(rows), batch):  # one request stays well below gRPC's message limit
        client.insert(collection(kind), rows[start:start + batch])


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
    payload = None if full else read_payload(client, uri)
    if payload is not None:
        manifest = manifest_of(payload)
        check_manifest(manifest, uri, encoder.name)
        if manifest.dimension != encoder.dimension:
            raise IndexMismatchError(f"the Milvus index at {uri} holds {manifest.dimension}-dim vectors, the "
                                     f"model gives {encoder.dimension}; rebuild it with: aluqa build --full "
                                     f"--store milvus:{uri}")
        stored = read_article_hashes(client)
        next_ids = dict(payload["next_ids"])
    else:
        for kind in KINDS:
            if client.has_collection(collection(kind)):
                client.drop_collection(collection(kind))
        stage("creating the Milvus collections")
        _create(client, encoder.dimension)
        stored = {}
        next_ids = {"sentences": 0, "passages": 0}
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
        embedded += _insert_articles(client, [wanted[doc] for doc in batch], encoder, next_ids)
    manifest = Manifest(model=encoder.name, dimension=encoder.dimension, normalizer=NORMALIZER_NAME,
                        tokenizer=TOKENIZER_NAME, corpus_hash=corpus_hash(list(articles)), documents=len(wanted),
                        sentences=count_rows(client, "sentences"), passages=count_rows(client, "passages"),
                        vector_index=VECTOR_INDEX)
    record = {"store_format": STORE_FORMAT, "manifest": asdict(manifest), "next_ids": next_ids}
    client.insert(collection("docs"), [{"pk": MANIFEST_KEY, "kind": "manifest", "doc": "", "part": 0, "hash": "",
                                        "payload": json.dumps(record, ensure_ascii=False), "unused": [0.0, 0.0]}])
    return SyncReport(tuple(changed), tuple(removed), manifest, embedded)
