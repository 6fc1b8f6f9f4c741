"""``nsfw.openclip``: OpenCLIP image embeddings, an NSFW probability (head file or zero-shot) and a watermark score.

The image embeddings (L2-normalised, one row per batch row, zeros where there is no image) are left in
``batch.artifacts["clip_image_embeddings"]`` so semantic dedup reuses them: each image is encoded once.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from PIL import Image
from pydantic import Field

from datahygiene.core.config import ConfigError
from datahygiene.core.registry import register
from datahygiene.core.stage import ArtifactKind, Batch, StageBase, StageContext, StageParams
from datahygiene.stages.fallback import build_fallback, describe_fallback, fallback_artifacts
from datahygiene.stages.weights import load_checkpoint, network_allowed, pick_device, resolve_file, sha256_file

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]

NSFW_PROMPTS = (
    "a nude photo",
    "a photo of a naked person",
    "an explicit pornographic photo",
    "a photo of people having sex",
    "an erotic photo with exposed genitals",
)
SAFE_PROMPTS = (
    "a photo of a clothed person",
    "a photo of people in everyday clothes",
    "a photo of a landscape",
    "a photo of an animal",
    "a photo of food",
    "a photo of a building",
    "a photo of an everyday object",
    "a drawing or illustration",
    "a screenshot of text",
)
WATERMARK_PROMPTS = (
    "a photo with a watermark",
    "a stock photo with a visible watermark logo across it",
    "an image with semi-transparent watermark text overlaid",
    "a photo with a copyright notice stamped on it",
)
CLEAN_PROMPTS = (
    "a photo",
    "a clean photo without any text or logo",
    "a photograph",
    "a picture without watermark",
)

#: File names looked for in ``<models_dir>/openclip/<model>/<pretrained>/``, in order of preference.
WEIGHT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "model.safetensors",
    "pytorch_model.bin",
    "model.pt",
    "model.pth",
)


class OpenClipParams(StageParams):
    """Model, weights, NSFW head or prompts, watermark prompts, batching and the fallback stage."""

    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    #: Explicit OpenCLIP checkpoint file; overrides the lookup by ``model`` + ``pretrained``.
    weights: Path | None = None
    #: NSFW classifier head on normalised embeddings (.npz, or a torch state dict .pt/.pth/.bin); zero-shot if None.
    head: Path | None = None
    #: Output of a multi-class head that means NSFW (a one-output head is read through a sigmoid).
    head_positive_index: int = 1
    nsfw_prompts: list[str] = Field(default_factory=lambda: list(NSFW_PROMPTS), min_length=1)
    safe_prompts: list[str] = Field(default_factory=lambda: list(SAFE_PROMPTS), min_length=1)
    watermark: bool = True
    watermark_prompts: list[str] = Field(default_factory=lambda: list(WATERMARK_PROMPTS), min_length=1)
    clean_prompts: list[str] = Field(default_factory=lambda: list(CLEAN_PROMPTS), min_length=1)
    #: Logit scale of the zero-shot softmax; None uses the model's learned ``logit_scale``.
    temperature: float | None = Field(default=None, gt=0)
    batch_size: int = Field(default=64, ge=1)
    #: ``bf16`` encodes images under bfloat16 autocast (faster on GPUs and AMX CPUs; embeddings move by ~1e-2).
    precision: Literal["fp32", "bf16"] = "fp32"
    artifact: str = "clip_image_embeddings"
    fallback: str | None = "nsfw.nudenet"


def _tag_config(model: str, pretrained: str) -> dict[str, Any]:
    """open_clip's pretrained config for a known tag (download location, preprocessing), else ``{}``."""
    from open_clip.pretrained import get_pretrained_cfg

    cfg: dict[str, Any] = get_pretrained_cfg(model, pretrained) or {}
    return cfg


