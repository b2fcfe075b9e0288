"""Undersampled-MRI reconstructor: cascades of a small MONAI U-Net on the magnitude image, each followed by a
hard k-space data-consistency projection (single coil, 2-D Cartesian, 1-D masks of :mod:`.mri_kspace_pairs`).

Model (an unrolled "deep cascade", Schlemper et al., IEEE TMI 37:2, 2018; U-Net body: ``monai.networks.nets.UNet``)::

    k0 = m * F(x_true)            measured k-space (masked columns), s = 99.5th percentile of |F^-1(k0)|
    x_0 = |F^-1(k0)| / s          zero-filled magnitude (the baseline), normalised
    for c in cascades:
        y   = x_c + g_c * UNet_c(x_c)                          (residual; gain g_c starts at 0)
        k   = m * k0 / s + (1 - m) * F(y)                      (hard data consistency: measured lines kept exactly)
        x_c+1 = |F^-1(k)|
    reconstruction = s * x_C        (and the complex image s * F^-1(k), whose k-space equals k0 on sampled lines)

Untrained (all gains 0) the model is one data-consistency step applied to the zero-filled magnitude. Training:
simulated slices only (:func:`.mri_kspace_pairs.simulate_mri_slices`), a fresh random mask per example (MONAI
``RandomKspaceMask`` drawn from the training seed), the 8 flips / 90-degree rotations, L1 loss on the normalised
magnitude, Adam with cosine decay, the highest subject id held out for validation (fixed masks). The U-Nets run
under bf16 autocast on the CPU only when ``bf16`` (off by default: ~15x slower than float32 on the 2-core CPU
measured; FFTs and data consistency always float32). Deterministic for a seed
(same machine and thread count).

Model folder (shipped: ``radsynth/data/models/mri-recon-4x``): ``config.json`` (``format`` :data:`MODEL_FORMAT`,
the :class:`MRIReconConfig`), ``weights.safetensors``, ``MODEL_CARD.md``, ``training.json``, ``metrics.json``.
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
from radsynth.generators.enhancement.mri_kspace_pairs import (
    DEFAULT_ACCELERATION, DEFAULT_CENTER_FRACTION, MaskParams, fft2c, ifft2c, mask_array, sample_mask)

MODEL_FORMAT = "radsynth-mri-recon/1"
SHIPPED_MODEL = "mri-recon-4x"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
NORM_QUANTILE = 0.995


class MRIReconConfig(JsonConfigMixin, BaseModel):
    """Network and training settings (serialised into the model folder's ``config.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: tuple[int, ...] = Field((16, 32, 64, 128), description="U-Net channels per level")
    strides: tuple[int, ...] = Field((2, 2, 2), description="U-Net down-sampling strides (len(channels) - 1)")
    num_res_units: int = Field(2, ge=0, le=4)
    cascades: int = Field(2, ge=1, le=8, description="U-Net + data-consistency blocks")
    acceleration: float = Field(DEFAULT_ACCELERATION, ge=1.0, le=32.0, description="training mask acceleration")
    center_fraction: float = Field(DEFAULT_CENTER_FRACTION, gt=0.0, le=1.0, description="fully sampled centre")
    mask_pattern: str = Field("random", pattern="^(random|equispaced)$")
    batch_size: int = Field(8, ge=1, le=1024)
    lr: float = Field(1e-3, gt=0, le=1)
    lr_min: float = Field(5e-5, ge=0, le=1)
    gain_lr_factor: float = Field(10.0, gt=0, le=1000)
    max_steps: int = Field(2000, ge=1)
    max_minutes: float | None = Field(None, gt=0, description="wall-clock budget (minutes); None: max_steps only")
    val_every: int = Field(200, ge=1)
    bf16: bool = Field(False, description="bf16 autocast of the U-Nets (CPU; measured ~15x SLOWER than float32 on this CPU)")
    seed: int = 0

    def check(self) -> None:
        if len(self.strides) != len(self.channels) - 1:
            raise RadsynthInputError("strides", list(self.strides), f"{len(self.channels) - 1} strides (len(channels) - 1)")
        if self.center_fraction > 1.0 / self.acceleration:
            raise RadsynthInputError("center_fraction", self.center_fraction, f"at most 1/acceleration ({1 / self.acceleration:.3g})")

    @property
    def multiple(self) -> int:
        return int(np.prod(self.strides)) if self.strides else 1




def build_network(cfg: MRIReconConfig) -> Any:
    """``cfg.cascades`` x (residual ``monai.networks.nets.UNet`` with a zero-initialised gain + hard data
    consistency). ``forward(x0, k0, mask)``: x0 (B, 1, H, W) normalised zero-filled magnitude (any H, W >= 8), k0 (B, H, W) complex normalised measured k-space, mask (B, W) or (W,) float {0, 1};
    returns the complex image (B, H, W) after the last data-consistency step."""
    import torch
    from monai.networks.nets import UNet

    class CascadeRecon(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unets = torch.nn.ModuleList(
                UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=tuple(cfg.channels),
                     strides=tuple(cfg.strides), num_res_units=cfg.num_res_units, norm=None)
                for _ in range(cfg.cascades))
            self.gain = torch.nn.Parameter(torch.zeros(cfg.cascades))

        def forward(self, x0: Any, k0: Any, mask: Any) -> Any:
            m = mask.reshape(mask.shape[0] if mask.ndim == 2 else 1, 1, -1).to(torch.float32)
            h, w = x0.shape[-2:]
            ph, pw = (-h) % cfg.multiple, (-w) % cfg.multiple  # U-Nets run on a zero-padded frame
            x = x0
            img = None
            for c, unet in enumerate(self.unets):
                xp = torch.nn.functional.pad(x, (0, pw, 0, ph)) if ph or pw else x
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(cfg.bf16) and x.device.type == "cpu"):
                    r = unet(xp)
                y = x[:, 0] + self.gain[c] * r.float()[:, 0, :h, :w]
                img = ifft2c(m * k0 + (1 - m) * fft2c(y))  # hard data consistency at the native size
                x = img.abs()[:, None]
            return img

    return CascadeRecon()


