"""Deduplication: exact, near-duplicate (MinHash, pHash) and semantic, global across shards and runs."""
