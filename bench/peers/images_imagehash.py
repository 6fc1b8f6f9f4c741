"""Peer for ``bench_end_to_end.py images``: imagehash pHash in a 2-process pool, brute-force Hamming.

Hash every file of a folder with ``imagehash.phash`` in two worker processes, then mark each image whose
hash is within ``RADIUS`` bits of an earlier kept one (a numpy scan over all kept hashes), and write the
kept file names.

    python bench/peers/images_imagehash.py FOLDER OUTPUT.txt
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

RADIUS = 8


def phash(path: Path) -> int:
    """The 64-bit pHash of one file."""
    with Image.open(path) as image:
        return int(str(imagehash.phash(image)), 16)


def main() -> None:
    folder, target = Path(sys.argv[1]), Path(sys.argv[2])
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    with ProcessPoolExecutor(2) as pool:
        hashes = np.array(list(pool.map(phash, files, chunksize=32)), dtype=np.uint64)
    kept = np.zeros(len(files), dtype=np.bool_)
    for i in range(len(files)):
        earlier = hashes[:i][kept[:i]]
        kept[i] = len(earlier) == 0 or int(np.bitwise_count(earlier ^ hashes[i]).min()) > RADIUS
    target.write_text("".join(f"{files[i].name}\n" for i in np.flatnonzero(kept)))
    print(f"kept {int(kept.sum())} of {len(files)}")


if __name__ == "__main__":
    main()
