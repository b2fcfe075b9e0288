"""RePaint: inpainting with an unconditionally trained (here: class-conditional) pixel DDPM.

Lugmayr, Danelljan, Romero, Yu, Timofte & Van Gool, "RePaint: Inpainting using Denoising
Diffusion Probabilistic Models", CVPR 2022 (arXiv:2201.09865). No retraining: at every reverse
step from noise level ``t`` to ``t - s``

* the *known* region (outside the mask) is the real image forward-noised to level ``t - s``,
  ``sqrt(abar) x_0 + sqrt(1 - abar) eps`` (paper eq. 8a),
* the *unknown* region (inside the mask) is one ancestral DDPM step of the network with the
  requested class condition and classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598;
  :func:`radsynth.generators.diffusion.samplers.guided_eps`) (eq. 8b),
* and the two are joined with the mask (eq. 8c).

Resampling (paper Sec. 4.2, Alg. 1): every ``jump_length`` steps the joined sample is pushed
back up ``jump_length`` steps with the forward process and denoised again, ``jump_n_sample``
times in all, so the generated region harmonises with the known one.

Scheduler: diffusers' ``RePaintScheduler`` fits the shipped model's schedule -- it takes the
exact MONAI training betas through ``trained_betas`` (the same route as
:func:`radsynth.generators.diffusion.samplers.dpmpp_scheduler`) -- and is used for the jump
schedule (``set_timesteps``: a strided schedule of ``steps`` of the ``T`` training timesteps,
stride ``s = T // steps``) and for the masked reverse step (``step``, with ``eta = 1``: the
paper's DDPM ancestral step on the strided chain; ``clip_sample``: ``x_0`` clipped to [-1, 1]).
Its ``undo_step`` is *not* used: it applies the betas ``t .. t + s - 1`` to a sample that sits at
level ``t - s``, one stride too high, so the re-noised sample is slightly noisier than the level
the next step assumes. :func:`_jump` adds exactly the noise between the two levels instead,
``x_b = sqrt(abar_b / abar_a) x_a + sqrt(1 - abar_b / abar_a) eps`` (Ho et al. 2020, eq. 4 applied
between two levels).

Exactness outside the mask: the last reverse step lands on level "clean" (``abar = 1``), where the
known part is the input itself, and the result is blended once more with ``where(mask, x, input)``,
so every pixel outside the mask is bit-identical to the input array.

Determinism: the initial noise and every step's noise come from one CPU ``torch.Generator``
seeded with ``seed`` (same model, arguments, batch, torch build and thread count -> same bits).

Precision: fp32 by default. bf16 autocast is many times slower than fp32 on CPUs without native
bf16 arithmetic (measured on this project's 2-core machine with the shipped 64 px U-Net: fp32
0.07 s per image and network evaluation; bf16 did not finish 64 evaluations in two minutes).

Cost: one network evaluation (two with guidance != 1) per entry of the jump schedule:
``steps + (steps // jump_length - 1) * (jump_n_sample - 1) * jump_length`` evaluations
(:func:`network_evaluations`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.sampling_common import check_precision

#: defaults of ``radsynth inpaint``: 50 of 1000 training steps (stride 20), jumps of 10 strided steps, 2 passes
#: (90 network evaluations per image and guidance branch)
DEFAULT_STEPS = 50
DEFAULT_JUMP_LENGTH = 10
DEFAULT_JUMP_N_SAMPLE = 2
#: classifier-free guidance of ``radsynth inpaint``: with the plain conditional model (w = 1) the edit barely moves
#: the reference classifier (8 test CXRs, 25 steps: mean change of p(pneumonia) the requested way +0.019, the same
#: as reconstructing with the original class); w = 4 gave +0.209 against -0.001 for that control
#: (``bench/bench_inpaint.py``)
DEFAULT_GUIDANCE = 4.0


def check_repaint_args(cfg: Any, steps: int, jump_length: int, jump_n_sample: int, guidance: float) -> None:
    """RadsynthInputError (field, value, accepted) for a bad schedule or guidance; no torch import."""
    T = int(cfg.num_train_timesteps)
    if not isinstance(steps, (int, np.integer)) or not 2 <= int(steps) <= T:
        raise RadsynthInputError("--steps", steps, f"an integer 2..{T} (strided reverse steps of the {T}-step chain)")
    if not isinstance(jump_length, (int, np.integer)) or not 1 <= int(jump_length) < int(steps):
        raise RadsynthInputError("--jump-length", jump_length, f"an integer 1..{int(steps) - 1} (less than --steps)")
    if not isinstance(jump_n_sample, (int, np.integer)) or not 1 <= int(jump_n_sample) <= 50:
        raise RadsynthInputError("--jump-n-sample", jump_n_sample, "an integer 1..50 (1 = no resampling)")
    if not (isinstance(guidance, (int, float)) and np.isfinite(guidance) and guidance >= 0):
        raise RadsynthInputError("--guidance", guidance, "a number >= 0 (1 = conditional model, no extra guidance)")


def jump_schedule(num_train_timesteps: int, steps: int, jump_length: int, jump_n_sample: int) -> np.ndarray:
    """The timesteps visited, as diffusers' ``RePaintScheduler.set_timesteps`` lists them (a rise = a jump)."""
    sch = _scheduler(num_train_timesteps, np.linspace(1e-4, 2e-2, num_train_timesteps), steps, jump_length,
                     jump_n_sample)
    return sch.timesteps.numpy().copy()


def network_evaluations(steps: int, jump_length: int, jump_n_sample: int, num_train_timesteps: int = 1000) -> int:
    """Reverse steps (network evaluations per image, guidance 1) of the schedule."""
    ts = jump_schedule(num_train_timesteps, steps, jump_length, jump_n_sample)
    return int(1 + np.sum(ts[1:] < ts[:-1]))


