"""Low-dose CT denoiser: a small MONAI U-Net predicting the noise residual of an FBP slice (HU in, HU out).

Model (residual learning, DnCNN: Zhang et al., "Beyond a Gaussian denoiser: residual learning of deep CNN
for image denoising", IEEE TIP 26:7, 2017; U-Net body: Ronneberger et al., MICCAI 2015, here
``monai.networks.nets.UNet`` with residual units)::

    x = clip(HU, hu_min, hu_max) / hu_scale          (normalised HU; 1 unit = hu_scale HU, default 100 HU)
    n = g * UNet(x)                                  (estimated noise, normalised HU; gain g starts at 0)
    denoised HU = HU - hu_scale * n                  (values outside the clip window keep their offset)

Training: paired slices of the same simulated anatomy (:mod:`.ct_pairs`: physics low-dose scans at several
mAs -> the noise-free reconstruction, and sharp-target pairs: the anatomy's monochromatic HU + inserted
projection-domain noise -> that HU; the full dose is one of the inputs so the model also learns to leave a
clean image almost alone), random ``patch_size`` crops holding body (noise-free HU > -500 on at
least half the crop), flips and 90-degree rotations, MSE in normalised HU, Adam with a cosine learning-rate
decay, one validation subject held out. Deterministic for a seed (same machine and thread count).

Model folder (shipped: ``radsynth/data/models/ct-denoiser-ld``): ``config.json`` (``format``
:data:`MODEL_FORMAT`, the :class:`CTDenoiserConfig`, training summary), ``weights.safetensors``, ``MODEL_CARD.md``.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.config_base import JsonConfigMixin, count_parameters
from radsynth.generators.enhancement.ct_pairs import HU_MAX, HU_MIN

MODEL_FORMAT = "radsynth-ct-denoiser/1"
SHIPPED_MODEL = "ct-denoiser-ld"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


class CTDenoiserConfig(JsonConfigMixin, BaseModel):
    """Network and training settings (serialised into the model folder's ``config.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: tuple[int, ...] = Field((24, 48, 96), description="U-Net channels per level")
    strides: tuple[int, ...] = Field((2, 2), description="U-Net down-sampling strides (len(channels) - 1)")
    num_res_units: int = Field(2, ge=0, le=4)
    hu_min: float = Field(HU_MIN, description="clip window low (HU) before normalisation")
    hu_max: float = Field(HU_MAX, description="clip window high (HU) before normalisation")
    hu_scale: float = Field(100.0, gt=0, description="HU per normalised unit (100: noise of a few to tens of HU is O(0.1))")
    patch_size: int = Field(64, ge=16, le=512, description="training crop (pixels)")
    batch_size: int = Field(16, ge=1, le=1024)
    lr: float = Field(1e-3, gt=0, le=1)
    lr_min: float = Field(1e-4, ge=0, le=1)
    gain_lr_factor: float = Field(10.0, gt=0, le=1000, description="learning-rate multiplier of the output gain")
    max_steps: int = Field(1000, ge=1)
    max_minutes: float | None = Field(None, gt=0, description="wall-clock budget (minutes); None: max_steps only")
    val_every: int = Field(100, ge=1)
    seed: int = 0

    def check(self) -> None:
        if len(self.strides) != len(self.channels) - 1:
            raise RadsynthInputError("strides", list(self.strides), f"{len(self.channels) - 1} strides (len(channels) - 1)")
        if not self.hu_min < self.hu_max:
            raise RadsynthInputError("hu_max", self.hu_max, f"a value above hu_min {self.hu_min}")
        if self.patch_size % self.multiple:
            raise RadsynthInputError("patch_size", self.patch_size, f"a multiple of {self.multiple} (product of strides)")

    @property
    def multiple(self) -> int:
        return int(np.prod(self.strides)) if self.strides else 1




def build_network(cfg: CTDenoiserConfig) -> Any:
    """The noise estimator: ``monai.networks.nets.UNet`` (2-D, 1 -> 1 channel, residual units, no norm) times a
    learnable output gain initialised to 0, so an untrained model is the identity (denoised = input)."""
    import torch
    from monai.networks.nets import UNet

    class ResidualNoiseNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=tuple(cfg.channels),
                             strides=tuple(cfg.strides), num_res_units=cfg.num_res_units, norm=None)
            self.gain = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x: Any) -> Any:
            return self.unet(x) * self.gain

    return ResidualNoiseNet()


