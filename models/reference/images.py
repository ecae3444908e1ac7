"""The test images, built from photos that scikit-image ships.

astronaut: skimage.data.astronaut(), 512x512 (public domain, NASA).
two_faces: the 256x256 square of astronaut at x 97..353, y 0..256 (her head
           and shoulders), then its left-right mirror image to its right:
           512x256. (The whole astronaut next to its mirror, 1024x512, gives
           faces of about 11 px in the 128x128 letterboxed detector input,
           too small for the short-range detector: best score 0.20.)
no_face:   skimage.data.coffee() (a cup of coffee, CC0), 600x400
           halved to 300x200 by averaging 2x2 blocks (rounded half up), to
           keep the fixtures small.
"""

import numpy as np


def test_images() -> dict:
    from skimage import data

    astronaut = np.ascontiguousarray(data.astronaut()[..., :3], dtype=np.uint8)
    head = astronaut[0:256, 97:353]
    two_faces = np.ascontiguousarray(np.concatenate([head, head[:, ::-1]], axis=1))
    coffee = data.coffee()[..., :3].astype(np.uint32)
    h, w = coffee.shape[0] // 2, coffee.shape[1] // 2
    blocks = coffee[: 2 * h, : 2 * w].reshape(h, 2, w, 2, 3).sum(axis=(1, 3))
    no_face = ((blocks + 2) // 4).astype(np.uint8)
    return {"astronaut": astronaut, "two_faces": two_faces, "no_face": no_face}
