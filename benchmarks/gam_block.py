"""Time gam_viewer's GAM block against the widely copied form at the YOLOv5s insertion shapes.

Prints a table and writes JSON (benchmarks/results/gam_block-<device>.json by default).
Never asserts on time. Usage:

    python benchmarks/gam_block.py                 # CPU, batch 1, forward (eval)
    python benchmarks/gam_block.py --device cuda   # adds batch 32 fp32/bf16 fwd and fwd+bwd
"""

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gam_viewer.nn import GAM  # noqa: E402

SHAPES = [(128, 80), (256, 40), (512, 20)]  # (C, H=W) before SPPF / head P3-P5 of YOLOv5s


class CopiedGAM(nn.Module):
    """The 2022 community rewrite as blogs copy it (permute + nn.Linear, shuffle of the final map)."""

    def __init__(self, c1, rate=4):
        super().__init__()
        h = c1 // rate
        self.channel_attention = nn.Sequential(nn.Linear(c1, h), nn.ReLU(inplace=True), nn.Linear(h, c1))
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(c1, h, 7, padding=3), nn.BatchNorm2d(h), nn.ReLU(inplace=True),
            nn.Conv2d(h, c1, 7, padding=3), nn.BatchNorm2d(c1))

    def forward(self, x):
        b, c, hh, ww = x.shape
        att = self.channel_attention(x.permute(0, 2, 3, 1).reshape(b, -1, c)).reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        x = x * att
        s = self.spatial_attention(x).sigmoid()
        s = s.view(b, 4, c // 4, hh, ww).permute(0, 2, 1, 3, 4).contiguous().view(b, c, hh, ww)
        return x * s


def make_variants(c):
    copied = CopiedGAM(c)
    ours = GAM.from_community(copied.state_dict(), shuffle=True)
    fused = GAM.from_community(copied.state_dict(), shuffle=True).fuse()
    fused_gates = GAM.from_community(copied.state_dict(), shuffle=True).fuse()
    fused_gates.keep_gates = True
    paper = GAM(c).fuse()
    return {
        "copied (permute+Linear)": copied,
        "ours community": ours,
        "ours community fused": fused,
        "ours fused + keep_gates": fused_gates,
        "ours paper fused": paper,
    }


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_fn(m, x, backward):
    if backward:
        def fn():
            m(x).float().sum().backward()
    else:
        @torch.inference_mode()
        def fn():
            m(x)
    return fn


def run_case(c, hw, batch, dtype, backward, device, channels_last, warmup, iters, compile_=False):
    """Median ms per variant; variants are timed round-robin so drifting machine load hits all alike."""
    fns = {}
    variants = make_variants(c)
    if compile_:
        variants["ours paper compiled"] = torch.compile(GAM(c))
    for name, m in variants.items():
        if backward and name.startswith("ours") and "fused" in name:
            continue  # fused blocks are for inference only
        m = m.to(device=device, dtype=dtype)
        m.train(backward)
        x = torch.randn(batch, c, hw, hw, device=device, dtype=dtype)
        if channels_last:
            m = m.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        if backward:
            x.requires_grad_(True)
        fns[name] = make_fn(m, x, backward)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            samples[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(v) for name, v in samples.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--out", default=None, help="JSON path")
    ap.add_argument("--compile", action="store_true", help="add a torch.compile variant (default on CUDA)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    cases = [("batch 1 fp32 fwd", 1, torch.float32, False, False),
             # the layout gam-viewer's Detector runs in (channels_last weights, so NHWC activations)
             ("batch 1 fp32 fwd NHWC", 1, torch.float32, False, True)]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        cases += [
            ("batch 32 fp32 fwd", 32, torch.float32, False, True),
            ("batch 32 bf16 fwd", 32, torch.bfloat16, False, True),
            ("batch 32 fp32 fwd+bwd", 32, torch.float32, True, True),
            ("batch 32 bf16 fwd+bwd", 32, torch.bfloat16, True, True),
        ]
    rows = []
    for label, batch, dtype, backward, cl in cases:
        for c, hw in SHAPES:
            t = run_case(c, hw, batch, dtype, backward, device, cl, args.warmup, args.iters,
                         compile_=args.compile or device.type == "cuda")
            base = t["copied (permute+Linear)"]
            for name, ms in t.items():
                rows.append({"case": label, "C": c, "HW": hw, "variant": name, "ms": round(ms, 3),
                             "speedup_vs_copied": round(base / ms, 3)})
    keep = {}
    for r in rows:
        if r["variant"] in ("ours community fused", "ours fused + keep_gates"):
            keep.setdefault((r["case"], r["C"]), {})[r["variant"]] = r["ms"]
    overhead = {f"{k[0]} C={k[1]}": round(100 * (v["ours fused + keep_gates"] / v["ours community fused"] - 1), 2)
                for k, v in keep.items() if len(v) == 2}

    print(f"{'case':<24}{'C@HW':<10}{'variant':<28}{'ms':>9}{'x copied':>10}")
    for r in rows:
        print(f"{r['case']:<24}{str(r['C']) + '@' + str(r['HW']):<10}{r['variant']:<28}{r['ms']:>9.3f}{r['speedup_vs_copied']:>10.2f}")
    print("keep_gates overhead (%):", overhead)
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/gam_block.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "iters": args.iters,
    }
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"gam_block-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows, "keep_gates_overhead_pct": overhead}, indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()
