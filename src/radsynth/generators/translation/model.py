"""MR contrast translator (e.g. T1w -> T2w, T1w -> FLAIR): pix2pix trained on physics-simulated pairs.

Model (Isola et al., CVPR 2017; least-squares GAN, Mao et al., ICCV 2017)::

    generator input  = [source slice, noise]      (2 channels, 64 x 64, source in [-1, 1])
    generator output = tanh(UNet(input))           (the target contrast in [-1, 1])
    discriminator    = PatchDiscriminator([image, source])

Both slices go through :func:`radsynth.generators.translation.pairs.normalise_slice` (each slice scaled by the
bright end of its own foreground: MR grey values have no absolute scale). Training pairs: the ``mri-brain``
physics renders every contrast from the same anatomy (:mod:`.pairs`), so the pairs are perfectly registered,
something no real dataset offers. Baseline: :func:`histogram_match`, the source's foreground grey levels mapped
to the target contrast's training histogram (a monotone map: it cannot invert contrast, which is why it is the
floor any learned translation must beat).

Model folder: ``config.json`` (``format`` :data:`MODEL_FORMAT`, ``kind`` ``translator``, the
:class:`TranslationConfig`, whose ``target_quantiles`` hold the baseline's reference histogram) and
``weights.safetensors`` (the generator).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.config_base import JsonConfigMixin, count_parameters
from radsynth.generators.translation.pairs import CONTRASTS, FOREGROUND_FRACTION, normalise_slice

MODEL_FORMAT = "radsynth-contrast-translator/1"
SHIPPED_MODELS = {("T1w", "T2w"): "brain-t1w-to-t2w-64", ("T1w", "FLAIR"): "brain-t1w-to-flair-64"}
#: quantiles stored for the histogram-matching baseline
N_QUANTILES = 101
#: field of view of the training frame (the mri-brain volume's 104 voxels of 2 mm, zero-padded to a square)
FRAME_MM = 208.0


class TranslationConfig(JsonConfigMixin, BaseModel):
    """Networks and training settings (serialised into ``config.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field("T1w", description="input contrast")
    target: str = Field("T2w", description="output contrast")
    image_size: int = Field(64, ge=8, le=512)
    channels: tuple[int, ...] = (16, 32, 64, 128)
    num_res_units: int = Field(1, ge=0, le=4)
    disc_channels: int = Field(32, ge=4)
    disc_layers: int = Field(3, ge=1, le=5)
    lambda_l1: float = Field(100.0, ge=0)
    noise_std: float = Field(1.0, ge=0)
    batch_size: int = Field(16, ge=1, le=1024)
    lr: float = Field(1e-3, gt=0, le=1)
    max_steps: int = Field(3000, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    p_skull_strip: float = Field(0.3, ge=0, le=1, description="probability of training on a brain-extracted pair "
                                 "(non-brain set to air, then each slice normalised again), so skull-stripped inputs "
                                 "(most research data, the MNI152 template) work too")
    seed: int = 0
    target_quantiles: tuple[float, ...] = Field((), description="the target contrast's foreground grey-level "
                                                "quantiles on the training slices (histogram-matching baseline)")

    def check(self) -> None:
        for name, v in (("source", self.source), ("target", self.target)):
            if v not in CONTRASTS:
                raise RadsynthInputError(name, v, " / ".join(CONTRASTS))
        if self.source == self.target:
            raise RadsynthInputError("target", self.target, f"a contrast other than the source ({self.source})")
        if self.image_size % (2 ** (len(self.channels) - 1)):
            raise RadsynthInputError("image_size", self.image_size, f"a multiple of {2 ** (len(self.channels) - 1)}")


def build_network(cfg: TranslationConfig) -> Any:
    import torch
    from monai.networks.nets import UNet

    cfg.check()
    unet = UNet(spatial_dims=2, in_channels=2, out_channels=1, channels=tuple(cfg.channels),
                strides=(2,) * (len(cfg.channels) - 1), num_res_units=cfg.num_res_units)
    return torch.nn.Sequential(unet, torch.nn.Tanh())


def build_discriminator(cfg: TranslationConfig) -> Any:
    from monai.networks.nets import PatchDiscriminator

    return PatchDiscriminator(spatial_dims=2, channels=cfg.disc_channels, in_channels=2, num_layers_d=cfg.disc_layers,
                              out_channels=1)


def foreground_quantiles(slices: np.ndarray) -> tuple[float, ...]:
    """:data:`N_QUANTILES` quantiles of the foreground grey levels (> -1 + 2 FOREGROUND_FRACTION) of slices in [-1, 1]."""
    x = np.asarray(slices, np.float64)
    fg = x[x > -1.0 + 2.0 * FOREGROUND_FRACTION]
    return tuple(float(v) for v in np.quantile(fg, np.linspace(0, 1, N_QUANTILES))) if fg.size else ()


def histogram_match(source: np.ndarray, target_quantiles: tuple[float, ...]) -> np.ndarray:
    """Baseline: each slice's foreground grey levels mapped monotonically onto the target contrast's quantiles
    (classic histogram matching, as ``skimage.exposure.match_histograms`` against the pooled training target; done
    on stored quantiles so the model folder carries no images); the background stays -1."""
    if not target_quantiles:
        raise RadsynthInputError("target_quantiles", "()", "the target histogram of a trained model")
    from scipy.stats import rankdata

    q = np.asarray(target_quantiles)
    levels = np.linspace(0, 1, len(q))
    src = np.asarray(source, np.float64)
    planes = src.reshape(-1, *src.shape[-2:])
    out = np.full(planes.shape, -1.0, np.float32)
    for x, o in zip(planes, out):
        fg = x > -1.0 + 2.0 * FOREGROUND_FRACTION
        if fg.any():
            o[fg] = np.interp((rankdata(x[fg]) - 0.5) / fg.sum(), levels, q)
    return out.reshape(src.shape)


def strip_to_brain(x: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """Normalised slices (N, H, W) in [-1, 1] with everything outside ``brain`` set to air, each normalised again
    (:func:`normalise_slice`: a brain-extracted slice is scaled by its own bright end, as a real one would be)."""
    u = (np.asarray(x, np.float32) + 1.0) * 0.5 * np.asarray(brain, bool)
    return np.stack([normalise_slice(v) for v in u])


def train_translator(source: np.ndarray, target: np.ndarray, cfg: TranslationConfig, brain: np.ndarray | None = None,
                     progress: bool = False) -> tuple[Any, TranslationConfig, dict[str, Any]]:
    """Train on paired slices (S, H, W) in [-1, 1] with the shared pix2pix loop (random left-right flips; with
    ``brain`` masks (S, H, W), a share ``p_skull_strip`` of the pairs brain-extracted: :func:`strip_to_brain`).
    Returns (generator in eval mode, the config with the baseline's ``target_quantiles`` filled in, summary)."""
    from radsynth.generators.common.loop import seeded
    from radsynth.generators.common.pix2pix_loop import Pix2PixSettings, train_pix2pix

    src, tgt = np.asarray(source, np.float32), np.asarray(target, np.float32)
    s = cfg.image_size
    if src.ndim != 3 or src.shape[1:] != (s, s) or tgt.shape != src.shape:
        raise RadsynthInputError("source", list(src.shape), f"(S, {s}, {s}) slices with targets of the same shape")
    gen_net, disc = seeded(cfg.seed, lambda: build_network(cfg), lambda: build_discriminator(cfg))

    br = None if brain is None else np.asarray(brain, bool)
    if br is not None and br.shape != src.shape:
        raise RadsynthInputError("brain", list(br.shape), f"brain masks of the slices' shape {list(src.shape)}")

    def make_batch(idx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        flip = rng.random(len(idx)) < 0.5
        xb, cb = tgt[idx].copy(), src[idx].copy()
        if br is not None and cfg.p_skull_strip > 0:
            strip = rng.random(len(idx)) < cfg.p_skull_strip
            if strip.any():
                xb[strip], cb[strip] = strip_to_brain(xb[strip], br[idx][strip]), strip_to_brain(cb[strip], br[idx][strip])
        xb[flip], cb[flip] = xb[flip][:, :, ::-1], cb[flip][:, :, ::-1]
        return xb, cb[:, None]

    summary = train_pix2pix(gen_net, disc, tgt, make_batch, Pix2PixSettings(
        steps=cfg.max_steps, lr=cfg.lr, batch_size=cfg.batch_size, lambda_l1=cfg.lambda_l1, noise_std=cfg.noise_std,
        seed=cfg.seed, max_minutes=cfg.max_minutes, progress=progress))
    cfg = cfg.model_copy(update={"target_quantiles": foreground_quantiles(tgt)})
    return gen_net, cfg, {**summary, "params": count_parameters(gen_net), "params_discriminator": count_parameters(disc),
                          "n_train_slices": int(len(src))}


def translate_slices(net: Any, cfg: TranslationConfig, source: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Target-contrast slices (N, H, W) float32 in [-1, 1] of normalised source slices (N, H, W) in [-1, 1]."""
    from radsynth.generators.common.pix2pix_loop import sample_pix2pix

    x = np.asarray(source, np.float32)
    if x.ndim == 2:
        x = x[None]
    s = cfg.image_size
    if x.ndim != 3 or x.shape[1:] != (s, s):
        raise RadsynthInputError("image", list(x.shape[1:]), f"a {s} x {s} slice")
    return sample_pix2pix(net, x[:, None], seed, cfg.noise_std)


def save_model(out_dir: str | os.PathLike[str], net: Any, cfg: TranslationConfig, extra: dict[str, Any] | None = None) -> Path:
    from radsynth.generators.common.model_folder import save_model_folder

    return save_model_folder(out_dir, net, {
        "format": MODEL_FORMAT, "network": "monai.UNet generator + monai.PatchDiscriminator (pix2pix, LSGAN + L1)",
        "kind": "translator", "arch": "pix2pix", "image_size": cfg.image_size,
        "task": f"brain MRI {cfg.source} -> {cfg.target} axial slice", "config": cfg.model_dump(mode="json"),
        **(extra or {})})


def model_path(name_or_path: str | os.PathLike[str]) -> Path:
    from radsynth.generators.common.model_folder import model_folder

    return model_folder(name_or_path, "a contrast translator", " / ".join(SHIPPED_MODELS.values()))


def load_model(name_or_path: str | os.PathLike[str]) -> tuple[Any, TranslationConfig, dict[str, Any]]:
    from radsynth.generators.common.model_folder import load_model_folder

    return load_model_folder(model_path(name_or_path), fmt=MODEL_FORMAT, what="a contrast translator",
                             shipped=" / ".join(SHIPPED_MODELS.values()), config_from_json=TranslationConfig.from_json,
                             build=build_network)


def shipped_for(source: str, target: str) -> str:
    """The shipped model's name for a contrast pair; RadsynthInputError listing the pairs that ship."""
    name = SHIPPED_MODELS.get((source, target))
    if name is None:
        pairs = ", ".join(f"{a} -> {b}" for a, b in SHIPPED_MODELS)
        raise RadsynthInputError("--to", f"{source} -> {target}", f"a shipped contrast pair ({pairs}) or --model FOLDER")
    return name


def prepare_slice(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A 2-D magnitude slice of any size -> ((size, size) in [-1, 1], original shape): normalised
    (:func:`normalise_slice`), zero-padded to a centred square, area-resized."""
    from radsynth.generators.common.slices import resize_area

    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = a[..., :3].mean(axis=-1)
    if a.ndim == 3 and 1 in a.shape:
        a = a.reshape([d for d in a.shape if d != 1])
    if a.ndim != 2 or min(a.shape) < 8 or max(a.shape) > 4096:
        raise RadsynthInputError("image", list(np.shape(image)), "a 2-D slice (8..4096 pixels a side)")
    if a.dtype.kind not in "biuf" or not np.all(np.isfinite(a)):
        raise RadsynthInputError("image", str(a.dtype), "finite numbers (a magnitude MR slice)")
    x = a.astype(np.float32)
    sq = resize_area(x - float(x.min()), size)  # padding with 0 = air
    return normalise_slice(sq), a.shape


IN_SUFFIXES = (".png", ".jpg", ".jpeg", ".nii", ".nii.gz", ".npy")
OUT_SUFFIXES = (".png", ".nii", ".nii.gz")
METHODS = ("model", "histogram-match")


def read_slice(path: str | os.PathLike[str]) -> np.ndarray:
    """A 2-D slice from PNG / JPEG (grey or RGB, as displayed), NIfTI (2-D, or 3-D with one slice) or .npy;
    RadsynthInputError naming the file otherwise."""
    p = Path(path)
    low = p.name.lower()
    if not low.endswith(IN_SUFFIXES):
        raise RadsynthInputError("image", str(p), "a slice file ending in " + ", ".join(IN_SUFFIXES))
    if not p.is_file():
        raise RadsynthInputError("image", str(p), "an existing image file")
    try:
        if low.endswith(".npy"):
            a = np.load(p, allow_pickle=False)
        elif low.endswith((".png", ".jpg", ".jpeg")):
            from PIL import Image

            with Image.open(p) as im:
                a = np.asarray(im.convert("L") if im.mode not in ("L", "I", "I;16") else im)
        else:
            import nibabel as nib

            a = np.asarray(nib.load(str(p)).dataobj)
    except Exception as exc:  # readers raise many types for unreadable files
        raise RadsynthInputError("image", str(p), "a readable PNG / JPEG / NIfTI / .npy slice",
                                 str(exc).splitlines()[0][:120] if str(exc) else "") from None
    a = np.squeeze(np.asarray(a))
    if a.ndim != 2:
        raise RadsynthInputError("image shape", list(np.shape(a)), "a 2-D slice")
    return a


def translate_file(image_path: str | os.PathLike[str], out: str | os.PathLike[str], *, to: str = "T2w",
                   source: str = "T1w", model: str | os.PathLike[str] | None = None, method: str = "model",
                   seed: int = 0) -> Path:
    """Read a slice, translate it (``method`` ``model``: the learned translator; ``histogram-match``: the baseline),
    write ``out`` at the model's resolution (.png 16-bit on [-1, 1], or NIfTI float32 in [-1, 1], pixels of
    208 mm / image_size), marked as synthetic. Everything is checked before anything is written."""
    out_p = Path(out)
    if method not in METHODS:
        raise RadsynthInputError("--method", method, " or ".join(METHODS))
    if not out_p.name.lower().endswith(OUT_SUFFIXES):
        raise RadsynthInputError("--out", str(out_p), "a file name ending in .png, .nii or .nii.gz")
    if out_p.exists():
        raise RadsynthInputError("--out", str(out_p), "a path that does not exist yet (radsynth never overwrites)")
    name = model if model is not None else shipped_for(source, to)
    net, cfg, _ = load_model(name)
    if cfg.target != to or cfg.source != source:
        raise RadsynthInputError("--to", f"{source} -> {to}", f"the model's pair ({cfg.source} -> {cfg.target})")
    x, _ = prepare_slice(read_slice(image_path), cfg.image_size)
    img = translate_slices(net, cfg, x, seed=seed)[0] if method == "model" else histogram_match(x, cfg.target_quantiles)
    mp = model_path(name)
    prov = {"generator": "radsynth.contrast-translator", "generator_version": MODEL_FORMAT, "model": mp.name,
            "method": method, "seed": int(seed), "source_contrast": cfg.source, "target_contrast": cfg.target,
            "input": Path(image_path).name,
            "processing": f"synthetic {cfg.target} slice translated from a {cfg.source} slice "
                          + ("(learned, trained on simulated MRI)" if method == "model" else "(histogram matching)")}
    desc = f"synthetic {cfg.target} slice translated from {cfg.source} by {mp.name} ({method})"
    if out_p.name.lower().endswith(".png"):
        from radsynth.io.png import write_png16

        return write_png16(out_p, img, (-1.0, 1.0), provenance=prov, description=desc)
    from radsynth.io.nifti import write_nifti

    mm = FRAME_MM / cfg.image_size
    return write_nifti(out_p, np.ascontiguousarray(img[:, :, None]), np.diag([mm, mm, mm, 1.0]), description=desc,
                       provenance=prov)
