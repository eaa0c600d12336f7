"""PacGAN's toy networks (gan/nets/mlp.py): LinearMaxout, sample packing, batch norm in G, and G_ema of a toy run."""

import itertools

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from gan.nets.mlp import LinearMaxout, MLPDiscriminator, MLPGenerator
from gan.train.builders import build_module


# ------------------------------------------------------------------------------------------------ LinearMaxout
def test_linear_maxout_is_the_max_of_explicit_affine_maps():
    """Unit i outputs max_j (A_ij . x + c_ij), computed here in plain Python from maps written into the layer."""
    torch.manual_seed(0)
    in_features, out_features, pieces = 3, 4, 5
    maps = torch.randn(out_features, pieces, in_features).double()
    offsets = torch.randn(out_features, pieces).double()
    layer = LinearMaxout(in_features, out_features, pieces).double()
    with torch.no_grad():
        # the documented layout: affine map j of unit i is row i * pieces + j of the inner Linear
        for i, j in itertools.product(range(out_features), range(pieces)):
            layer.linear.weight[i * pieces + j] = maps[i, j]
            layer.linear.bias[i * pieces + j] = offsets[i, j]
    x = torch.randn(6, in_features).double()
    expected = [[max(sum(float(maps[i, j, f]) * float(x[n, f]) for f in range(in_features)) + float(offsets[i, j])
                     for j in range(pieces)) for i in range(out_features)] for n in range(len(x))]
    assert torch.allclose(layer(x), torch.tensor(expected, dtype=torch.double), atol=1e-12)
    assert layer(x).shape == (6, out_features)
    # piece_weight names the same rows
    w, b = layer.piece_weight(2, 3)
    assert torch.equal(w.detach(), maps[2, 3]) and float(b.detach()) == float(offsets[2, 3])


def test_linear_maxout_with_one_piece_is_linear_and_zero_pieces_is_refused():
    layer = LinearMaxout(3, 2, pieces=1)
    x = torch.randn(4, 3)
    assert torch.allclose(layer(x), layer.linear(x))
    with pytest.raises(ValueError, match="at least one piece"):
        LinearMaxout(3, 2, pieces=0)


def test_maxout_discriminator_is_made_of_maxout_layers():
    d = MLPDiscriminator(in_dim=2, hidden_dim=7, num_hidden=3, pack=2, unit="maxout", maxout_pieces=5)
    maxouts = [m for m in d.modules() if isinstance(m, LinearMaxout)]
    assert [(m.linear.in_features, m.out_features, m.pieces) for m in maxouts] == [(4, 7, 5), (7, 7, 5), (7, 7, 5)]
    assert not any(isinstance(m, nn.LeakyReLU) for m in d.modules())
    leaky = MLPDiscriminator(in_dim=2, hidden_dim=7, num_hidden=3, unit="leaky_relu")
    assert not any(isinstance(m, LinearMaxout) for m in leaky.modules())
    with pytest.raises(ValueError, match="model.discriminator.unit"):
        MLPDiscriminator(in_dim=2, hidden_dim=7, num_hidden=3, unit="relu6")


# ------------------------------------------------------------------------------------------------ packing
def _packed_d(pack: int) -> MLPDiscriminator:
    torch.manual_seed(0)
    return MLPDiscriminator(in_dim=2, hidden_dim=16, num_hidden=2, pack=pack, unit="maxout", maxout_pieces=3).double()


def test_a_pack_is_consecutive_whole_samples():
    d = _packed_d(pack=4)
    x = torch.randn(12, 2).double()
    # pack k = samples 4k..4k+3, each sample's (x, y) kept together, in order
    explicit = torch.stack([torch.cat([x[4 * k + s] for s in range(4)]) for k in range(3)])
    assert torch.equal(d.pack_samples(x), explicit)
    assert torch.equal(d(x), d.net(explicit).squeeze(1))


