"""Train the MONAI 2D DDPM tutorial recipe on the CXR train split: the baseline of ``bench/bench_cxr.py``.

Recipe as in MONAI's generative tutorial ``2d_ddpm_tutorial`` (MedNIST hands, 64x64): an
unconditional ``DiffusionModelUNet`` with channels (128, 256, 256), attention at the two
lower levels, one residual block per level, head channels 256, 1000-step DDPM noise
schedule, Adam-type optimiser at lr 2.5e-5, batch 64. Only the data differ (chest X-rays of
``cxr-pneumonia/train`` at 64 px) and the training loop is radsynth's (same EMA, bf16
autocast, patient-aware validation split as the shipped model) so that the comparison
isolates the recipe. ``--max-minutes`` should match the shipped model's training minutes
(its card gives the wall time) for a same-budget comparison.

Usage: .venv/bin/python scripts/train_monai_tutorial_ddpm.py --max-minutes 135 [--threads 1]
then:  .venv/bin/python bench/bench_cxr.py --baseline-model runs/monai-tutorial-ddpm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from radsynth.generators.cli import train_command
    from radsynth.generators.common.data import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir() / "cxr-pneumonia" / "train")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "monai-tutorial-ddpm")
    ap.add_argument("--max-minutes", type=float, required=True)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if a.data.resolve().name.lower() == "test":
        print("error: --data: the held-out test split must never be trained on", file=sys.stderr)
        return 2
    resume = (a.out / "checkpoint").is_dir()
    train_command(data=a.data, out=a.out, arch="ddpm", image_size=64, condition="none", resume=resume,
                  max_minutes=a.max_minutes, batch_size=64, lr=2.5e-5, seed=0, channels="128,256,256",
                  attention="0,1,1", threads=a.threads, data_licence="CC BY 4.0 (Kermany et al. 2018)",
                  progress=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
