"""Tiny random-weight Detoxify checkpoint built in code."""

from __future__ import annotations

from pathlib import Path

import pytest

LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
WORDS = ["hello", "world", "you", "are", "nice", "bad", "idiot", "the", "a", "cat", "dog", "hate", "love", "people"]


def build_detoxify_checkpoint(folder: Path, hidden: int = 32, layers: int = 2, heads: int = 2) -> Path:
    """Write a Detoxify-format checkpoint plus HF config and tokenizer into ``folder``; return the checkpoint."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *[chr(c) for c in range(97, 123)]]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"))
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 2,
        max_position_embeddings=512,
    )
    config.num_labels = len(LABELS)
    config.num_labels = len(LABELS)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    config.save_pretrained(folder)
    checkpoint = folder / "model.ckpt"
    arch = {
        "model_type": str(folder),
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": "BertTokenizer",
        "num_classes": len(LABELS),
    }
    torch.save(
        {
            "config": {"arch": {"args": arch}, "dataset": {"args": {"classes": LABELS}}},
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return checkpoint


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models dir holding ``detoxify/original`` with a tiny checkpoint."""
    root = tmp_path_factory.mktemp("models")
    build_detoxify_checkpoint(root / "detoxify" / "original")
    return root