def _prepare(kspace: np.ndarray) -> tuple[Any, Any, np.ndarray]:
    """(x0 = |F^-1(k)| / s (B, 1, H, W), k / s (B, H, W), s (B,)): s = the zero-filled image's 99.5th percentile."""
    import torch

    k = torch.from_numpy(np.ascontiguousarray(kspace, dtype=np.complex64))
    zf = ifft2c(k).abs()
    s = torch.quantile(zf.reshape(zf.shape[0], -1), NORM_QUANTILE, dim=1).clamp_min(1e-12)
    return (zf / s[:, None, None])[:, None], k / s[:, None, None], s.numpy()


def reconstruct_kspace(kspace: np.ndarray, mask: np.ndarray, net: Any, cfg: MRIReconConfig,
                       batch_slices: int = 8) -> np.ndarray:
    """Reconstruct single-coil Cartesian k-space (H, W) or (N, H, W) (centred, :func:`.fft2c` convention; unsampled
    columns are ignored) with column mask (W,) -> complex64 image(s) of the same shape. The result's k-space equals
    the input on the sampled columns (hard data consistency); its modulus is the magnitude image."""
    import torch

    k = np.asarray(kspace)
    m = np.asarray(mask).astype(bool).reshape(-1)
    squeeze = k.ndim == 2
    if squeeze:
        k = k[None]
    if k.ndim != 3 or k.shape[-1] != m.shape[0] or min(k.shape[1:]) < 8 or not np.all(np.isfinite(k)):
        raise RadsynthInputError("kspace", list(k.shape), f"finite k-space (H, W) or (N, H, W), H, W >= 8, with W = mask length {m.shape[0]}")
    if not m.any():
        raise RadsynthInputError("mask", "no sampled column", "a column mask with at least one sampled column")
    k = k * m  # unsampled columns carry no measurement
    mt = torch.from_numpy(m.astype(np.float32))
    out = np.empty(k.shape, np.complex64)
    with torch.no_grad():
        for z0 in range(0, k.shape[0], batch_slices):
            x0, kn, s = _prepare(k[z0:z0 + batch_slices])
            out[z0:z0 + batch_slices] = net(x0, kn, mt).numpy() * s[:, None, None]
    return out[0] if squeeze else out


