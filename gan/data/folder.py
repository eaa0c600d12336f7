"""Any folder or .zip of images as an unlabelled dataset.

Every file is opened and checked when the dataset is built, so a corrupt image or a size mismatch fails
before training starts, naming the file, instead of crashing a run hours in.

The fingerprint (what real-feature caches are keyed by) hashes every file's name and bytes, read anyway for decoding:
replacing, adding or editing one image gives a new fingerprint and so a new cache entry, never stale features. The
folder's location is not part of it: the same files moved elsewhere (or zipped) reuse the cache.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gan.data.base import ImageDataset
from gan.data.embedded import split_indices
from gan.data.errors import DataError
from gan.data.pixels import from_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
MODES = {1: "L", 3: "RGB"}
# Hex digits of the content hash kept in the fingerprint (48 bits, as protocol ids keep of weights hashes).
CONTENT_HASH_CHARS = 12


def _list_sources(path: Path) -> tuple[list[str], callable]:
    """Names of the image files under `path` and a function that opens one of them as bytes."""
    if not path.exists():
        raise DataError(f"image dataset path {str(path)!r} does not exist; set data.dataset.path to a folder or .zip")
    if path.is_dir():
        names = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        return names, lambda name: (path / name).read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if Path(n).suffix.lower() in IMAGE_SUFFIXES)

        def read(name: str) -> bytes:
            with zipfile.ZipFile(path) as archive:
                return archive.read(name)

        return names, read
    raise DataError(f"{str(path)!r} is neither a folder nor a .zip archive of images")


class ImageFolderDataset(ImageDataset):
    """Images from a folder (searched recursively) or a zip, all of the same size, as tensors in [-1, 1].

    Images are decoded once and kept in memory: research datasets that fit this loader (few thousand images at
    small resolutions) are faster this way, and validation needs every file decoded anyway.
    """

    num_classes = 0

    def __init__(
        self,
        path: str,
        resolution: int,
        channels: int,
        split: str = "train",
        test_fraction: float = 0.1,
        split_seed: int = 0,
    ):
        if channels not in MODES:
            raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
        root = Path(path).expanduser()
        names, read = _list_sources(root)
        if not names:
            raise DataError(
                f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {str(root)!r}; point data.dataset.path at a "
                "folder or zip that contains them"
            )
        first_size = None
        arrays = []
        content = hashlib.sha256()
        for name in names:
            data = read(name)
            # Name and length delimit each file, so moving bytes from one file to the next changes the hash.
            content.update(f"{name}\0{len(data)}\0".encode())
            content.update(data)
            try:
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                    size = image.size
                    pixels = np.asarray(image.convert(MODES[channels]), dtype=np.uint8)
            except (UnidentifiedImageError, OSError, SyntaxError) as err:
                raise DataError(f"cannot decode image {name!r} in {str(root)!r} ({err}); remove or replace it") from err
            if first_size is None:
                first_size = size
            elif size != first_size:
                raise DataError(
                    f"image {name!r} is {size[0]}x{size[1]} but {names[0]!r} is {first_size[0]}x{first_size[1]}; "
                    "resize the dataset to one size first (all images must match)"
                )
            arrays.append(pixels)
        if first_size[0] != first_size[1]:
            raise DataError(
                f"images in {str(root)!r} are {first_size[0]}x{first_size[1]}; only square images are supported"
            )
        idx = split_indices(len(arrays), split, test_fraction, split_seed) if len(arrays) > 1 else np.arange(1)
        stacked = np.stack([arrays[i] for i in idx])
        if stacked.ndim == 3:
            stacked = stacked[..., None]
        images = from_uint8(torch.from_numpy(stacked).permute(0, 3, 1, 2))
        if first_size[0] != resolution:
            images = torch.nn.functional.interpolate(images, size=(resolution, resolution), mode="area")
        self.images = images
        self.channels = channels
        self.resolution = resolution
        self.split = split
        self.content_sha256 = content.hexdigest()
        self.fingerprint = (f"folder-{root.stem}-{self.content_sha256[:CONTENT_HASH_CHARS]}-{len(names)}files-"
                            f"r{resolution}-c{channels}-{split}-tf{test_fraction}-s{split_seed}")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], torch.tensor(-1)
