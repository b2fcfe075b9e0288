"""Mask-guided DDPM: a MONAI diffusion U-Net conditioned on a lesion mask by channel concatenation.

Model (Ho et al., "Denoising Diffusion Probabilistic Models", NeurIPS 2020; conditioning by concatenating the
condition to the noisy image as in Saharia et al., "Palette: image-to-image diffusion models", SIGGRAPH 2022;
network: MONAI ``DiffusionModelUNet``, Pinaya et al., arXiv:2307.15208)::

    input  = [x_t, lesion, brain * has_brain, has_brain]     (4 channels, 64 x 64)
    output = epsilon (noise of x_t)                           (MONAI DDPMScheduler, epsilon prediction)

``lesion`` is the requested lesion mask (0/1), ``brain`` an optional brain (intracranial) mask that fixes where
the anatomy sits; ``has_brain`` is 1 when it is given, 0 otherwise (the brain channel is dropped with probability
``p_drop_brain`` during training so the model also works from a lesion mask alone). Sampling: MONAI
``DDIMScheduler`` (eta 0, ``sample_steps`` steps) from seeded Gaussian noise: same mask and seed, same image
(same machine and thread count).

Training data: :mod:`.data` (simulated FLAIR, the physics' own lesion masks). Evaluation
(``bench/bench_mask_guided.py``): a small MONAI U-Net lesion segmenter (:func:`train_segmenter`, trained on the
simulated training slices) segments each generated image; Dice against the requested mask.

Model folder (shipped: ``radsynth/data/models/brain-mask-ddpm-64``; the default model is the conditional GAN ``brain-mask-pix2pix-64``, :mod:`.pix2pix`): ``config.json`` (``format``
:data:`MODEL_FORMAT`, the :class:`MaskDDPMConfig`, summary), ``weights.safetensors``, ``MODEL_CARD.md``.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.config_base import JsonConfigMixin, count_parameters
from radsynth.generators.mask_guided.conditioning import COND_CHANNELS, condition, mask_batch

MODEL_FORMAT = "radsynth-mask-ddpm/1"
SHIPPED_MODEL = "brain-mask-pix2pix-64"  # the default; the DDPM "brain-mask-ddpm-64" ships too
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
#: field of view of the training frame (the mri-brain volume's 104 voxels of 2 mm, zero-padded to a square)
FRAME_MM = 208.0


class MaskDDPMConfig(JsonConfigMixin, BaseModel):
    """Network, noise schedule and training settings (serialised into ``config.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_size: int = Field(64, ge=8, le=512)
    sequence: str = Field("FLAIR", description="MR contrast the model was trained on")
    channels: tuple[int, ...] = (32, 64, 64)
    attention_levels: tuple[bool, ...] = (False, False, False)
    num_res_blocks: int = Field(1, ge=1, le=4)
    norm_num_groups: int = Field(16, ge=1)
    num_train_timesteps: int = Field(1000, ge=2)
    beta_start: float = Field(0.0005, gt=0, lt=1)
    beta_end: float = Field(0.0195, gt=0, lt=1)
    schedule: str = "scaled_linear_beta"
    sample_steps: int = Field(25, ge=1, le=1000, description="DDIM steps at sampling")
    p_drop_brain: float = Field(0.3, ge=0, le=1, description="probability of training without the brain mask")
    batch_size: int = Field(16, ge=1, le=1024)
    lr: float = Field(2e-3, gt=0, le=1)
    lr_min: float = Field(1e-4, ge=0, le=1)
    warmup_steps: int = Field(100, ge=0)
    max_steps: int = Field(1000, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    seed: int = 0

    def check(self) -> None:
        if len(self.attention_levels) != len(self.channels):
            raise RadsynthInputError("attention_levels", list(self.attention_levels), f"one flag per level ({len(self.channels)})")
        if any(c % self.norm_num_groups for c in self.channels):
            raise RadsynthInputError("channels", list(self.channels), f"multiples of norm_num_groups={self.norm_num_groups}")
        if self.image_size % (2 ** (len(self.channels) - 1)):
            raise RadsynthInputError("image_size", self.image_size, f"a multiple of {2 ** (len(self.channels) - 1)}")
        if self.sample_steps > self.num_train_timesteps:
            raise RadsynthInputError("sample_steps", self.sample_steps, f"at most num_train_timesteps={self.num_train_timesteps}")



def build_network(cfg: MaskDDPMConfig) -> Any:
    from monai.networks.nets import DiffusionModelUNet

    return DiffusionModelUNet(spatial_dims=2, in_channels=1 + COND_CHANNELS, out_channels=1,
                              channels=tuple(cfg.channels), attention_levels=tuple(cfg.attention_levels),
                              num_res_blocks=cfg.num_res_blocks, norm_num_groups=cfg.norm_num_groups,
                              num_head_channels=cfg.channels[-1])


def _schedule_kwargs(cfg: MaskDDPMConfig) -> dict[str, Any]:
    return {"num_train_timesteps": cfg.num_train_timesteps, "schedule": cfg.schedule,
            "beta_start": cfg.beta_start, "beta_end": cfg.beta_end}


def train_mask_ddpm(images: np.ndarray, lesion: np.ndarray, brain: np.ndarray, cfg: MaskDDPMConfig,
                    progress: bool = False, init_state: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train on paired slices ``images`` (S, H, W) in [-1, 1], ``lesion`` / ``brain`` (S, H, W) bool.

    Epsilon-prediction MSE, Adam, linear warm-up then cosine decay, random left-right flips, brain channel
    dropped with probability ``p_drop_brain``. Deterministic for a seed (same machine and thread count).
    ``init_state``: start from these weights (a continued run). Returns (network in eval mode, summary).
    """
    import torch
    from monai.networks.schedulers import DDPMScheduler

    from radsynth.generators.common.loop import seeded

    x_all = np.asarray(images, np.float32)
    s = cfg.image_size
    if x_all.ndim != 3 or x_all.shape[1:] != (s, s) or np.shape(lesion) != x_all.shape or np.shape(brain) != x_all.shape:
        raise RadsynthInputError("images", list(x_all.shape), f"(S, {s}, {s}) with lesion and brain masks of that shape")
    les, br = np.asarray(lesion, bool), np.asarray(brain, bool)
    (net,) = seeded(cfg.seed, lambda: build_network(cfg))
    if init_state is not None:
        net.load_state_dict(init_state)
    sched = DDPMScheduler(**_schedule_kwargs(cfg))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []
    t0 = time.perf_counter()
    step = 0
    net.train()
    while step < cfg.max_steps:
        if cfg.max_minutes is not None and time.perf_counter() - t0 > 60.0 * cfg.max_minutes:
            break
        if step < cfg.warmup_steps:
            lr = cfg.lr * (step + 1) / cfg.warmup_steps
        else:
            frac = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
            lr = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(0, len(x_all), cfg.batch_size)
        flip = rng.random(cfg.batch_size) < 0.5
        drop = rng.random(cfg.batch_size) < cfg.p_drop_brain
        xb, lb, bb = x_all[idx].copy(), les[idx].copy(), br[idx].copy()
        xb[flip], lb[flip], bb[flip] = xb[flip][:, :, ::-1], lb[flip][:, :, ::-1], bb[flip][:, :, ::-1]
        c = condition(lb, bb)
        c[drop, 1:] = 0.0
        x0 = torch.from_numpy(xb[:, None])
        cond = torch.from_numpy(c)
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, cfg.num_train_timesteps, (cfg.batch_size,), generator=gen)
        xt = sched.add_noise(original_samples=x0, noise=noise, timesteps=t)
        loss = torch.mean((net(torch.cat([xt, cond], 1), timesteps=t) - noise) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if progress and step % 200 == 0:
            print(f"  step {step}: loss {np.mean(losses[-200:]):.4f}, lr {lr:.2e}, {time.perf_counter() - t0:.0f} s", flush=True)
    net.eval()
    return net, {"steps": step, "seconds": round(time.perf_counter() - t0, 1), "params": count_parameters(net),
                 "final_loss": float(np.mean(losses[-100:])) if losses else None,
                 "losses": [round(v, 5) for v in losses], "n_train_slices": int(len(x_all))}


def sample_from_masks(net: Any, cfg: Any, lesion: np.ndarray, brain: np.ndarray | None = None, *,
                      seed: int = 0, steps: int | None = None, batch_size: int = 32) -> np.ndarray:
    """Images (N, H, W) float32 in [-1, 1] for lesion masks (N, H, W) (and brain masks or None), seeded: DDIM
    for a DDPM (``steps``, default the config's), one generator pass for a pix2pix model (``steps`` unused).

    Image ``i`` uses the noise of ``torch.Generator().manual_seed(seed + i)``, so it does not depend on the batch
    (up to float rounding that depends on the batch size; same call, same bytes).
    """
    import torch
    from monai.networks.schedulers import DDIMScheduler

    if sampler_name(cfg) == "pix2pix":
        from radsynth.generators.mask_guided import pix2pix

        return pix2pix.sample_from_masks(net, cfg, lesion, brain, seed=seed, batch_size=batch_size)

    les, brain = mask_batch(lesion, brain, cfg.image_size)
    s = cfg.image_size
    sch = DDIMScheduler(**_schedule_kwargs(cfg), clip_sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sch.set_timesteps(int(steps or cfg.sample_steps))
    cond_all = torch.from_numpy(condition(les, brain))
    out = np.empty(les.shape, np.float32)
    with torch.no_grad():
        for b0 in range(0, len(les), batch_size):
            cond = cond_all[b0:b0 + batch_size]
            x = torch.cat([torch.randn((1, 1, s, s), generator=torch.Generator().manual_seed(int(seed) + b0 + i))
                           for i in range(len(cond))])
            for t in sch.timesteps:
                tt = torch.full((len(x),), int(t), dtype=torch.long)
                eps = net(torch.cat([x, cond], 1), timesteps=tt)
                x, _ = sch.step(eps, int(t), x)
            out[b0:b0 + len(cond)] = np.clip(x[:, 0].numpy(), -1.0, 1.0)
    return out


def save_model(out_dir: str | os.PathLike[str], net: Any, cfg: MaskDDPMConfig, extra: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` + ``weights.safetensors`` into ``out_dir`` (created)."""
    from radsynth.generators.common.model_folder import save_model_folder

    return save_model_folder(out_dir, net, {
        "format": MODEL_FORMAT, "network": "monai.DiffusionModelUNet (lesion-mask conditioned, concatenation)",
        "kind": "mask-generator", "arch": "mask-ddpm", "image_size": cfg.image_size,
        "task": f"brain MRI {cfg.sequence} axial slice from a lesion mask", "config": cfg.model_dump(mode="json"),
        **(extra or {})})


def model_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A model folder path, or the shipped model of that name; RadsynthInputError otherwise."""
    from radsynth.generators.common.model_folder import model_folder

    return model_folder(name_or_path, "a mask-guided model", SHIPPED_MODEL)


def load_model(name_or_path: str | os.PathLike[str] = SHIPPED_MODEL) -> tuple[Any, Any, dict[str, Any]]:
    """(network in eval mode, config, config.json document) of a mask-guided model folder or the shipped model:
    a DDPM (:class:`MaskDDPMConfig`, format :data:`MODEL_FORMAT`) or a conditional GAN
    (:class:`~radsynth.generators.mask_guided.pix2pix.MaskPix2PixConfig`, its ``MODEL_FORMAT``), by the folder's
    ``format``; :func:`sample_from_masks` takes either."""
    from radsynth.generators.common.model_folder import load_model_folder
    from radsynth.generators.mask_guided import pix2pix

    p = model_path(name_or_path)
    fmt = json.loads((p / CONFIG_FILE).read_text()).get("format")
    if fmt == pix2pix.MODEL_FORMAT:
        return load_model_folder(p, fmt=pix2pix.MODEL_FORMAT, what="a mask-guided model", shipped=SHIPPED_MODEL,
                                 config_from_json=pix2pix.MaskPix2PixConfig.from_json, build=pix2pix.build_network)
    return load_model_folder(p, fmt=MODEL_FORMAT, what="a mask-guided model", shipped=SHIPPED_MODEL,
                             config_from_json=MaskDDPMConfig.from_json, build=build_network)


def sampler_name(cfg: Any) -> str:
    """How a model samples: ``ddim`` (the DDPM) or ``pix2pix`` (one generator pass)."""
    from radsynth.generators.mask_guided.pix2pix import MaskPix2PixConfig

    return "pix2pix" if isinstance(cfg, MaskPix2PixConfig) else "ddim"


def prepare_mask(mask: np.ndarray, size: int, what: str = "mask") -> np.ndarray:
    """A 2-D mask of any size -> bool (size, size): nonzero = lesion, zero-padded to a square, area-resized (> 0.5)."""
    from radsynth.generators.mask_guided.data import resize_area

    a = np.asarray(mask)
    if a.ndim == 3 and 1 in a.shape:
        a = a.reshape([d for d in a.shape if d != 1])
    if a.ndim != 2 or min(a.shape) < 8 or max(a.shape) > 4096:
        raise RadsynthInputError(what, list(a.shape), "a 2-D mask (8..4096 pixels a side), nonzero = lesion")
    if not np.issubdtype(a.dtype, np.number) and a.dtype != bool:
        raise RadsynthInputError(what, str(a.dtype), "a numeric or boolean mask")
    a = np.nan_to_num(a.astype(np.float32)) != 0
    if a.shape == (size, size):
        return a
    return resize_area(a.astype(np.float32), size) > 0.5


def generate_from_mask(mask: np.ndarray, model: str | os.PathLike[str] | tuple[Any, MaskDDPMConfig] = SHIPPED_MODEL, *,
                       seed: int = 0, brain: np.ndarray | None = None, steps: int | None = None) -> np.ndarray:
    """Python API: one synthetic MR slice (float32 (size, size) in [-1, 1]) whose lesion sits on ``mask``.

    ``mask``: 2-D array, nonzero = lesion (any size: zero-padded to a square and resized to the model's size);
    ``brain``: optional 2-D brain mask of the same shape (else the model places the brain itself; lesion pixels
    are always inside it). ``model``: a model name / folder, or a (network, config) pair. Same seed, same image.
    """
    if isinstance(model, tuple):
        net, cfg = model
    else:
        net, cfg, _ = load_model(model)
    les = prepare_mask(mask, cfg.image_size, "mask")
    b = None
    if brain is not None:
        if np.shape(brain) != np.shape(mask):
            raise RadsynthInputError("brain", list(np.shape(brain)), f"a mask of the lesion mask's shape {list(np.shape(mask))}")
        b = prepare_mask(brain, cfg.image_size, "brain") | les
    return sample_from_masks(net, cfg, les[None], None if b is None else b[None], seed=seed, steps=steps)[0]


# --------------------------------------------------------------------------------------------------------------
# evaluation: a small lesion segmenter trained on the simulated slices


def build_segmenter(channels: tuple[int, ...] = (16, 32, 64)) -> Any:
    from monai.networks.nets import UNet

    return UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=channels, strides=(2,) * (len(channels) - 1),
                num_res_units=1)


def train_segmenter(images: np.ndarray, lesion: np.ndarray, *, steps: int = 600, batch_size: int = 16,
                    lr: float = 2e-3, seed: int = 0, channels: tuple[int, ...] = (16, 32, 64)) -> Any:
    """MONAI U-Net lesion segmenter (image in [-1, 1] -> lesion logit), Dice + BCE, Adam, flips; eval mode."""
    import torch
    from monai.losses import DiceCELoss

    from radsynth.generators.common.loop import seeded

    (net,) = seeded(seed, lambda: build_segmenter(channels))
    loss_fn = DiceCELoss(sigmoid=True, batch=True)  # batch Dice: slices without lesion do not destabilise it
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    x_all, y_all = np.asarray(images, np.float32), np.asarray(lesion, bool).astype(np.float32)
    net.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        idx = rng.integers(0, len(x_all), batch_size)
        flip = rng.random(batch_size) < 0.5
        xb, yb = x_all[idx].copy(), y_all[idx].copy()
        xb[flip], yb[flip] = xb[flip][:, :, ::-1], yb[flip][:, :, ::-1]
        noise = rng.normal(0, 0.03, xb.shape).astype(np.float32)  # robustness to generator noise
        loss = loss_fn(net(torch.from_numpy(xb[:, None] + noise[:, None])), torch.from_numpy(yb[:, None]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    return net


def segment(net: Any, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Lesion masks (N, H, W) bool of images (N, H, W) in [-1, 1]."""
    import torch

    x = np.asarray(images, np.float32)
    out = np.empty(x.shape, bool)
    with torch.no_grad():
        for b0 in range(0, len(x), batch_size):
            out[b0:b0 + batch_size] = net(torch.from_numpy(x[b0:b0 + batch_size, None].copy()))[:, 0].numpy() > 0
    return out


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else float(2.0 * (a & b).sum() / s)


# --------------------------------------------------------------------------------------------------------------
# files (the ``radsynth generate-from-mask`` command)

MASK_SUFFIXES = (".png", ".nii", ".nii.gz", ".npy")
OUT_SUFFIXES = (".png", ".nii", ".nii.gz")


def read_mask(path: str | os.PathLike[str], what: str = "mask") -> np.ndarray:
    """A 2-D mask (nonzero = lesion) from PNG (grey or RGB; rows, columns as displayed), NIfTI (2-D, or 3-D with
    one slice; array axes 0, 1 = rows, columns) or .npy; RadsynthInputError naming ``what`` otherwise."""
    p = Path(path)
    low = p.name.lower()
    if not low.endswith(MASK_SUFFIXES):
        raise RadsynthInputError(what, str(p), "a mask file ending in .png, .nii, .nii.gz or .npy")
    if not p.is_file():
        raise RadsynthInputError(what, str(p), "an existing mask file (.png, .nii, .nii.gz or .npy)")
    try:
        if low.endswith(".npy"):
            a = np.load(p, allow_pickle=False)
        elif low.endswith(".png"):
            from PIL import Image

            with Image.open(p) as im:
                a = np.asarray(im.convert("L") if im.mode not in ("L", "I", "I;16", "1") else im)
        else:
            import nibabel as nib

            a = np.asarray(nib.load(str(p)).dataobj)
    except Exception as exc:  # readers raise many types for unreadable files
        raise RadsynthInputError(what, str(p), "a readable PNG / NIfTI / .npy mask", str(exc).splitlines()[0][:120] if str(exc) else "") from None
    a = np.squeeze(np.asarray(a))
    if a.ndim != 2:
        raise RadsynthInputError(f"{what} shape", list(np.shape(a)), "a 2-D mask (one slice), nonzero = lesion")
    if a.dtype.kind not in "biuf" or (a.dtype.kind == "f" and not np.all(np.isfinite(a))):
        raise RadsynthInputError(f"{what} values", str(a.dtype), "finite numbers or booleans, nonzero = lesion")
    return a


def generate_file(mask_path: str | os.PathLike[str], out: str | os.PathLike[str], *,
                  model: str | os.PathLike[str] = SHIPPED_MODEL, seed: int = 0,
                  brain_path: str | os.PathLike[str] | None = None, steps: int | None = None) -> Path:
    """Read a lesion mask file, generate a synthetic slice, write ``out`` (.png 16-bit on [-1, 1], or NIfTI float32
    in [-1, 1], pixel size of the training frame: 208 mm / image_size), marked as synthetic (learned generator). Everything is checked before anything is written (bad input: RadsynthInputError)."""
    out_p = Path(out)
    if not out_p.name.lower().endswith(OUT_SUFFIXES):
        raise RadsynthInputError("--out", str(out_p), "a file name ending in .png, .nii or .nii.gz")
    if out_p.exists():
        raise RadsynthInputError("--out", str(out_p), "a path that does not exist yet (radsynth never overwrites)")
    mask = read_mask(mask_path, "mask")
    if not (mask != 0).any():
        raise RadsynthInputError("mask", str(mask_path), "a mask with at least one lesion (nonzero) pixel")
    brain = None
    if brain_path is not None:
        brain = read_mask(brain_path, "--brain")
        if brain.shape != mask.shape:
            raise RadsynthInputError("--brain", str(brain_path), f"a mask of the lesion mask's shape {list(mask.shape)}",
                                     f"it is {list(brain.shape)}")
    mp = model_path(model)
    net, cfg, _ = load_model(mp)
    img = generate_from_mask(mask, (net, cfg), seed=seed, brain=brain, steps=steps)
    sampler = sampler_name(cfg)
    fmt = json.loads((mp / CONFIG_FILE).read_text()).get("format")
    prov = {"generator": "radsynth.mask-pix2pix" if sampler == "pix2pix" else "radsynth.mask-ddpm",
            "generator_version": fmt, "model": mp.name, "seed": int(seed),
            "mask": Path(mask_path).name, **({"brain_mask": Path(brain_path).name} if brain_path is not None else {}),
            "sampler": sampler, **({"steps": int(steps or cfg.sample_steps)} if sampler == "ddim" else {}),
            "sequence": cfg.sequence,
            "processing": "synthetic image generated from a lesion mask (learned, trained on simulated MRI)"}
    desc = f"synthetic {cfg.sequence} slice generated from a lesion mask by {mp.name}"
    if out_p.name.lower().endswith(".png"):
        from radsynth.io.png import write_png16

        return write_png16(out_p, img, (-1.0, 1.0), provenance=prov, description=desc)
    from radsynth.io.nifti import write_nifti

    mm = FRAME_MM / cfg.image_size
    affine = np.diag([mm, mm, mm, 1.0])
    return write_nifti(out_p, np.ascontiguousarray(img[:, :, None]), affine, description=desc, provenance=prov)