def _cached_download(cfg: dict[str, Any]) -> Path | None:
    """The tag's file in the Hugging Face cache or open_clip's URL cache, without touching the network."""
    hub = str(cfg.get("hf_hub", ""))
    if hub:
        from huggingface_hub import try_to_load_from_cache

        # open_clip's convention: "org/repo/" means the default file names, "org/repo/file" names the file.
        repo, _, filename = hub.rpartition("/")
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        for name in names:
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str):
                return Path(found)
    url = str(cfg.get("url", ""))
    if url:
        candidate = Path.home() / ".cache" / "clip" / url.rsplit("/", 1)[-1]
        if candidate.is_file():
            return candidate
    return None


def resolve_openclip(params: OpenClipParams, context: StageContext) -> Path | None:
    """OpenCLIP weights: ``weights``, then ``<models_dir>/openclip/<model>/<pretrained>/``, then caches, then download.

    The download is tried only when the network is allowed (not ``--offline``, ``HF_HUB_OFFLINE`` not 1).
    """
    candidates: list[Path] = []
    if params.weights is not None:
        candidates.append(params.weights)
    if context.models_dir is not None:
        folder = context.models_dir / "openclip" / params.model / params.pretrained
        candidates += [folder / name for name in WEIGHT_NAMES]
    found = resolve_file(candidates)
    if found is not None:
        return found
    cfg = _tag_config(params.model, params.pretrained)
    found = _cached_download(cfg) if cfg else None
    if found is None and cfg and network_allowed(context):
        from open_clip.pretrained import download_pretrained

        try:
            found = Path(download_pretrained(cfg))
        except (OSError, RuntimeError, ValueError) as exc:  # network errors mean "not available"
            log.warning("OpenCLIP %s/%s download failed: %s", params.model, params.pretrained, exc)
    return found


def _resolve_head(head: Path, context: StageContext) -> Path:
    """A relative head path is looked up in the models dir first, then the working directory."""
    if not head.is_absolute() and context.models_dir is not None and (context.models_dir / head).is_file():
        return context.models_dir / head
    if not head.is_file():
        raise FileNotFoundError(f"nsfw.openclip head file not found: {head}")
    return head


class Head:
    """A small MLP on normalised embeddings: optional standardisation, Linear layers with ReLU between.

    ``.npz``: arrays ``w0, b0, w1, b1, ...`` with ``wK`` of shape (in, out) (``x @ w + b``, the Keras layout of
    LAION's heads), optional ``mean`` and ``var`` for input standardisation. Anything else is read as a torch state
    dict (``torch.load(..., weights_only=True)``; a ``{"state_dict": ...}`` wrapper is accepted): the ``*.weight``
    (out, in) and ``*.bias`` tensors of its Linear layers in order. One output: sigmoid; more: softmax, column
    ``positive``.
    """

    def __init__(self, path: Path, positive: int) -> None:
        self.layers: list[tuple[F32, F32]] = []
        self.mean: F32 | None = None
        self.var: F32 | None = None
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                count = sum(1 for key in data.files if key.startswith("w"))
                for k in range(count):
                    self.layers.append((data[f"w{k}"].astype(np.float32), data[f"b{k}"].astype(np.float32)))
                if "mean" in data.files:
                    self.mean = data["mean"].astype(np.float32)
                    self.var = data["var"].astype(np.float32)
        else:
            self.layers = _torch_layers(path)
        if not self.layers:
            raise ValueError(f"{path}: no layers found in the head file")
        for k, (w, b) in enumerate(self.layers):
            if b.shape != (w.shape[1],) or (k > 0 and self.layers[k - 1][0].shape[1] != w.shape[0]):
                raise ValueError(f"{path}: layer {k} shapes do not chain ({w.shape}, bias {b.shape})")
        outputs = int(self.layers[-1][0].shape[1])
        if outputs > 1 and not 0 <= positive < outputs:
            raise ValueError(f"{path}: head_positive_index {positive} out of range for {outputs} outputs")
        self.positive = positive

    @property
    def in_dim(self) -> int:
        return int(self.layers[0][0].shape[0])

    def __call__(self, emb: F32) -> F32:
        """NSFW probability per embedding row."""
        x = emb.astype(np.float32)
        if self.mean is not None and self.var is not None:
            x = (x - self.mean) / np.sqrt(self.var + 1e-7)
        for k, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if k < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        if x.shape[1] == 1:
            out: F32 = (1.0 / (1.0 + np.exp(-x[:, 0]))).astype(np.float32)
            return out
        x = x - x.max(axis=1, keepdims=True)
        probs = np.exp(x)
        probs /= probs.sum(axis=1, keepdims=True)
        result: F32 = probs[:, self.positive].astype(np.float32)
        return result


