"""Generated-looking images built in code: generator text chunks, invisible watermarks, clean photographs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from datahygiene.provenance.watermark import ChannelOrder, Payload, to_bgr
from tests.conftest import eval_data_dir

A1111_PARAMETERS = (
    "a castle on a hill at sunset, highly detailed\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234567890, Size: 512x512, Model hash: 6ce0161689, "
    "Model: v1-5-pruned-emaonly, Version: v1.9.4"
)
COMFYUI_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "cfg": 8.0, "model": ["4", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
}
COMFYUI_WORKFLOW = {"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": [], "version": 0.4}
NOVELAI_COMMENT = {"prompt": "1girl, masterpiece", "steps": 28, "sampler": "k_euler_ancestral", "seed": 7, "scale": 5}


def textured(size: tuple[int, int] = (512, 512), seed: int = 0) -> Image.Image:
    """A photograph-like RGB image (smooth gradients plus noise) with enough texture to carry a watermark."""
    rng = np.random.default_rng(seed)
    height, width = size[1], size[0]
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [
            128 + 90 * np.sin(x / (23 + seed)) * np.cos(y / 31),
            128 + 80 * np.cos((x + y) / (41 + seed)),
            128 + 70 * np.sin(y / (17 + seed)),
        ],
        axis=-1,
    )
    noisy = base + rng.normal(0, 12, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def watermarked(image: Image.Image, payload: Payload, order: ChannelOrder = "bgr") -> Image.Image:
    """``image`` marked the way the reference scripts do (``order="rgb"``: RGB passed as BGR, as old diffusers did)."""
    from imwatermark import WatermarkEncoder

    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", [int(bit) for bit in payload.bits])
    marked = encoder.encode(to_bgr(image, order), "dwtDct")
    return Image.fromarray(np.ascontiguousarray(marked[:, :, ::-1] if order == "bgr" else marked), "RGB")


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_with_text(texts: dict[str, str], size: tuple[int, int] = (64, 64)) -> bytes:
    """A small PNG carrying ``texts`` as tEXt chunks."""
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    return encode(textured(size), "PNG", pnginfo=info)


def generator_pngs() -> dict[str, bytes]:
    """One PNG per generator metadata convention."""
    return {
        "a1111": png_with_text({"parameters": A1111_PARAMETERS}),
        "comfyui": png_with_text({"prompt": json.dumps(COMFYUI_PROMPT), "workflow": json.dumps(COMFYUI_WORKFLOW)}),
        "novelai": png_with_text(
            {"Software": "NovelAI", "Source": "Stable Diffusion XL C1E1DE52", "Comment": json.dumps(NOVELAI_COMMENT)}
        ),
        "invokeai": png_with_text({"invokeai_metadata": json.dumps({"positive_prompt": "a fox", "steps": 30})}),
    }


def clean_photographs() -> list[Path]:
    """The shared evaluation photographs (UKBench scenes), decodable ones only."""
    root = eval_data_dir()
    assert root is not None, "the shared eval data (../shared/eval-data) is needed for the false-positive tests"
    paths = []
    for path in sorted((root / "near-dup-images").glob("*.jpg")):
        try:
            with Image.open(path) as image:
                image.load()
        except OSError:
            continue  # the deliberately corrupt file
        paths.append(path)
    return paths