def _normalise(hu: np.ndarray, cfg: CTDenoiserConfig) -> np.ndarray:
    return (np.clip(hu, cfg.hu_min, cfg.hu_max) / cfg.hu_scale).astype(np.float32)


def _augment(a: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips / rotations of the last two axes."""
    if k & 4:
        a = a[..., ::-1, :]
    return np.rot90(a, k & 3, axes=(-2, -1))


def _crops(rng: np.random.Generator, truth: np.ndarray, idx: np.ndarray, size: int) -> list[tuple[int, int, int]]:
    out = []
    nx, ny = truth.shape[1:]
    for s in idx:
        for _ in range(20):  # a crop that is mostly body
            i, j = int(rng.integers(0, nx - size + 1)), int(rng.integers(0, ny - size + 1))
            if (truth[s, i:i + size, j:j + size] > -500.0).mean() >= 0.5:
                break
        out.append((int(s), i, j))
    return out


def train_ct_denoiser(images: np.ndarray, truth: np.ndarray, subject: np.ndarray, cfg: CTDenoiserConfig,
                      progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """Train on paired slices: ``images`` (S, D, nx, ny) HU at D doses, ``truth`` (S, nx, ny) noise-free HU,
    ``subject`` (S,) subject ids (the highest id is held out for validation when there are >= 2).

    Returns (network in eval mode, summary: steps, seconds, losses, validation RMSE (HU) curve per dose).
    """
    import torch

    from radsynth.generators.common.loop import seeded, setup_device

    images, truth, subject = np.asarray(images, np.float32), np.asarray(truth, np.float32), np.asarray(subject)
    if images.ndim != 4 or truth.shape != (images.shape[0], *images.shape[2:]) or subject.shape != (images.shape[0],):
        raise RadsynthInputError("images", images.shape, "(S, D, nx, ny) HU with truth (S, nx, ny) and subject (S,)")
    if min(images.shape[2:]) < cfg.patch_size:
        raise RadsynthInputError("patch_size", cfg.patch_size, f"at most the slice size {images.shape[2:]}")
    dev = setup_device("cpu")
    val_subject = int(subject.max()) if len(np.unique(subject)) >= 2 else None
    tr = np.flatnonzero(subject != val_subject) if val_subject is not None else np.arange(len(subject))
    va = np.flatnonzero(subject == val_subject) if val_subject is not None else np.zeros(0, int)
    (net,) = seeded(cfg.seed, lambda: build_network(cfg))
    net = net.to(dev)
    gain = [p for n, p in net.named_parameters() if n == "gain"]
    rest = [p for n, p in net.named_parameters() if n != "gain"]
    opt = torch.optim.Adam([{"params": rest, "scale": 1.0}, {"params": gain, "scale": cfg.gain_lr_factor}], lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    vrng = np.random.default_rng(cfg.seed + 1)
    vcrops = _crops(vrng, truth, np.repeat(va, 4), cfg.patch_size) if len(va) else []
    n_dose = images.shape[1]

    def batch(crops: list[tuple[int, int, int]], doses: np.ndarray, augs: np.ndarray | None) -> tuple[Any, Any]:
        p = cfg.patch_size
        xs, ys = [], []
        for (s, i, j), d, k in zip(crops, doses, augs if augs is not None else np.zeros(len(crops), int)):
            xs.append(_augment(images[s, d, i:i + p, j:j + p], int(k)))
            ys.append(_augment(truth[s, i:i + p, j:j + p], int(k)))
        x = torch.from_numpy(_normalise(np.stack(xs), cfg)[:, None].copy())
        y = torch.from_numpy(_normalise(np.stack(ys), cfg)[:, None].copy())
        return x.to(dev), y.to(dev)

    def validate() -> dict[str, float]:
        out = {}
        net.eval()
        with torch.no_grad():
            for d in range(n_dose):
                x, y = batch(vcrops, np.full(len(vcrops), d), None)
                pred = x - net(x)
                out[str(d)] = float(torch.sqrt(((pred - y) ** 2).mean())) * cfg.hu_scale
                out[f"{d}_input"] = float(torch.sqrt(((x - y) ** 2).mean())) * cfg.hu_scale
        net.train()
        return out

    losses: list[float] = []
    val_curve: list[tuple[int, dict[str, float]]] = []
    t0 = time.perf_counter()
    step = 0
    net.train()
    while step < cfg.max_steps:
        if cfg.max_minutes is not None and time.perf_counter() - t0 > 60.0 * cfg.max_minutes:
            break
        lr = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * step / cfg.max_steps))
        for g in opt.param_groups:
            g["lr"] = lr * g["scale"]
        crops = _crops(rng, truth, rng.choice(tr, cfg.batch_size), cfg.patch_size)
        x, y = batch(crops, rng.integers(0, n_dose, cfg.batch_size), rng.integers(0, 8, cfg.batch_size))
        loss = torch.mean((x - net(x) - y) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if vcrops and (step % cfg.val_every == 0 or step == cfg.max_steps):
            val_curve.append((step, validate()))
            if progress:
                v = val_curve[-1][1]
                print(f"  step {step}: loss {np.mean(losses[-cfg.val_every:]):.3e}, val RMSE (HU) per dose "
                      + ", ".join(f"{v[f'{d}_input']:.1f}->{v[str(d)]:.1f}" for d in range(n_dose))
                      + f", {time.perf_counter() - t0:.0f} s", flush=True)
    net.eval()
    summary = {"steps": step, "seconds": round(time.perf_counter() - t0, 1), "params": count_parameters(net),
               "final_loss": float(np.mean(losses[-50:])) if losses else None, "losses": losses,
               "val_curve": val_curve, "n_train_slices": int(len(tr)), "n_val_slices": int(len(va)),
               "val_subject": val_subject}
    return net, summary


def save_denoiser(out_dir: str | os.PathLike[str], net: Any, cfg: CTDenoiserConfig,
                  extra: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` + ``weights.safetensors`` into ``out_dir`` (created)."""
    from radsynth.generators.common.model_folder import save_model_folder

    return save_model_folder(out_dir, net, {
        "format": MODEL_FORMAT, "network": "monai.UNet (residual noise estimator)", "kind": "enhancer",
        "task": "low-dose CT denoising (axial slices, HU)", "config": cfg.model_dump(mode="json"), **(extra or {})})


def model_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A model folder path, or the shipped model of that name; RadsynthInputError otherwise."""
    from radsynth.generators.common.model_folder import model_folder

    return model_folder(name_or_path, "a CT denoiser", SHIPPED_MODEL)


def load_denoiser(name_or_path: str | os.PathLike[str] = SHIPPED_MODEL) -> tuple[Any, CTDenoiserConfig, dict[str, Any]]:
    """(network in eval mode, config, config.json document) of a denoiser folder or the shipped model."""
    from radsynth.generators.common.model_folder import load_model_folder

    return load_model_folder(name_or_path, fmt=MODEL_FORMAT, what="a CT denoiser", shipped=SHIPPED_MODEL,
                             config_from_json=CTDenoiserConfig.from_json, build=build_network)


def denoise_hu(hu: np.ndarray, net: Any, cfg: CTDenoiserConfig, batch_slices: int = 4) -> np.ndarray:
    """Denoise axial HU slices (nx, ny) or (nx, ny, z) -> float32 HU of the same shape (slice by slice)."""
    import torch

    a = np.asarray(hu, dtype=np.float32)
    squeeze = a.ndim == 2
    if squeeze:
        a = a[..., None]
    if a.ndim != 3 or min(a.shape[:2]) < 8 or not np.all(np.isfinite(a)):
        raise RadsynthInputError("image", a.shape, "finite HU slices (nx, ny) or (nx, ny, z), nx, ny >= 8")
    m = cfg.multiple
    nx, ny, nz = a.shape
    px, py = (-nx) % m, (-ny) % m
    out = np.empty_like(a)
    with torch.no_grad():
        for z0 in range(0, nz, batch_slices):
            sl = np.moveaxis(a[..., z0:z0 + batch_slices], 2, 0)  # (b, nx, ny)
            x = _normalise(np.pad(sl, ((0, 0), (0, px), (0, py)), mode="reflect"), cfg)
            noise = net(torch.from_numpy(x[:, None].copy()))[:, 0].numpy()[:, :nx, :ny]
            out[..., z0:z0 + batch_slices] = np.moveaxis(sl - cfg.hu_scale * noise, 0, 2)
    return out[..., 0] if squeeze else out


def denoise_ct(hu: np.ndarray, model: str | os.PathLike[str] = SHIPPED_MODEL) -> np.ndarray:
    """Python API: denoise HU slices with a model folder or the shipped ``ct-denoiser-ld``."""
    net, cfg, _ = load_denoiser(model)
    return denoise_hu(hu, net, cfg)


def denoise_nifti(src: str | os.PathLike[str], out: str | os.PathLike[str],
                  model: str | os.PathLike[str] = SHIPPED_MODEL) -> Path:
    """Denoise a CT NIfTI in HU (axial slices = the array's first two axes) into ``out`` (.nii/.nii.gz).

    Checks everything before writing (bad input: RadsynthInputError, nothing written). The output is float32
    HU with the input's affine, marked as processed (radsynth header + JSON sidecar, generator ``learned-ct-denoiser``: IPTC trainedAlgorithmicMedia).
    """
    import nibabel as nib

    from radsynth.io.nifti import write_nifti

    src_p, out_p = Path(src), Path(out)
    if not (out_p.name.lower().endswith(".nii.gz") or out_p.name.lower().endswith(".nii")):
        raise RadsynthInputError("--out", str(out_p), "a file name ending in .nii.gz or .nii")
    if not src_p.is_file():
        raise RadsynthInputError("input", str(src_p), "an existing NIfTI file (.nii / .nii.gz) of a CT in HU")
    try:
        img = nib.load(str(src_p))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for unreadable files
        raise RadsynthInputError("input", str(src_p), "a readable NIfTI file of a CT in HU", str(exc)[:120]) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim not in (2, 3) or min(data.shape[:2]) < 8:
        raise RadsynthInputError("input shape", list(data.shape), "a 2-D or 3-D CT (axial slices >= 8x8 pixels)")
    if not np.all(np.isfinite(data)):
        raise RadsynthInputError("input values", "NaN or inf", "finite HU")
    lo, hi = float(data.min()), float(data.max())
    if lo > -500.0 or hi > 40000.0 or lo < -40000.0:
        raise RadsynthInputError("input values", f"{lo:g}..{hi:g}", "a CT in HU (air near -1000 HU, at most 40000 HU)")
    mp = model_path(model)
    net, cfg, doc = load_denoiser(mp)
    den = denoise_hu(data, net, cfg)
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    prov = {"generator": "learned-ct-denoiser", "generator_version": MODEL_FORMAT, "model": mp.name,
            "input": src_p.name, "input_voxel_mm": zooms, "processing": "AI denoised (learned, trained on simulated CT)",
            "units": "HU"}
    return write_nifti(out_p, den, img.affine, description=f"CT denoised by {mp.name} (HU)", provenance=prov)