def _scheduler(T: int, betas: np.ndarray, steps: int, jump_length: int, jump_n_sample: int) -> Any:
    from diffusers import RePaintScheduler

    sch = RePaintScheduler(num_train_timesteps=T, trained_betas=np.asarray(betas, np.float64), eta=1.0,
                           clip_sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sch.set_timesteps(int(steps), jump_length=int(jump_length), jump_n_sample=int(jump_n_sample))
    return sch


def _jump(x: Any, abar_from: Any, abar_to: Any, gen: Any) -> Any:
    """Forward process from noise level ``abar_from`` to the noisier ``abar_to`` (exact, one draw)."""
    import torch

    r = (abar_to / abar_from).to(torch.float32)
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float32).to(x.device)
    return r.sqrt() * x + (1.0 - r).sqrt() * noise


def repaint(
    model: Any,
    cfg: Any,
    images: np.ndarray,
    masks: np.ndarray,
    labels: list[int] | None,
    *,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
    jump_length: int = DEFAULT_JUMP_LENGTH,
    jump_n_sample: int = DEFAULT_JUMP_N_SAMPLE,
    guidance: float = DEFAULT_GUIDANCE,
    batch_size: int = 64,
    precision: str = "fp32",
    device: str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Inpaint ``images`` inside ``masks`` with the diffusion ``model`` (a :class:`DDPMConfig` pixel DDPM).

    ``images``: float ``(n, H, W)`` in [-1, 1] at the model's resolution (``H = W = cfg.image_size``
    pixels). ``masks``: bool ``(n, H, W)``, True = regenerate, False = keep. ``labels``: one condition
    index per image (:meth:`DDPMConfig.condition_index`; the class index for a class-only model), or
    None for an unconditional model. Returns float32 ``(n, H, W)`` in [-1, 1] equal to ``images``
    wherever the mask is False (bit for bit, after conversion to float32).
    """
    import torch

    from radsynth.generators.common.sampling_common import check_labels
    from radsynth.generators.diffusion.ddpm import build_train_scheduler
    from radsynth.generators.diffusion.samplers import guided_eps

    if getattr(cfg, "arch", None) != "ddpm" or getattr(cfg, "spatial_dims", 2) != 2:
        raise RadsynthInputError("--model arch", getattr(cfg, "arch", None), "a 2D pixel-space ddpm model")
    check_repaint_args(cfg, steps, jump_length, jump_n_sample, guidance)
    check_precision(precision)
    x0 = np.asarray(images, dtype=np.float32)
    m = np.asarray(masks)
    size = (cfg.image_size, cfg.image_size)
    if x0.ndim != 3 or x0.shape[1:] != size or x0.shape[0] < 1:
        raise RadsynthInputError("images", f"shape {x0.shape}", f"(n, {size[0]}, {size[1]}) at the model's size")
    if not np.isfinite(x0).all() or x0.min() < -1.0 - 1e-6 or x0.max() > 1.0 + 1e-6:
        raise RadsynthInputError("images", f"values in [{np.nanmin(x0):.3g}, {np.nanmax(x0):.3g}]", "finite values in [-1, 1]")
    if m.shape != x0.shape or m.dtype != bool:
        raise RadsynthInputError("masks", f"{m.dtype} array of shape {m.shape}", f"a bool array of shape {x0.shape}")
    n = x0.shape[0]
    check_labels(labels, n, cfg.conditional)
    betas = build_train_scheduler(cfg).betas.double().numpy()
    dev = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    model = model.to(dev).eval()
    out = x0.copy()
    use_ac = precision == "bf16"
    bar = None
    with torch.inference_mode():
        for b0 in range(0, n, batch_size):
            nb = min(batch_size, n - b0)
            sch = _scheduler(cfg.num_train_timesteps, betas, steps, jump_length, jump_n_sample)
            stride = cfg.num_train_timesteps // sch.num_inference_steps
            abar = sch.alphas_cumprod.double()

            def level(t: int) -> Any:  # abar of the sample after a reverse step at timestep t
                return abar[t - stride] if t - stride >= 0 else torch.tensor(1.0, dtype=torch.float64)

            ts = [int(t) for t in sch.timesteps]
            if progress and bar is None:
                from tqdm.auto import tqdm

                bar = tqdm(total=n * len(ts), desc=f"repaint ({steps} steps, jumps {jump_length}x{jump_n_sample})",
                           unit="img-step", unit_scale=True)
            orig = torch.from_numpy(x0[b0:b0 + nb, None]).to(dev)
            keep = torch.from_numpy(~m[b0:b0 + nb, None]).to(dev, torch.float32)  # diffusers: 1 = known
            lab = None if labels is None else torch.tensor(labels[b0:b0 + nb], dtype=torch.long, device=dev)
            x = torch.randn((nb, 1, *size), generator=gen, dtype=torch.float32).to(dev)
            t_last = ts[0] + 1
            for t in ts:
                if t < t_last:  # reverse step t -> t - stride, known region from the forward-noised input
                    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_ac):
                        eps = guided_eps(model, x, t, lab, cfg.null_label, float(guidance))
                    x = sch.step(eps.float(), t, x, orig, keep, generator=gen).prev_sample.float()
                else:  # resampling jump: forward-noise from the level after t_last to the level after t
                    x = _jump(x, level(t_last), level(t), gen)
                t_last = t
                if bar is not None:
                    bar.update(nb)
            res = x[:, 0].clamp(-1.0, 1.0).float().cpu().numpy()
            out[b0:b0 + nb] = np.where(m[b0:b0 + nb], res, x0[b0:b0 + nb])
    if bar is not None:
        bar.close()
    return out