def test_packing_groups_samples_not_features():
    d = _packed_d(pack=4)
    x = torch.randn(12, 2).double()
    out = d(x)
    # Moving whole packs moves their logits and changes nothing else.
    packs_swapped = torch.cat([x[8:12], x[0:4], x[4:8]])
    assert torch.allclose(d(packs_swapped), out[[2, 0, 1]], atol=1e-12)
    # Reordering samples inside pack 1 can change only logit 1.
    within = x.clone()
    within[4:8] = x[[5, 7, 4, 6]]
    changed = ~torch.isclose(d(within), out, atol=1e-12)
    assert changed.tolist() == [False, True, False]
    # Exchanging one sample between packs 0 and 2 changes exactly those two logits.
    across = x.clone()
    across[[1, 9]] = x[[9, 1]]
    changed = ~torch.isclose(d(across), out, atol=1e-12)
    assert changed.tolist() == [True, False, True]
    # Swapping the two coordinates of every sample is a different input, not a relabelling of packs.
    assert not torch.allclose(d(x.flip(1)), out)


@pytest.mark.parametrize(("unit", "rows_per_unit"), [("leaky_relu", 1), ("maxout", 3)])
def test_per_sample_init_connects_each_first_layer_unit_to_one_sample(unit, rows_per_unit):
    torch.manual_seed(0)
    d = MLPDiscriminator(in_dim=2, hidden_dim=6, num_hidden=2, pack=4, unit=unit, maxout_pieces=3,
                         per_sample_init=True)
    first = next(m for m in d.modules() if isinstance(m, nn.Linear))
    torch.manual_seed(0)
    dense = MLPDiscriminator(in_dim=2, hidden_dim=6, num_hidden=2, pack=4, unit=unit, maxout_pieces=3)
    dense_first = next(m for m in dense.modules() if isinstance(m, nn.Linear))
    for row in range(first.out_features):
        sample = (row // rows_per_unit) % 4  # unit u (all its maxout pieces) looks at sample u mod 4
        for s in range(4):
            w = first.weight[row, 2 * s : 2 * s + 2]
            if s == sample:  # the same draw as the dense init, scaled by sqrt(pack) = 2
                assert torch.allclose(w, 2 * dense_first.weight[row, 2 * s : 2 * s + 2])
            else:
                assert not w.any()
    # an input that differs only in samples a unit does not see leaves that unit's pre-activation unchanged
    x = torch.randn(4, 2)
    y = x.clone()
    y[1:] += 1.0
    rows_on_sample_0 = [r for r in range(first.out_features) if (r // rows_per_unit) % 4 == 0]
    flat = d.pack_samples(x), d.pack_samples(y)
    assert torch.allclose(first(flat[0])[:, rows_on_sample_0], first(flat[1])[:, rows_on_sample_0])


def test_per_sample_init_changes_nothing_without_packing():
    torch.manual_seed(0)
    a = MLPDiscriminator(in_dim=2, hidden_dim=6, num_hidden=2, pack=1, per_sample_init=True)
    torch.manual_seed(0)
    b = MLPDiscriminator(in_dim=2, hidden_dim=6, num_hidden=2, pack=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("unit", ["leaky_relu", "maxout"])
def test_shared_layers_map_each_sample_alone_then_judge_the_pack(unit):
    """shared_layers=1 of 3: the first hidden layer runs on every sample with one set of weights; the two joint
    layers read the pack's concatenated features, computed here sample by sample."""
    torch.manual_seed(0)
    d = MLPDiscriminator(in_dim=2, hidden_dim=5, num_hidden=3, pack=4, unit=unit, maxout_pieces=3,
                         shared_layers=1).double()
    x = torch.randn(8, 2).double()
    per_sample = [d.per_sample(x[i : i + 1])[0] for i in range(8)]  # one sample at a time
    assert per_sample[0].shape == (5,)
    explicit = torch.stack([torch.cat(per_sample[4 * k : 4 * k + 4]) for k in range(2)])
    assert torch.allclose(d(x), d.net(explicit).squeeze(1), atol=1e-12)
    # the first joint layer reads the features of all 4 samples of a pack at once
    first_joint = next(m for m in d.net.modules() if isinstance(m, nn.Linear))
    assert first_joint.in_features == 4 * 5
    # reordering samples inside pack 0 changes only logit 0 (samples stay whole through the shared layers)
    within = x.clone()
    within[0:4] = x[[2, 0, 3, 1]]
    assert (~torch.isclose(d(within), d(x), atol=1e-12)).tolist() == [True, False]
    # FreezeD counts the shared layers as the first block
    assert list(d.blocks) == [d.per_sample, d.net]


def test_shared_layers_keep_the_plain_discriminator_and_refuse_an_additive_one():
    torch.manual_seed(0)
    plain = MLPDiscriminator(in_dim=2, hidden_dim=6, num_hidden=3)
    torch.manual_seed(0)
    shared = MLPDiscriminator(in_dim=2, hidden_dim=6, num_hidden=3, shared_layers=2)
    x = torch.randn(5, 2)
    # without packing the same layers in the same order: same initial weights, same logits
    assert torch.allclose(plain(x), shared(x))
    assert "per_sample.0.linear.weight" not in plain.state_dict() and "net.0.linear.weight" in plain.state_dict()
    with pytest.raises(ValueError, match="shared_layers=3 must be in"):
        MLPDiscriminator(in_dim=2, hidden_dim=6, num_hidden=3, pack=2, shared_layers=3)
    with pytest.raises(ValueError, match="per_sample_init"):
        MLPDiscriminator(in_dim=2, hidden_dim=6, num_hidden=3, pack=2, shared_layers=1, per_sample_init=True)


def test_packing_refuses_a_batch_that_does_not_split_into_packs():
    with pytest.raises(ValueError, match="multiple of PacGAN pack=4"):
        _packed_d(pack=4)(torch.randn(6, 2).double())


# ------------------------------------------------------------------------------------------------ batch norm in G
def test_generator_batch_norm_is_on_by_default(compose_config):
    g = instantiate(compose_config("model=mlp").model.generator)
    norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 4 and all(m.num_features == 400 for m in norms)
    assert any(isinstance(m, nn.BatchNorm1d) for m in MLPGenerator(2, 2, 8, 2).modules())  # the code's default too
    plain = MLPGenerator(2, 2, 8, 2, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())
    assert g(torch.randn(5, 2)).shape == (5, 2)


def test_mlp_model_defaults_are_pacgans_networks(compose_config):
    model = compose_config("model=mlp").model
    assert model.generator.batch_norm and (model.generator.hidden_dim, model.generator.num_hidden) == (400, 4)
    assert (model.discriminator.unit, model.discriminator.maxout_pieces) == ("maxout", 5)
    assert (model.discriminator.hidden_dim, model.discriminator.num_hidden, model.latent_dim) == (200, 3, 2)


# ------------------------------------------------------------------------------------------------ toy presets
@pytest.mark.parametrize(("packed", "plain", "pack"), [("grid25_pacgan4", "grid25_mlp", 4),
                                                        ("ring8_pacgan2", "ring8_mlp", 2)])
def test_pacgan_presets_pack_whole_batches(compose_config, packed, plain, pack):
    """The paper's packing: D sees as many packs as the plain GAN's D sees samples, so pack m draws m batches."""
    packed_cfg, plain_cfg = compose_config(f"experiment={packed}"), compose_config(f"experiment={plain}")
    assert packed_cfg.model.discriminator.pack == pack and plain_cfg.model.discriminator.pack == 1
    assert packed_cfg.data.batch_size == pack * plain_cfg.data.batch_size
    assert packed_cfg.model.generator.batch_norm and packed_cfg.data.name == plain_cfg.data.name


# what grid25_mlp sets apart from ring8_mlp since stop 33: half-width networks trained ~2.9x longer
GRID25_OWN_SETTINGS = {("model", "generator", "hidden_dim"), ("model", "discriminator", "hidden_dim"),
                       ("trainer", "max_steps"), ("eval_every_n_steps",)}


def _flatten(cfg: dict[str, object], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    flat: dict[tuple[str, ...], object] = {}
    for key, value in cfg.items():
        # an empty mapping is a value of its own, not nothing
        nested = isinstance(value, dict) and value
        flat.update(_flatten(value, (*prefix, key)) if nested else {(*prefix, key): value})
    return flat


def _settings_that_differ(a: dict[tuple[str, ...], object], b: dict[tuple[str, ...], object]) -> set[tuple[str, ...]]:
    missing = object()  # a key set to null in one config and absent from the other differs
    return {key for key in a.keys() | b.keys() if a.get(key, missing) != b.get(key, missing)}


def test_grid_and_ring_presets_differ_only_in_data_and_grid25s_own_settings(compose_config):
    """ring8_mlp is grid25_mlp on ring8 but for the settings grid25's HQ needed (named above); study_toy sweeps data on
    ring8_mlp's recipe, so its ring8 runs are ring8_mlp exactly and its grid25 runs grid25_mlp but for those."""
    def flat(*overrides: str) -> dict[tuple[str, ...], object]:
        # unresolved: what follows from these settings by interpolation (the checkpoint interval, ...) reads alike
        cfg = OmegaConf.to_container(compose_config(*overrides), resolve=False)
        cfg.pop("experiment_name")
        return _flatten(cfg)

    grid, ring = flat("experiment=grid25_mlp"), flat("experiment=ring8_mlp")
    assert grid[("data", "name")] == "grid25" and ring[("data", "name")] == "ring8"
    assert {key for key in _settings_that_differ(grid, ring) if key[0] != "data"} == GRID25_OWN_SETTINGS
    assert _settings_that_differ(flat("experiment=grid25_mlp", "data=ring8"), ring) == GRID25_OWN_SETTINGS
    assert grid[("model", "generator", "hidden_dim")] < ring[("model", "generator", "hidden_dim")]
    assert _settings_that_differ(flat("experiment=study_toy", "data=ring8"), ring) == set()
    assert _settings_that_differ(flat("experiment=study_toy", "data=grid25"), grid) == GRID25_OWN_SETTINGS


# ------------------------------------------------------------------------------------------------ G_ema of a toy run
def _toy_module(compose_config, decay: float):
    cfg = compose_config("experiment=grid25_mlp", "model.generator.hidden_dim=8", "model.discriminator.hidden_dim=8",
                         f"model.ema.decay={decay}", "model.ema.rampup=0", "model.ema.start_step=0")
    return build_module(cfg)


def _batch_norm_buffers(net: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.clone() for name, b in net.named_buffers()}


def test_ema_averages_batch_norm_statistics_like_the_weights(compose_config):
    """G_ema's running mean/var = decay * its old ones + (1 - decay) * G's; the batch counter is G's."""
    module = _toy_module(compose_config, decay=0.75)
    torch.manual_seed(0)
    with torch.no_grad():
        for _name, b in module.generator.named_buffers():
            b.copy_(torch.randint(1, 9, b.shape) if not b.is_floating_point() else torch.rand(b.shape) + 1.0)
    old, new = _batch_norm_buffers(module.generator_ema), _batch_norm_buffers(module.generator)
    assert any("running_var" in name for name in new) and any("num_batches_tracked" in name for name in new)
    module.g_steps += 1
    module._update_ema()
    for name, b in module.generator_ema.named_buffers():
        if "num_batches_tracked" in name:
            assert torch.equal(b, new[name]), name
        else:
            expected = [0.75 * float(o) + 0.25 * float(n) for o, n in zip(old[name].tolist(), new[name].tolist(),
                                                                           strict=True)]
            assert torch.allclose(b, torch.tensor(expected), atol=1e-6), name


def test_ema_with_decay_zero_is_g_itself(compose_config):
    module = _toy_module(compose_config, decay=0.0)
    with torch.no_grad():
        for b in module.generator.buffers():
            b.add_(3)
        for p in module.generator.parameters():
            p.add_(1.0)
    module.g_steps += 1
    module._update_ema()
    z = torch.randn(16, 2)
    module.generator.eval()
    assert torch.equal(module.generator_ema(z), module.generator(z))


def test_toy_presets_score_an_averaged_generator(compose_config):
    """G_ema is on in every toy preset (it used to be switched off with model.ema.decay=0)."""
    for preset in ("grid25_mlp", "grid25_pacgan4", "ring8_mlp", "ring8_pacgan2"):
        assert compose_config(f"experiment={preset}").model.ema.decay > 0, preset