def retrospective(image: np.ndarray, params: MaskParams, net: Any, cfg: MRIReconConfig) -> tuple[np.ndarray, np.ndarray]:
    """(zero-filled magnitude, reconstructed magnitude), float32, of magnitude slice(s) (H, W) / (N, H, W)
    undersampled with ``params`` (columns of the last axis)."""
    x = np.asarray(image, np.float32)
    if x.ndim not in (2, 3) or min(x.shape[-2:]) < 8 or not np.all(np.isfinite(x)):
        raise RadsynthInputError("image", list(x.shape), "finite magnitude slices (H, W) or (N, H, W), H, W >= 8")
    m = mask_array(params)
    if m.shape[0] != x.shape[-1]:
        raise RadsynthInputError("mask", params.n_columns, f"{x.shape[-1]} columns (the image width)")
    k = fft2c(x) * m
    zf = np.abs(ifft2c(k)).astype(np.float32)
    return zf, np.abs(reconstruct_kspace(k, m, net, cfg)).astype(np.float32)


def _augment(a: np.ndarray, k: int) -> np.ndarray:
    if k & 4:
        a = a[..., ::-1, :]
    return np.rot90(a, k & 3, axes=(-2, -1))


def _masks(rng: np.random.Generator, n: int, w: int, cfg: MRIReconConfig) -> np.ndarray:
    return np.stack([mask_array(sample_mask(w, cfg.acceleration, cfg.center_fraction, int(rng.integers(2 ** 31)),
                                            cfg.mask_pattern)) for _ in range(n)])


