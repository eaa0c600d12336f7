import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan.data import DataError, GANDataModule
from gan.data.embedded import DigitsDataset, TexturesDataset
from gan.data.folder import ImageFolderDataset
from gan.data.torchvision_sets import TorchvisionDataset
from gan.data.toy import grid25, ring8


@pytest.mark.parametrize("resolution", [16, 32])
def test_digits_shapes_ranges_and_disjoint_splits(resolution):
    train = DigitsDataset(resolution, split="train")
    test = DigitsDataset(resolution, split="test")
    assert len(train) + len(test) == 1797
    assert len(test) == round(1797 * 0.2)
    x, y = train[0]
    assert x.shape == (1, resolution, resolution) and x.dtype == torch.float32
    assert train.images.min() >= -1 and train.images.max() <= 1
    # Background is black (-1) and strokes reach white: the full range is used.
    assert train.images.min() == -1 and train.images.max() > 0.9
    assert set(train.labels.tolist()) == set(range(10)) and y.dtype == torch.long
    train_rows = {tuple(v) for v in train.images.flatten(1).numpy().round(4)}
    test_rows = {tuple(v) for v in test.images.flatten(1).numpy().round(4)}
    # sklearn digits contain a handful of exact duplicate images; the split must not be a copy.
    assert len(train_rows & test_rows) < 10
    assert train.fingerprint != test.fingerprint


def test_digits_upsampling_preserves_the_image():
    from sklearn.datasets import load_digits

    ds = DigitsDataset(8, split="train", test_fraction=0.2, split_seed=0)
    raw = load_digits().images
    # At the source resolution no resampling happens: values equal the raw pixels scaled to [-1, 1].
    matches = np.isclose(raw / 16.0 * 2 - 1, ds.images[0, 0].numpy()).all(axis=(1, 2))
    assert matches.any()


def test_textures_split_halves_and_shapes():
    kwargs = dict(resolution=16, names=["brick", "grass"], crops_per_texture=5, crop_size=32)
    train = TexturesDataset(split="train", **kwargs)
    test = TexturesDataset(split="test", **kwargs)
    assert train.images.shape == (10, 1, 16, 16) and train.num_classes == 2
    assert train.labels.tolist() == [0] * 5 + [1] * 5
    assert not torch.equal(train.images, test.images)
    with pytest.raises(ValueError, match="no image 'nope'"):
        TexturesDataset(split="train", resolution=16, names=["nope"], crops_per_texture=1, crop_size=32)


def test_ring8_follows_pacgan_protocol():
    ds = ring8(num_samples=4000, split="train", seed=0)
    angles = torch.arange(8) * 2 * torch.pi / 8
    assert torch.allclose(ds.means, torch.stack([angles.cos(), angles.sin()], 1), atol=1e-6)
    residual = ds.points - ds.means[ds.labels]
    assert abs(residual.std().item() - 0.01) < 0.001
    assert len(set(ds.labels.tolist())) == 8


def test_grid25_follows_pacgan_protocol():
    ds = grid25(num_samples=5000, split="train", seed=0)
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(m.tolist()) for m in ds.means} == expected
    residual = ds.points - ds.means[ds.labels]
    assert abs(residual.std().item() - 0.05) < 0.003
    assert not torch.equal(ds.points[:100], grid25(num_samples=5000, split="test", seed=0).points[:100])


def _write_png(path, size=(8, 8), value=128, mode="RGB"):
    Image.new(mode, size, color=value if mode == "L" else (value, 0, 255 - value)).save(path)


def test_folder_loads_images_in_range(tmp_path):
    for i in range(10):
        _write_png(tmp_path / f"{i}.png", value=i * 20)
    ds = ImageFolderDataset(str(tmp_path), resolution=8, channels=3, split="train", test_fraction=0.2)
    assert len(ds) == 8
    x, y = ds[0]
    assert x.shape == (3, 8, 8) and y.item() == -1
    # Blue channel is 255 - value: every pixel must map back to a [0, 255] value exactly.
    back = (ds.images + 1) / 2 * 255
    assert torch.allclose(back, back.round(), atol=1e-3)
    assert ds.images[:, 0].min() >= -1 and ds.images.max() <= 1


def test_zip_of_images(tmp_path):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(4):
            buf = io.BytesIO()
            Image.new("L", (16, 16), color=i * 60).save(buf, format="PNG")
            zf.writestr(f"sub/{i}.png", buf.getvalue())
    ds = ImageFolderDataset(str(archive), resolution=8, channels=1, split="train", test_fraction=0.25)
    assert ds.images.shape == (3, 1, 8, 8)


def test_folder_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist.*data.dataset.path"):
        ImageFolderDataset(str(tmp_path / "nowhere"), resolution=8, channels=3)


def test_folder_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="no images"):
        ImageFolderDataset(str(tmp_path), resolution=8, channels=3)


def test_folder_corrupt_image_is_named(tmp_path):
    _write_png(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(DataError, match="broken.png.*remove or replace"):
        ImageFolderDataset(str(tmp_path), resolution=8, channels=3)


def test_folder_mixed_sizes_are_named(tmp_path):
    _write_png(tmp_path / "a.png", size=(8, 8))
    _write_png(tmp_path / "b.png", size=(16, 16))
    with pytest.raises(DataError, match="'b.png' is 16x16 but 'a.png' is 8x8"):
        ImageFolderDataset(str(tmp_path), resolution=8, channels=3)


def test_torchvision_offline_error_says_how_to_fix(tmp_path):
    with pytest.raises(DataError, match="download=true"):
        TorchvisionDataset("mnist", root=str(tmp_path), resolution=32, split="train", download=False)


def test_datamodule_rejects_batch_larger_than_dataset():
    dm = GANDataModule(lambda split: ring8(num_samples=10, split=split), batch_size=64)
    with pytest.raises(ValueError, match="fewer than data.batch_size=64"):
        dm.setup("fit")


def test_every_data_config_builds(compose_config):
    from gan.train.builders import build_datamodule

    for name, shape in [("digits", (1, 32, 32)), ("ring8", (2,)), ("grid25", (2,)), ("textures", (1, 32, 32))]:
        cfg = compose_config(f"data={name}")
        x, _ = build_datamodule(cfg).make_dataset("test")[0]
        assert tuple(x.shape) == shape, name