def _torch_layers(path: Path) -> list[tuple[F32, F32]]:
    loaded = load_checkpoint(path)
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict of Linear layers")
    layers: list[tuple[F32, F32]] = []
    for key, tensor in state.items():
        linear_bias = key.endswith(".bias") and key[: -len("bias")] + "weight" in state
        if not (key.endswith(".weight") and tensor.ndim == 2) and not linear_bias:
            raise ValueError(f"{path}: {key!r} is not a Linear layer parameter; only Linear layers are supported")
        if key.endswith(".weight"):
            bias = state.get(key[: -len("weight")] + "bias")
            b = bias.float().numpy() if bias is not None else np.zeros(tensor.shape[0], np.float32)
            layers.append((tensor.float().numpy().T.copy(), b.astype(np.float32)))
    return layers


class ClipModel:
    """An OpenCLIP model with its eval preprocessing and tokenizer, on one device."""

    def __init__(self, model_name: str, pretrained: str, weights: Path, device: str) -> None:
        import open_clip

        cfg = _tag_config(model_name, pretrained)
        extra: dict[str, Any] = {"force_quick_gelu": bool(cfg.get("quick_gelu", False))}
        for key in ("mean", "std", "interpolation", "resize_mode"):
            if key in cfg:
                extra["image_" + key] = cfg[key]
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=str(weights), device=device, weights_only=True, **extra
            )
        except pickle.UnpicklingError:
            raise ConfigError(f"{weights}: refused: not a weights-only checkpoint") from None
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.dim = int(open_clip.get_model_config(model_name)["embed_dim"])
        self.device = device
        self.logit_scale = float(model.logit_scale.exp().item())

    def encode_images(self, images: list[Image.Image], batch_size: int, precision: str = "fp32") -> F32:
        """L2-normalised image embeddings, shape (len(images), dim)."""
        import torch

        chunks: list[F32] = []
        autocast = torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=precision == "bf16")
        with torch.inference_mode(), autocast:
            for start in range(0, len(images), batch_size):
                pixels = torch.stack([self.preprocess(im) for im in images[start : start + batch_size]])
                emb = self.model.encode_image(pixels.to(self.device)).float()
                chunks.append(torch.nn.functional.normalize(emb, dim=-1).cpu().numpy())
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def encode_texts(self, prompts: list[str]) -> F32:
        """L2-normalised text embeddings, shape (len(prompts), dim)."""
        import torch

        with torch.inference_mode():
            tokens = self.tokenizer(prompts).to(self.device)
            out: F32 = self.model.encode_text(tokens, normalize=True).float().cpu().numpy()
        return out


def zero_shot(emb: F32, positive: F32, negative: F32, scale: float) -> F32:
    """Softmax over all prompts (positive then negative) at ``scale``; the probability mass of the positive ones."""
    logits = scale * (emb @ np.concatenate([positive, negative]).T)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    out: F32 = probs[:, : len(positive)].sum(axis=1).astype(np.float32)
    return out


