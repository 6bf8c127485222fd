"""Neural engine speed: our siggraph17 / eccv16 forward vs the published forward, same weights.

    python bench/bench_neural.py [--runs 10] [--size 256] [--out bench/results/neural.md]

The reference is a straightforward float32 implementation of the published `colorizers`
forward passes (richzhang/colorization): plain PyTorch in NCHW layout under no_grad, with
siggraph17's decoder tail computed twice as published. Ours is the engine's runner as it
chooses itself on this machine (oneDNN fused kernels, bfloat16 when the calibration allows),
and also forced to float32, and float32 with the low-resolution middle blocks in bfloat16
(the engine's second choice when all-bfloat16 strays more than 1 ab unit). Weights are random (the published files are not downloaded
here), with random BatchNorm statistics; both sides use the same ones. Runs are interleaved
(reference, ours, ...) so that a busy machine slows both alike; the table shows medians.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from colorstudio.core.atomic import atomic_write_text  # noqa: E402
from colorstudio.engines.eccv16 import Eccv16Engine  # noqa: E402
from colorstudio.engines.neural import calibration_hints, calibration_lightness, native_bfloat16  # noqa: E402
from colorstudio.engines.siggraph17 import Siggraph17Engine  # noqa: E402
from colorstudio.models.networks import Eccv16Net, Siggraph17Net  # noqa: E402


def published_siggraph17(m: Siggraph17Net, input_A, input_B, mask_B):
    """The published SIGGRAPHGenerator.forward, step by step (decoder tail twice)."""
    conv1_2 = m.model1(torch.cat(((input_A - 50.) / 100., input_B / 110., mask_B), dim=1))
    conv2_2 = m.model2(conv1_2[:, :, ::2, ::2])
    conv3_3 = m.model3(conv2_2[:, :, ::2, ::2])
    conv4_3 = m.model4(conv3_3[:, :, ::2, ::2])
    conv5_3 = m.model5(conv4_3)
    conv6_3 = m.model6(conv5_3)
    conv7_3 = m.model7(conv6_3)
    conv8_up = m.model8up(conv7_3) + m.model3short8(conv3_3)
    conv8_3 = m.model8(conv8_up)
    conv9_up = m.model9up(conv8_3) + m.model2short9(conv2_2)
    conv9_3 = m.model9(conv9_up)
    conv10_up = m.model10up(conv9_3) + m.model1short10(conv1_2)
    conv10_2 = m.model10(conv10_up)
    out_reg = m.model_out(conv10_2)
    conv9_up = m.model9up(conv8_3) + m.model2short9(conv2_2)
    conv9_3 = m.model9(conv9_up)
    conv10_up = m.model10up(conv9_3) + m.model1short10(conv1_2)
    conv10_2 = m.model10(conv10_up)
    out_reg = m.model_out(conv10_2)
    return out_reg * 110.


def published_eccv16(m: Eccv16Net, input_l):
    """The published ECCVGenerator.forward."""
    conv1_2 = m.model1((input_l - 50.) / 100.)
    conv2_2 = m.model2(conv1_2)
    conv3_3 = m.model3(conv2_2)
    conv4_3 = m.model4(conv3_3)
    conv5_3 = m.model5(conv4_3)
    conv6_3 = m.model6(conv5_3)
    conv7_3 = m.model7(conv6_3)
    conv8_3 = m.model8(conv7_3)
    out_reg = m.model_out(torch.softmax(conv8_3, dim=1))
    return nn.functional.interpolate(out_reg, scale_factor=4, mode="bilinear", align_corners=False) * 110.


def random_net(cls, seed: int):
    torch.manual_seed(seed)
    net = cls()
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    if cls is Eccv16Net:
        with torch.no_grad():  # a peaked 313-bin distribution, as a trained net gives
            net.model8[6].weight.mul_(40.0)
            net.model_out.weight.copy_(torch.rand(2, 313, 1, 1, generator=g) * 2 - 1)
    return net.eval()


def interleaved(fns: dict, runs: int) -> dict:
    for fn in fns.values():  # warm up (and reorder weights for this shape)
        fn()
    times = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def paired(ours: list, reference: list) -> float:
    """Median of the per-round ratios: robust when other work slows some rounds down."""
    return statistics.median(o / r for o, r in zip(ours, reference))


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
        have = [f for f in wanted if f" {f}" in text]
        flags = ", ".join(have)
    except OSError:
        pass
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "cpu flags": flags or "-", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "native bfloat16 (oneDNN)": native_bfloat16()}


def bench(size: int, runs: int) -> list[dict]:
    rows = []
    L = calibration_lightness(size, size)
    ab, mask = calibration_hints(size, size)

    # siggraph17 ------------------------------------------------------------------------------
    net = random_net(Siggraph17Net, 0)
    ref_net = copy.deepcopy(net)  # the engine changes its copy's memory layout
    auto = Siggraph17Engine.from_network(net)
    f32 = Siggraph17Engine.from_network(net, precision="float32")

    def ours(engine):
        with torch.inference_mode():
            return engine.runner.decode(engine.runner.encode(L, ab, mask))

    with torch.no_grad():
        reference = published_siggraph17(ref_net, L, ab, mask)
    mixed = Siggraph17Engine.from_network(net, precision="float32")
    mixed.runner = mixed.make_runner(net, torch.device("cpu"), torch.float32, f32.runner.fused,
                                     middle=torch.bfloat16 if f32.runner.fused else None)
    fns = {"reference": lambda: torch.no_grad()(published_siggraph17)(ref_net, L, ab, mask),
           "ours float32": lambda: ours(f32), "ours mixed": lambda: ours(mixed), "ours auto": lambda: ours(auto)}
    times = interleaved(fns, runs)
    diffs = {"reference": 0.0, "ours float32": float((ours(f32) - reference).abs().max()),
             "ours mixed": float((ours(mixed) - reference).abs().max()),
             "ours auto": float((ours(auto) - reference).abs().max())}
    kinds = {"reference": "published forward, PyTorch NCHW float32, decoder x2",
             "ours float32": f32.runner.description + ", decoder x1",
             "ours mixed": mixed.runner.description + ", decoder x1",
             "ours auto": auto.runner.description + ", decoder x1"}
    base = statistics.median(times["reference"])
    for k in fns:
        med = statistics.median(times[k])
        rows.append({"network": "siggraph17", "variant": k, "how": kinds[k], "median_s": med,
                     "min_s": min(times[k]), "ratio": med / base, "paired": paired(times[k], times["reference"]),
                     "max_diff_ab": diffs[k]})
    del net, ref_net, auto, f32, mixed

    # eccv16 ----------------------------------------------------------------------------------
    net = random_net(Eccv16Net, 1)
    ref_net = copy.deepcopy(net)
    auto = Eccv16Engine.from_network(net)
    f32 = Eccv16Engine.from_network(net, precision="float32")

    def ours16(engine):
        with torch.inference_mode():
            return engine.runner.forward(L)

    with torch.no_grad():
        reference = published_eccv16(ref_net, L)
    mixed = Eccv16Engine.from_network(net, precision="float32")
    mixed.runner = mixed.make_runner(net, torch.device("cpu"), torch.float32, f32.runner.fused,
                                     middle=torch.bfloat16 if f32.runner.fused else None)
    fns = {"reference": lambda: torch.no_grad()(published_eccv16)(ref_net, L),
           "ours float32": lambda: ours16(f32), "ours mixed": lambda: ours16(mixed), "ours auto": lambda: ours16(auto)}
    times = interleaved(fns, runs)
    diffs = {"reference": 0.0, "ours float32": float((ours16(f32) - reference).abs().max()),
             "ours mixed": float((ours16(mixed) - reference).abs().max()),
             "ours auto": float((ours16(auto) - reference).abs().max())}
    kinds = {"reference": "published forward, PyTorch NCHW float32",
             "ours float32": f32.runner.description, "ours mixed": mixed.runner.description,
             "ours auto": auto.runner.description}
    base = statistics.median(times["reference"])
    for k in fns:
        med = statistics.median(times[k])
        rows.append({"network": "eccv16", "variant": k, "how": kinds[k], "median_s": med,
                     "min_s": min(times[k]), "ratio": med / base, "paired": paired(times[k], times["reference"]),
                     "max_diff_ab": diffs[k]})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| network | variant | how | median | min | ratio | paired ratio | max diff (ab) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['variant']} | {r['how']} | {r['median_s'] * 1000:.0f} ms | "
                     f"{r['min_s'] * 1000:.0f} ms | {r['ratio']:.2f} | {r['paired']:.2f} | {r['max_diff_ab']:.2g} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "neural.md"))
    args = parser.parse_args(argv)
    info = machine()
    rows = bench(args.size, args.runs)
    text = table(rows)
    print(text)
    md = [f"# Neural engines: forward at {args.size}\u00d7{args.size} on the CPU", "",
          f"`python bench/bench_neural.py --runs {args.runs} --size {args.size}` "
          f"({time.strftime('%Y-%m-%d %H:%M')}); median and minimum of {args.runs} interleaved runs; "
          "ratio = our median / the reference median (target: <= 0.5); paired ratio = median of the "
          "per-round ratios (robust to other load on the machine); max diff = largest "
          "|ours - reference| over the output, in ab units.", "",
          "Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()), "", text, "",
          "Notes: the weights are random (same on both sides), so the bfloat16 calibration check "
          "(max 1 ab unit against float32 on a calibration picture) is easier to pass than with the "
          "published weights; with those, the engine falls back to the float32 row if bfloat16 "
          "strays further. The float32 row differs from the reference only by summation order.", ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(md))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
