"""Index: embedding, BM25, vector stores and the index on disk."""
