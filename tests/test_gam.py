"""The GAM block against plain references of the paper and of the three community lineages."""

import copy
import io
import warnings

import pytest
import torch
from torch import nn

from gam_viewer.nn import GAM, channel_shuffle

torch.backends.mkldnn.deterministic = True


# --------------------------------------------------------------------------- references
# Written the way the copied modules are written: permute + nn.Linear + permute back,
# a Sequential spatial branch, the 2022 rewrite's shuffle of the final map.


def ref_shuffle(x, groups):
    b, c, h, w = x.size()
    y = x.view(b, groups, c // groups, h, w).permute(0, 2, 1, 3, 4).contiguous()
    return y.view(b, c, h, w)


class RefCommunityGAM(nn.Module):
    """One class for all three lineages: they share the state-dict layout."""

    def __init__(self, c1, rate=4, group=False, channel_sigmoid=False, shuffle=False, k=7):
        super().__init__()
        hidden = c1 // rate
        g = rate if group else 1
        self.channel_attention = nn.Sequential(nn.Linear(c1, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, c1))
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(c1, hidden, k, padding=k // 2, groups=g),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, c1, k, padding=k // 2, groups=g),
            nn.BatchNorm2d(c1),
        )
        self.channel_sigmoid = channel_sigmoid
        self.shuffle = shuffle

    def forward(self, x):
        b, c, h, w = x.shape
        xp = x.permute(0, 2, 3, 1).reshape(b, -1, c)
        att = self.channel_attention(xp).reshape(b, h, w, c).permute(0, 3, 1, 2)
        if self.channel_sigmoid:
            att = att.sigmoid()
        x = x * att
        sp = self.spatial_attention(x).sigmoid()
        if self.shuffle:
            sp = ref_shuffle(sp, 4)
        return x * sp


class RefPaperGAM(nn.Module):
    """The paper's definition, written with Linear + permute, mid-shuffle when grouped."""

    def __init__(self, c1, rate=4, groups=1, k=7):
        super().__init__()
        hidden = c1 // rate
        self.mlp1 = nn.Linear(c1, hidden)
        self.mlp2 = nn.Linear(hidden, c1)
        self.conv1 = nn.Conv2d(c1, hidden, k, padding=k // 2, groups=groups)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, c1, k, padding=k // 2, groups=groups)
        self.bn2 = nn.BatchNorm2d(c1)
        self.groups = groups

    def forward(self, x):
        att = self.mlp2(torch.relu(self.mlp1(x.permute(0, 2, 3, 1)))).permute(0, 3, 1, 2).sigmoid()
        x = x * att
        y = torch.relu(self.bn1(self.conv1(x)))
        if self.groups > 1:
            y = ref_shuffle(y, self.groups)
        return x * torch.sigmoid(self.bn2(self.conv2(y)))


def randomise_bn(module, seed=0):
    """Give every BatchNorm non-trivial statistics so eval mode is a real test."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return module


def paper_state_to_ours(ref):
    sd = ref.state_dict()
    return {
        "channel_attention.fc1.weight": sd["mlp1.weight"][:, :, None, None],
        "channel_attention.fc1.bias": sd["mlp1.bias"],
        "channel_attention.fc2.weight": sd["mlp2.weight"][:, :, None, None],
        "channel_attention.fc2.bias": sd["mlp2.bias"],
        **{f"spatial_attention.{k}": v for k, v in sd.items() if k.split(".")[0] in ("conv1", "bn1", "conv2", "bn2")},
    }


LINEAGES = {
    # name: (group, channel_sigmoid, shuffle)
    "first_port_2021": (False, False, False),
    "rewrite_2022_grouped": (True, False, True),
    "rewrite_2022_ungrouped": (False, False, True),
    "objectdetection_script_2023": (False, True, False),
}


@pytest.mark.parametrize("lineage", list(LINEAGES))
@pytest.mark.parametrize("train", [False, True])
def test_community_lineages_match_reference_float64(lineage, train):
    group, sig, shuf = LINEAGES[lineage]
    torch.manual_seed(0)
    ref = randomise_bn(RefCommunityGAM(32, rate=4, group=group, channel_sigmoid=sig, shuffle=shuf)).double()
    ours = GAM.from_community(ref.state_dict(), channel_sigmoid=sig, shuffle=shuf).double()
    assert ours.groups == (4 if group else 1)
    assert ours.rate == 4 and ours.c1 == 32
    ref.train(train)
    ours.train(train)
    x = torch.randn(2, 32, 9, 11, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)


def test_from_community_default_shuffle_follows_grouping():
    torch.manual_seed(1)
    grouped = RefCommunityGAM(16, rate=4, group=True, shuffle=True).eval()
    dense = RefCommunityGAM(16, rate=4, group=False, shuffle=False).eval()
    g = GAM.from_community(grouped.state_dict()).eval()
    d = GAM.from_community(dense.state_dict()).eval()
    assert g.shuffle is True and g.groups == 4 and g.channel_sigmoid is False
    assert d.shuffle is False and d.groups == 1 and d.channel_sigmoid is False
    x = torch.randn(1, 16, 6, 6)
    torch.testing.assert_close(g(x), grouped(x))
    torch.testing.assert_close(d(x), dense(x))


def test_community_switches_really_change_the_output():
    torch.manual_seed(2)
    ref = randomise_bn(RefCommunityGAM(16, rate=4)).eval()
    x = torch.randn(1, 16, 8, 8)
    a = GAM.from_community(ref.state_dict(), channel_sigmoid=False, shuffle=False).eval()(x)
    b = GAM.from_community(ref.state_dict(), channel_sigmoid=True, shuffle=False).eval()(x)
    c = GAM.from_community(ref.state_dict(), channel_sigmoid=False, shuffle=True).eval()(x)
    assert (a - b).abs().max() > 1e-2
    assert (a - c).abs().max() > 1e-2


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_paper_form_matches_reference_float64(groups):
    torch.manual_seed(3)
    ref = randomise_bn(RefPaperGAM(32, rate=4, groups=groups)).double().eval()
    ours = GAM(32, rate=4, groups=groups).double().eval()
    ours.load_state_dict(paper_state_to_ours(ref), strict=True)
    x = torch.randn(2, 32, 7, 10, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)


def test_paper_channel_gate_is_bounded_and_community_is_not():
    torch.manual_seed(4)
    x = torch.randn(1, 16, 5, 5) * 5
    paper = GAM(16).eval()
    paper.keep_gates = True
    paper(x)
    assert paper.channel_gate.min() >= 0 and paper.channel_gate.max() <= 1
    comm = GAM(16, variant="community").eval()
    comm.keep_gates = True
    comm(x)
    assert comm.channel_gate.min() < 0  # raw MLP output, signed


def test_channel_shuffle_is_the_shufflenet_permutation():
    x = torch.arange(8.0).reshape(1, 8, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    torch.testing.assert_close(channel_shuffle(x, 4), ref_shuffle(x, 4))


def test_grouped_paper_form_mixes_groups():
    """Changing one input group changes the spatial gate of channels in every other group."""
    torch.manual_seed(5)
    # 32 channels, hidden 16, 4 groups: 4 hidden channels per group, so one shuffle
    # hands every second-conv group a channel from every first-conv group
    m = GAM(32, rate=2, groups=4, channel=False).double().eval()
    m.keep_gates = True
    x = torch.randn(1, 32, 6, 6, dtype=torch.float64)
    m(x)
    g0 = m.spatial_gate.clone()
    x2 = x.clone()
    x2[:, 0:8] += torch.randn(1, 8, 6, 6, dtype=torch.float64)  # input group 0 only
    m(x2)
    diff = (m.spatial_gate - g0).abs().amax(dim=(0, 2, 3))
    for grp in range(4):
        assert diff[grp * 8:(grp + 1) * 8].max() > 1e-6, f"group {grp} did not see group 0"


def test_community_grouped_form_does_not_mix_groups():
    """The documented difference: a shuffle after the sigmoid only permutes the gates."""
    torch.manual_seed(6)
    m = GAM(16, rate=4, groups=4, channel=False, variant="community", shuffle=True).double().eval()
    m.keep_gates = True
    x = torch.randn(1, 16, 6, 6, dtype=torch.float64)
    m(x)
    g0 = m.spatial_gate.clone()
    x2 = x.clone()
    x2[:, 0:4] += torch.randn(1, 4, 6, 6, dtype=torch.float64)
    m(x2)
    changed = (m.spatial_gate - g0).abs().amax(dim=(0, 2, 3)) > 1e-9
    assert 0 < int(changed.sum()) <= 4  # only one group's worth of gate channels moved


def test_gradcheck_paper_and_community():
    torch.manual_seed(7)
    for m in (GAM(8, rate=2, kernel_size=3, groups=2), GAM(8, rate=2, kernel_size=3, variant="community", shuffle=True)):
        m = m.double().train()
        x = torch.randn(2, 8, 4, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(m, (x,), eps=1e-6, atol=1e-5)


def test_ablation_switches():
    x = torch.randn(1, 16, 6, 6)
    only_c = GAM(16, spatial=False).eval()
    only_s = GAM(16, channel=False).eval()
    assert only_c.spatial_attention is None and only_c.channel_attention is not None
    assert only_s.channel_attention is None and only_s.spatial_attention is not None
    assert not any(k.startswith("spatial") for k in only_c.state_dict())
    assert not any(k.startswith("channel") for k in only_s.state_dict())
    torch.testing.assert_close(only_c(x), x * torch.sigmoid(only_c.channel_attention.fc2(torch.relu(only_c.channel_attention.fc1(x)))))
    only_s.keep_gates = True
    y = only_s(x)
    assert only_s.channel_gate is None
    torch.testing.assert_close(y, x * only_s.spatial_gate)


@pytest.mark.parametrize("variant,kw", [("paper", {}), ("paper", {"groups": 2}), ("community", {"shuffle": True}),
                                        ("community", {"channel_sigmoid": True})])
def test_keep_gates_are_exactly_the_multipliers(variant, kw):
    torch.manual_seed(8)
    m = randomise_bn(GAM(16, variant=variant, **kw)).eval()
    x = torch.randn(2, 16, 7, 9)
    assert m.channel_gate is None and m.spatial_gate is None
    m.keep_gates = True
    y = m(x)
    assert m.channel_gate.shape == x.shape and m.spatial_gate.shape == x.shape
    assert not m.channel_gate.requires_grad
    assert torch.equal(y, x * m.channel_gate * m.spatial_gate)


def test_keep_gates_off_stores_nothing_and_forward_runs_once():
    m = GAM(16).eval()
    calls = []
    m.spatial_attention.register_forward_hook(lambda *a: calls.append(1))
    m(torch.randn(1, 16, 4, 4))
    assert m.channel_gate is None and m.spatial_gate is None
    m.keep_gates = True
    m(torch.randn(1, 16, 4, 4))
    assert len(calls) == 2  # one spatial pass per forward, gates or not


@pytest.mark.parametrize("variant,kw", [("paper", {}), ("paper", {"groups": 4}), ("community", {"groups": 4})])
def test_fuse_keeps_output(variant, kw):
    torch.manual_seed(9)
    m = randomise_bn(GAM(32, variant=variant, **kw)).eval()
    x = torch.randn(1, 32, 10, 10)
    y = m(x)
    m.fuse()
    assert m.is_fused
    assert not any(isinstance(s, nn.BatchNorm2d) for s in m.modules())
    torch.testing.assert_close(m(x), y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"c1": 30, "rate": 4}, "rate=4"),
        ({"c1": 32, "groups": 3}, "groups=3"),
        ({"c1": 32, "rate": 8, "groups": 8}, "groups=8"),
        ({"c1": 32, "rate": 0}, "rate"),
        ({"c1": 32, "kernel_size": 6}, "kernel_size"),
        ({"c1": 32, "c2": 64}, "c2"),
        ({"c1": 32, "variant": "cbam"}, "variant"),
        ({"c1": 0}, "c1"),
        ({"c1": 32, "channel": False, "spatial": False}, "channel=False"),
        ({"c1": 32, "channel_sigmoid": False}, "channel_sigmoid"),
        ({"c1": 30, "rate": 3, "variant": "community", "shuffle": True}, "shuffle"),
    ],
)
def test_invalid_configurations_name_the_argument(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        GAM(**kwargs)


def test_from_community_rejects_what_is_not_a_gam():
    with pytest.raises(ValueError, match="missing 'channel_attention.0.weight'"):
        GAM.from_community({"conv.weight": torch.zeros(4, 4, 1, 1)})
    ref = RefCommunityGAM(16).state_dict()
    ref["channel_attention.2.weight"] = torch.zeros(8, 3)
    with pytest.raises(ValueError, match="channel_attention.2.weight"):
        GAM.from_community(ref)
    with pytest.raises(ValueError, match="not a GAM"):
        GAM.from_community({k: v for k, v in RefCommunityGAM(16).state_dict().items() if "spatial_attention.4" not in k})


def test_memory_layouts_and_dtypes():
    torch.manual_seed(10)
    m = randomise_bn(GAM(16, groups=2)).eval()
    x = torch.randn(2, 16, 9, 9)
    y = m(x)
    torch.testing.assert_close(m(x.contiguous(memory_format=torch.channels_last)), y, rtol=1e-5, atol=1e-5)
    big = torch.randn(2, 16, 9, 18)
    torch.testing.assert_close(m(big[..., ::2]), m(big[..., ::2].contiguous()), rtol=1e-5, atol=1e-5)
    for dt in (torch.float16, torch.bfloat16):
        mm = copy.deepcopy(m).to(dt)
        out = mm(x.to(dt))
        assert out.dtype == dt
        torch.testing.assert_close(out.float(), y, rtol=0.05, atol=0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(x)
    torch.testing.assert_close(out.float(), y, rtol=0.05, atol=0.05)


def test_torchscript():
    torch.manual_seed(11)
    for m in (GAM(16, groups=2), GAM(16, variant="community", shuffle=True), GAM(16, channel=False)):
        m = randomise_bn(m).eval()
        x = torch.randn(1, 16, 6, 6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream, still works
            s = torch.jit.script(m)
        torch.testing.assert_close(s(x), m(x))


def test_onnx_round_trip(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test extra")
    pytest.importorskip("onnx", reason="onnx is a test extra")
    torch.manual_seed(12)
    m = randomise_bn(GAM(16, groups=2)).eval()
    x = torch.randn(1, 16, 12, 10)
    path = tmp_path / "gam.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), m(x).detach(), rtol=1e-4, atol=1e-5)


def test_state_dict_round_trip_in_own_layout():
    a = randomise_bn(GAM(16, groups=2)).eval()
    b = GAM(16, groups=2).eval()
    b.load_state_dict(a.state_dict(), strict=True)
    x = torch.randn(1, 16, 5, 5)
    assert torch.equal(a(x), b(x))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    c = GAM(16, groups=2).eval()
    c.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(a(x), c(x))