@register("nsfw.openclip")
class OpenClipStage(StageBase[OpenClipParams]):
    """``nsfw`` (head or zero-shot) and ``watermark`` (zero-shot) from OpenCLIP image embeddings.

    Delegates to the fallback stage (NudeNet by default) when the OpenCLIP weights do not resolve.
    """

    Params: ClassVar[type[StageParams]] = OpenClipParams

    def __init__(self, params: StageParams, context: StageContext) -> None:
        super().__init__(params, context)
        self.clip: ClipModel | None = None
        self.fallback: Any = None
        self.head: Head | None = None
        self.head_path: Path | None = None
        self.weights = resolve_openclip(self.params, context)
        self.label = f"OpenCLIP {self.params.model}/{self.params.pretrained}"
        if self.weights is None:
            self.fallback = build_fallback(self.name, self.label, self.params.fallback, context)
            return
        self.clip = ClipModel(self.params.model, self.params.pretrained, self.weights, pick_device(context.device))
        self.sha256 = sha256_file(self.weights)
        self.scale = self.params.temperature if self.params.temperature is not None else self.clip.logit_scale
        if self.params.head is not None:
            self.head_path = _resolve_head(self.params.head, context)
            self.head = Head(self.head_path, self.params.head_positive_index)
            if self.head.in_dim != self.clip.dim:
                dims = f"{self.head.in_dim}-d input, {self.label} gives {self.clip.dim}"
                raise ValueError(f"head {self.head_path} takes {dims}")
        else:
            self.nsfw_text = (
                self.clip.encode_texts(self.params.nsfw_prompts),
                self.clip.encode_texts(self.params.safe_prompts),
            )
        if self.params.watermark:
            self.mark_text = (
                self.clip.encode_texts(self.params.watermark_prompts),
                self.clip.encode_texts(self.params.clean_prompts),
            )
        how = f"head {self.head_path}" if self.head_path is not None else "zero-shot prompts"
        log.info("%s: using %s from %s (%s)", self.name, self.label, self.weights, how)

    def output_schema(self) -> pa.Schema:
        """``nsfw`` and, with ``watermark`` on, ``watermark`` (float32); the fallback's schema when it runs."""
        if self.clip is None:
            schema: pa.Schema = self.fallback.output_schema()
            return schema
        fields = [("nsfw", pa.float32())]
        if self.params.watermark:
            fields.append(("watermark", pa.float32()))
        return pa.schema(fields)

    def process(self, batch: Batch) -> dict[str, pa.Array]:
        """Encode every decoded image once; null scores and a zero embedding where there is no image."""
        if self.clip is None:
            result: dict[str, pa.Array] = self.fallback.process(batch)
            return result
        images = batch.images or [None] * batch.num_rows
        rows = [i for i, image in enumerate(images) if image is not None]
        mask = np.ones(batch.num_rows, dtype=np.bool_)
        mask[rows] = False
        emb = np.zeros((batch.num_rows, self.clip.dim), dtype=np.float32)
        nsfw = np.zeros(batch.num_rows, dtype=np.float32)
        mark = np.zeros(batch.num_rows, dtype=np.float32)
        if rows:
            picked = [im for im in images if im is not None]
            found = self.clip.encode_images(picked, self.params.batch_size, self.params.precision)
            emb[rows] = found
            nsfw[rows] = self.head(found) if self.head is not None else zero_shot(found, *self.nsfw_text, self.scale)
            if self.params.watermark:
                mark[rows] = zero_shot(found, *self.mark_text, self.scale)
        batch.artifacts[self.params.artifact] = emb
        columns = {"nsfw": pa.array(nsfw, pa.float32(), mask=mask)}
        if self.params.watermark:
            columns["watermark"] = pa.array(mark, pa.float32(), mask=mask)
        return columns

    def artifacts(self) -> dict[str, ArtifactKind]:
        """The image embeddings (one row each, for semantic dedup); the fallback's declaration when it runs."""
        return (
            {self.params.artifact: ArtifactKind.ROW_ARRAY}
            if self.clip is not None
            else fallback_artifacts(self.fallback)
        )

    def describe(self) -> dict[str, Any]:
        """Model, tag, weights file and sha256, and the head file and its sha256 or the prompt lists."""
        if self.clip is None:
            return describe_fallback(self, self.label, self.fallback)
        p = self.params
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "model": f"open_clip {p.model}",
            "pretrained": p.pretrained,
            "weights": str(self.weights),
            "sha256": self.sha256,
            "logit_scale": self.scale,
            "precision": p.precision,
        }
        if self.head_path is not None:
            out["head"] = {"file": str(self.head_path), "sha256": sha256_file(self.head_path)}
        else:
            out["nsfw_prompts"], out["safe_prompts"] = p.nsfw_prompts, p.safe_prompts
        if p.watermark:
            out["watermark_prompts"], out["clean_prompts"] = p.watermark_prompts, p.clean_prompts
        return out