def train_mri_recon(images: np.ndarray, subject: np.ndarray, cfg: MRIReconConfig,
                    progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """Train on fully sampled magnitude slices ``images`` (S, H, W) with
    ``subject`` (S,) ids (the highest id is held out for validation when there are >= 2).

    Returns (network in eval mode, summary: steps, seconds, losses, validation PSNR (dB) curve: zero-filled and model).
    """
    import torch

    from radsynth.generators.common.loop import seeded, setup_device

    images, subject = np.asarray(images, np.float32), np.asarray(subject)
    if images.ndim != 3 or subject.shape != (images.shape[0],) or min(images.shape[1:]) < 8:
        raise RadsynthInputError("images", list(images.shape), "(S, H, W) slices (H, W >= 8) with subject (S,)")
    setup_device("cpu")
    val_subject = int(subject.max()) if len(np.unique(subject)) >= 2 else None
    tr = np.flatnonzero(subject != val_subject) if val_subject is not None else np.arange(len(subject))
    va = np.flatnonzero(subject == val_subject) if val_subject is not None else np.zeros(0, int)
    va = va[np.unique(np.linspace(0, len(va) - 1, min(len(va), 48)).round().astype(int))] if len(va) else va
    (net,) = seeded(cfg.seed, lambda: build_network(cfg))
    gain = [p for n, p in net.named_parameters() if n == "gain"]
    rest = [p for n, p in net.named_parameters() if n != "gain"]
    opt = torch.optim.Adam([{"params": rest, "scale": 1.0}, {"params": gain, "scale": cfg.gain_lr_factor}], lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    w = images.shape[2]
    vmasks = _masks(np.random.default_rng(cfg.seed + 1), len(va), w, cfg) if len(va) else None

    def batch(idx: np.ndarray, masks: np.ndarray, augs: np.ndarray | None) -> tuple[Any, Any, Any, Any]:
        x = np.stack([_augment(images[s], int(a)) for s, a in zip(idx, augs if augs is not None else np.zeros(len(idx), int))])
        k = fft2c(np.ascontiguousarray(x)) * masks[:, None, :]
        x0, kn, s = _prepare(k)
        y = torch.from_numpy(x / s[:, None, None])
        return x0, kn, torch.from_numpy(masks.astype(np.float32)), y

    def validate() -> dict[str, float]:
        net.eval()
        ps_zf, ps_net = [], []
        with torch.no_grad():
            for i0 in range(0, len(va), 16):
                x0, kn, mt, y = batch(va[i0:i0 + 16], vmasks[i0:i0 + 16], None)
                out = net(x0, kn, mt).abs()
                for j in range(len(y)):
                    peak = float(y[j].max()) ** 2
                    ps_zf.append(10 * math.log10(peak / float(((x0[j, 0] - y[j]) ** 2).mean())))
                    ps_net.append(10 * math.log10(peak / float(((out[j] - y[j]) ** 2).mean())))
        net.train()
        return {"psnr_zero_filled": float(np.mean(ps_zf)), "psnr_model": float(np.mean(ps_net))}

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
        idx = rng.choice(tr, cfg.batch_size)
        x0, kn, mt, y = batch(idx, _masks(rng, cfg.batch_size, w, cfg), rng.integers(0, 8, cfg.batch_size))
        loss = torch.mean(torch.abs(net(x0, kn, mt).abs() - y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if len(va) and (step % cfg.val_every == 0 or step == cfg.max_steps):
            val_curve.append((step, validate()))
            if progress:
                v = val_curve[-1][1]
                print(f"  step {step}: loss {np.mean(losses[-cfg.val_every:]):.4f}, val PSNR zero-filled "
                      f"{v['psnr_zero_filled']:.2f} -> model {v['psnr_model']:.2f} dB, {time.perf_counter() - t0:.0f} s",
                      flush=True)
    net.eval()
    summary = {"steps": step, "seconds": round(time.perf_counter() - t0, 1), "params": count_parameters(net),
               "final_loss": float(np.mean(losses[-50:])) if losses else None, "losses": losses,
               "val_curve": val_curve, "n_train_slices": int(len(tr)), "n_val_slices": int(len(va)),
               "val_subject": val_subject}
    return net, summary


def save_recon(out_dir: str | os.PathLike[str], net: Any, cfg: MRIReconConfig, extra: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` + ``weights.safetensors`` into ``out_dir`` (created)."""
    from radsynth.generators.common.model_folder import save_model_folder

    return save_model_folder(out_dir, net, {
        "format": MODEL_FORMAT, "network": f"{cfg.cascades} x monai.UNet (residual) + k-space data consistency",
        "kind": "enhancer", "task": "undersampled single-coil Cartesian MRI reconstruction (magnitude slices)",
        "config": cfg.model_dump(mode="json"), **(extra or {})})


def model_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A model folder path, or the shipped model of that name; RadsynthInputError otherwise."""
    from radsynth.generators.common.model_folder import model_folder

    return model_folder(name_or_path, "an MRI reconstructor", SHIPPED_MODEL)


def load_recon(name_or_path: str | os.PathLike[str] = SHIPPED_MODEL) -> tuple[Any, MRIReconConfig, dict[str, Any]]:
    """(network in eval mode, config, config.json document) of a reconstructor folder or the shipped model."""
    from radsynth.generators.common.model_folder import load_model_folder

    return load_model_folder(name_or_path, fmt=MODEL_FORMAT, what="an MRI reconstructor", shipped=SHIPPED_MODEL,
                             config_from_json=MRIReconConfig.from_json, build=build_network)


def reconstruct_mri(kspace: np.ndarray, mask: np.ndarray, model: str | os.PathLike[str] = SHIPPED_MODEL) -> np.ndarray:
    """Python API: magnitude image(s) float32 from centred single-coil k-space (H, W) / (N, H, W) and its column
    mask (W,), with a model folder or the shipped ``mri-recon-4x``."""
    net, cfg, _ = load_recon(model)
    return np.abs(reconstruct_kspace(kspace, mask, net, cfg)).astype(np.float32)


NIFTI_SUFFIXES = (".nii.gz", ".nii")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _kind_of(path: Path) -> str | None:
    low = path.name.lower()
    return "nifti" if low.endswith(NIFTI_SUFFIXES) else "image" if low.endswith(IMAGE_SUFFIXES) else None


def zero_filled_path(out: str | os.PathLike[str]) -> Path:
    """``OUT_zerofilled.<ext>`` next to ``out`` (the default place of the zero-filled image)."""
    p = Path(out)
    low = p.name.lower()
    ext = next((s for s in (*NIFTI_SUFFIXES, *IMAGE_SUFFIXES) if low.endswith(s)), p.suffix)
    return p.with_name(p.name[:len(p.name) - len(ext)] + "_zerofilled" + p.name[len(p.name) - len(ext):])


def reconstruct_file(src: str | os.PathLike[str], out: str | os.PathLike[str], *,
                     zero_filled: str | os.PathLike[str] | None = None, acceleration: float = DEFAULT_ACCELERATION,
                     center_fraction: float = DEFAULT_CENTER_FRACTION, seed: int = 0, pattern: str = "random",
                     model: str | os.PathLike[str] = SHIPPED_MODEL) -> tuple[Path, Path, MaskParams]:
    """Retrospectively undersample a fully sampled magnitude MR image and reconstruct it (QA / teaching).

    ``src``: NIfTI (2-D or 3-D; slices = the array's first two axes, k-space columns along its second axis, one
    mask for every slice) or PNG / JPEG (grey, columns = image columns). Writes the reconstruction to ``out`` and
    the zero-filled image to ``zero_filled`` (default :func:`zero_filled_path`), both of the input's kind (NIfTI:
    float32 with the input's affine; image: 16-bit PNG on the input's [0, 1] grey scale), marked as radsynth output
    derived from a real image, with the mask parameters in the provenance. Everything is checked before anything
    is written (bad input: RadsynthInputError). Returns (out, zero_filled, mask parameters).
    """
    src_p, out_p = Path(src), Path(out)
    zf_p = Path(zero_filled) if zero_filled is not None else zero_filled_path(out_p)
    kind = _kind_of(src_p)
    if kind is None:
        raise RadsynthInputError("input", str(src_p), "a NIfTI (.nii / .nii.gz) or PNG / JPEG magnitude MR image")
    for opt, p in (("--out", out_p), ("--zero-filled", zf_p)):
        want = NIFTI_SUFFIXES if kind == "nifti" else (".png",)
        if not p.name.lower().endswith(want):
            raise RadsynthInputError(opt, str(p), f"a file name ending in {' or '.join(want)} (the input is a {kind})")
        if p.exists():
            raise RadsynthInputError(opt, str(p), "a path that does not exist yet (radsynth never overwrites)")
    if zf_p.resolve() == out_p.resolve():
        raise RadsynthInputError("--zero-filled", str(zf_p), "a path other than --out")
    if not src_p.is_file():
        raise RadsynthInputError("input", str(src_p), "an existing NIfTI / PNG / JPEG file")
    affine = None
    if kind == "nifti":
        import nibabel as nib

        try:
            img = nib.load(str(src_p))
            data = np.asarray(img.dataobj, dtype=np.float32)
            affine = img.affine
        except Exception as exc:  # nibabel raises many types for unreadable files
            raise RadsynthInputError("input", str(src_p), "a readable NIfTI file", str(exc)[:120]) from None
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
    else:
        from radsynth.generators.common.data import read_image

        data = read_image(src_p)
    if data.ndim not in (2, 3) or min(data.shape[:2]) < 8:
        raise RadsynthInputError("input shape", list(data.shape), "a 2-D or 3-D image (slices >= 8x8 pixels)")
    if not np.all(np.isfinite(data)):
        raise RadsynthInputError("input values", "NaN or inf", "finite magnitude values")
    lo, hi = float(data.min()), float(data.max())
    if hi <= 0 or lo < -0.01 * hi:
        raise RadsynthInputError("input values", f"{lo:g}..{hi:g}", "a magnitude MR image (values >= 0, not all 0)")
    params = sample_mask(data.shape[1], acceleration, center_fraction, seed, pattern)
    net, cfg, _ = load_recon(model_path(model))
    slices = np.moveaxis(data, 2, 0) if data.ndim == 3 else data[None]
    zf, rec = retrospective(slices, params, net, cfg)
    if data.ndim == 3:
        zf, rec = np.moveaxis(zf, 0, 2), np.moveaxis(rec, 0, 2)
    else:
        zf, rec = zf[0], rec[0]
    mask_doc = {**params.model_dump(mode="json", exclude={"columns"}), "n_sampled_columns": len(params.columns),
                "realised_acceleration": round(params.realised_acceleration, 4), "axis": "columns (array axis 1)"}
    base = {"generator_version": MODEL_FORMAT, "input": src_p.name, "derived_from_real": True, "mask": mask_doc,
            "seed": int(seed)}
    prov_zf = {**base, "generator": "retrospective-undersampling",
               "processing": "retrospectively undersampled k-space, zero-filled inverse FFT (no learned model)"}
    prov_rec = {**base, "generator": "learned-mri-recon", "model": Path(model_path(model)).name,
                "processing": "AI reconstructed from retrospectively undersampled k-space (learned, trained on simulated MRI)"}
    if kind == "nifti":
        from radsynth.io.nifti import write_nifti

        write_nifti(zf_p, zf, affine, description="zero-filled undersampled MR", provenance=prov_zf)
        write_nifti(out_p, rec, affine, description=f"MR reconstructed by {prov_rec['model']}", provenance=prov_rec)
    else:
        from radsynth.io.png import write_png16

        write_png16(zf_p, zf, (0.0, 1.0), provenance=prov_zf, description="zero-filled undersampled MR")
        write_png16(out_p, rec, (0.0, 1.0), provenance=prov_rec, description=f"MR reconstructed by {prov_rec['model']}")
    return out_p, zf_p, params
