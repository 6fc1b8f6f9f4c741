"""Torch wrappers that give a transformer one tensor output, the same for torch inference and ONNX export.

Imported only where torch is already needed (building a torch model or exporting one).
"""

from __future__ import annotations

from typing import Any

import torch


class MeanPooled(torch.nn.Module):
    """Mean of the last hidden states over the attention mask, L2-normalised: sentence-transformers' pooling."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        """(batch, hidden) unit vectors."""
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1)


class Logits(torch.nn.Module):
    """A sequence classifier's logits (before the sigmoid)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        """(batch, labels) logits."""
        logits: torch.Tensor = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits
        return logits
