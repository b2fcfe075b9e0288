"""Inpainting on real chest X-rays: does the edit move a classifier the requested way, and nothing else?

Issue #13 item 2. Takes ``--n`` real images of the held-out TEST split (evaluation only; nothing is
trained here), one image per patient, half NORMAL and half PNEUMONIA, and runs RePaint
(:mod:`radsynth.generators.diffusion.repaint`, Lugmayr et al. 2022, arXiv:2201.09865) with the shipped
``cxr-ddpm-64``:

* NORMAL images: ``--label PNEUMONIA`` inside ``--normal-region`` (default ``right-lower-lung``);
* PNEUMONIA images: ``--label NORMAL`` inside ``--pneumonia-region`` (default ``both-lungs``);
* control: the same pipeline, seed and mask with the image's ORIGINAL class as the label
  (reconstruct only), so a change attributable to the condition shows as edit minus control.

Reported per direction: the share of images whose pixels outside the mask are identical to the
input (at 64 px, and at full resolution after pasting into the input file's pixels; must be 100 %),
the share whose ``cxr-classifier-64`` pneumonia probability moved in the requested direction
(target >= 80 %) with its 95 % Wilson interval, the mean change of that probability, the same two
for the control, and the time per image. A grid (input | mask | edit | control) is saved as
``docs/inpaint_grid.png`` (``--grid``).

Usage: python bench/bench_inpaint.py [--n 100] [--threads 1] [--steps 50 --jump-length 10
       --jump-n-sample 2] [--guidance 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
TEST = REPO.parent / "shared" / "data" / "cxr-pneumonia" / "test"


def pick(n: int, seed: int) -> list[tuple[Path, str]]:
    """``n`` test images, one per patient, alternating NORMAL / PNEUMONIA, in a seeded random order."""
    from radsynth.generators.common.data import patient_id

    rng = np.random.default_rng(seed)
    per: dict[str, list[Path]] = {}
    for cls in ("NORMAL", "PNEUMONIA"):
        first: dict[str, Path] = {}
        for p in sorted((TEST / cls).iterdir()):
            first.setdefault(patient_id(p.name), p)
        files = sorted(first.values())
        per[cls] = [files[i] for i in rng.permutation(len(files))]
    out = []
    for i in range(n):
        cls = ("NORMAL", "PNEUMONIA")[i % 2]
        out.append((per[cls][i // 2], cls))
    return out


def wilson(k: int, n: int) -> tuple[float, float]:
    from radsynth.metrics.class_fidelity import wilson_interval

    return wilson_interval(k, n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--jump-length", type=int, default=10)
    ap.add_argument("--jump-n-sample", type=int, default=2)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--normal-region", default="right-lower-lung")
    ap.add_argument("--pneumonia-region", default="both-lungs")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--grid", type=Path, default=REPO / "docs" / "inpaint_grid.png")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from radsynth.generators.diffusion.repaint import network_evaluations, repaint
    from radsynth.generators.diffusion.inpaint import paste_full_resolution, prepare_input, read_input_pixels
    from radsynth.generators.model_dir import load_model
    from radsynth.generators.zoo import resolve_model
    from radsynth.metrics.classifier import load_shipped

    entry = resolve_model("cxr-ddpm-64", "--model", generator=True)
    cfg, net, _ = load_model(entry.path)
    clf = load_shipped("cxr-classifier-64")
    pi = list(clf.class_names).index("PNEUMONIA")
    items = pick(args.n, args.seed)
    inputs = []
    for path, cls in items:
        px, scale = read_input_pixels(path)
        region = args.normal_region if cls == "NORMAL" else args.pneumonia_region
        inputs.append(prepare_input(px, scale, cfg.image_size, region=region))
    x = np.stack([i.image for i in inputs])
    m = np.stack([i.mask for i in inputs])
    orig = [cfg.label_index(c) for _, c in items]
    target = [1 - o for o in orig]  # NORMAL <-> PNEUMONIA
    kw = dict(seed=args.seed, steps=args.steps, jump_length=args.jump_length, jump_n_sample=args.jump_n_sample,
              guidance=args.guidance, batch_size=args.batch_size)
    t0 = time.perf_counter()
    edit = repaint(net, cfg, x, m, target, **kw)
    t_edit = (time.perf_counter() - t0) / len(items)
    ctrl = repaint(net, cfg, x, m, orig, **kw)

    def p_pneu(a: np.ndarray) -> np.ndarray:
        return clf.predict_proba((a + 1.0) / 2.0)[:, pi]

    p0, p1, pc = p_pneu(x), p_pneu(edit), p_pneu(ctrl)
    same64 = np.array([np.array_equal(e[~mm], xx[~mm]) for e, mm, xx in zip(edit, m, x)])
    same_full = []
    for inp, e in zip(inputs, edit):
        full = paste_full_resolution(inp, e)
        same_full.append(np.array_equal(full[~inp.mask_full], inp.pixels[~inp.mask_full]))
    same_full = np.array(same_full)
    rows = {}
    print(f"\ncxr-ddpm-64 RePaint, {args.steps} steps, jumps {args.jump_length}x{args.jump_n_sample} "
          f"({network_evaluations(args.steps, args.jump_length, args.jump_n_sample)} network evals/image), "
          f"guidance {args.guidance}, {len(items)} test images ({args.threads} thread(s)); {t_edit:.2f} s/image\n")
    print("| direction | n | outside identical (64 px / full res) | moved as asked [95% CI] | mean dp | "
          "control moved same way | control mean dp |")
    print("|---|---|---|---|---|---|---|")
    for name, sel_cls, sign in (("NORMAL -> PNEUMONIA", "NORMAL", 1.0), ("PNEUMONIA -> NORMAL", "PNEUMONIA", -1.0),
                                ("all", None, None)):
        idx = np.array([i for i, (_, c) in enumerate(items) if sel_cls is None or c == sel_cls])
        sgn = np.array([1.0 if items[i][1] == "NORMAL" else -1.0 for i in idx])
        d_e, d_c = (p1[idx] - p0[idx]) * sgn, (pc[idx] - p0[idx]) * sgn  # signed: > 0 = the requested way
        k, kc = int((d_e > 0).sum()), int((d_c > 0).sum())
        lo, hi = wilson(k, len(idx))
        clo, chi = wilson(kc, len(idx))
        rows[name] = {"n": int(len(idx)), "identical_64": float(same64[idx].mean()),
                      "identical_full": float(same_full[idx].mean()), "moved": k / len(idx), "moved_ci": [lo, hi],
                      "mean_dp_requested_way": float(d_e.mean()), "control_moved": kc / len(idx),
                      "control_ci": [clo, chi], "control_mean_dp": float(d_c.mean()),
                      "mean_p_before": float(p0[idx].mean()), "mean_p_edit": float(p1[idx].mean())}
        r = rows[name]
        print(f"| {name} | {r['n']} | {100 * r['identical_64']:.0f} % / {100 * r['identical_full']:.0f} % | "
              f"{100 * r['moved']:.0f} % [{100 * lo:.0f}, {100 * hi:.0f}] | {r['mean_dp_requested_way']:+.3f} | "
              f"{100 * r['control_moved']:.0f} % [{100 * clo:.0f}, {100 * chi:.0f}] | {r['control_mean_dp']:+.3f} |")
    print("\n(dp: change of p(pneumonia) in the requested direction, i.e. sign-flipped for PNEUMONIA -> NORMAL)")
    if args.grid:
        from PIL import Image

        k = min(8, len(items))
        tiles = []
        for i in range(k):
            row = [(x[i] + 1) / 2, m[i].astype(np.float32), (edit[i] + 1) / 2, (ctrl[i] + 1) / 2]
            tiles.append(np.concatenate([np.pad(t, 1, constant_values=1.0) for t in row], axis=1))
        grid = np.concatenate(tiles, axis=0)
        args.grid.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rint(np.clip(grid, 0, 1) * 255).astype(np.uint8)).resize(
            (grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST).save(args.grid)
        print(f"grid (rows: {', '.join(items[i][1] + '->' + ('PNEUMONIA' if items[i][1] == 'NORMAL' else 'NORMAL') for i in range(k))}; "
              f"columns input | mask | edit | control) -> {args.grid}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
                                         "seconds_per_image": t_edit}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
