"""Neural engine speed: our siggraph17 / eccv16 forward vs the published forward, same weights.

    python bench/bench_neural.py [--runs 10] [--size 256] [--out bench/results/neural.md]

The reference is a straightforward float32 implementation of the published `colorizers`
forward passes (richzhang/colorization): plain PyTorch in NCHW layout under no_grad, with
siggraph17's decoder tail computed twice as published. Ours is the engine's runner in each
precision it can choose on a CPU: float32, float32 with the low-resolution middle blocks in
bfloat16 ("mixed"), and all bfloat16; the engine takes the fastest one that stays within
1 ab unit of float32 on a calibration picture, and the output says which it chose here. Weights are random (the published files are not downloaded
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
from colorstudio.models.testing import randomise_batch_norm  # noqa: E402


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
    net = randomise_batch_norm(cls(), seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        if cls is Eccv16Net:  # a peaked 313-bin distribution, as a trained net gives
            net.model8[6].weight.mul_(40.0)
            net.model_out.weight.copy_(torch.rand(2, 313, 1, 1, generator=g) * 2 - 1)
        else:
            # Scale the regression head so the output spans a trained net's range (std ~40 ab,
            # not ~2): precision errors grow with the activations, so this keeps the
            # bfloat16 max diff honest.
            L = calibration_lightness(128, 128)
            ab, mask = calibration_hints(128, 128)
            c1, c2, c8 = net.encode(net.normalise(L, ab, mask))
            x = net.model9(net.model9up(c8) + net.model2short9(c2))
            x = net.model10(net.model10up(x) + net.model1short10(c1))
            pre = net.model_out[0](x)                        # (1, 2, h, w) before tanh
            mean, std = pre.mean(dim=(0, 2, 3)), pre.std(dim=(0, 2, 3))
            k = 0.6 / std                                    # centred, ~0.6 spread per channel
            head = net.model_out[0]
            head.weight.mul_(k[:, None, None, None])
            head.bias.copy_(k * (head.bias - mean))
    return net


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


def bench(size: int, runs: int) -> tuple[list[dict], list[str]]:
    """Rows of the table, and a sentence per network on the engine's own choice."""
    rows, choices = [], []
    L = calibration_lightness(size, size)
    ab, mask = calibration_hints(size, size)
    cpu = torch.device("cpu")
    for name, cls, engine_cls, seed in (("siggraph17", Siggraph17Net, Siggraph17Engine, 0),
                                        ("eccv16", Eccv16Net, Eccv16Engine, 1)):
        net = random_net(cls, seed)
        ref_net = copy.deepcopy(net)  # the engine changes its copy's memory layout
        auto = engine_cls.from_network(net)
        fused = auto.runner.fused
        runners = {
            "ours float32": auto.make_runner(net, cpu, torch.float32, fused),
            "ours mixed": auto.make_runner(net, cpu, torch.float32, fused, middle=torch.bfloat16),
            "ours bfloat16": auto.make_runner(net, cpu, torch.bfloat16, fused),
        }
        if name == "siggraph17":
            def published():
                with torch.no_grad():
                    return published_siggraph17(ref_net, L, ab, mask)

            def ours(r):
                with torch.inference_mode():
                    return r.decode(r.encode(L, ab, mask))
            decoder = ", decoder x1"
            ref_how = "published forward, PyTorch NCHW float32, decoder x2"
        else:
            def published():
                with torch.no_grad():
                    return published_eccv16(ref_net, L)

            def ours(r):
                with torch.inference_mode():
                    return r.forward(L)
            decoder = ""
            ref_how = "published forward, PyTorch NCHW float32"
        reference = published()
        fns = {"reference": published, **{k: (lambda r=r: ours(r)) for k, r in runners.items()}}
        times = interleaved(fns, runs)
        base = statistics.median(times["reference"])
        for k in fns:
            med = statistics.median(times[k])
            diff = 0.0 if k == "reference" else float((fns[k]() - reference).abs().max())
            how = ref_how if k == "reference" else runners[k].description + decoder
            rows.append({"network": name, "variant": k, "how": how, "median_s": med, "min_s": min(times[k]),
                         "ratio": med / base, "min_ratio": min(times[k]) / min(times["reference"]),
                         "paired": paired(times[k], times["reference"]), "max_diff_ab": diff})
        checks = ", ".join(f"{p}: {d:.3g} ab" for p, d in auto.precision_checks.items())
        choices.append(f"{name}: the engine chose **{auto.runner.precision}** on this machine"
                       + (f" (checked against float32 on the calibration picture, limit 1 ab: {checks})"
                          if checks else ""))
        del net, ref_net, auto, runners
    return rows, choices


def table(rows: list[dict]) -> str:
    lines = ["| network | variant | how | median | min | ratio (medians) | ratio (minima) | paired ratio "
             "| max diff (ab) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['variant']} | {r['how']} | {r['median_s'] * 1000:.0f} ms | "
                     f"{r['min_s'] * 1000:.0f} ms | {r['ratio']:.2f} | {r['min_ratio']:.2f} | {r['paired']:.2f} "
                     f"| {r['max_diff_ab']:.2g} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "neural.md"))
    args = parser.parse_args(argv)
    info = machine()
    rows, choices = bench(args.size, args.runs)
    text = table(rows)
    print(text)
    print("\n".join(choices))
    md = [f"# Neural engines: forward at {args.size}\u00d7{args.size} on the CPU", "",
          f"`python bench/bench_neural.py --runs {args.runs} --size {args.size}` "
          f"({time.strftime('%Y-%m-%d %H:%M')}); median and minimum of {args.runs} interleaved runs; "
          "ratios = ours / the reference (target: <= 0.5), of the medians, of the minima (the "
          "quietest run of each), and the median of the per-round ratios; other helpers share this "
          "2-core machine, so when median and minimum differ a lot, trust the minima; max diff = largest "
          "|ours - reference| over the output, in ab units.", "",
          "Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()), "", text, "",
          *[f"- {c}" for c in choices], "",
          "Notes: the weights are random (same on both sides; BatchNorm statistics randomised; "
          "siggraph17's regression head scaled so its output spans about +-100 ab like a trained "
          "network's, eccv16's bin scores sharpened), so the max diff of the bfloat16 rows is "
          "indicative only: with the published weights the engine measures it again when it loads "
          "and picks the fastest precision within 1 ab unit. The float32 row differs from the "
          "reference only by summation order.", ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(md))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
