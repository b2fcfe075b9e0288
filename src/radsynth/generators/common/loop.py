"""Pieces shared by the training loops: input checks, device set-up, checkpoint state, progress.

The pixel DDPM (:mod:`radsynth.generators.diffusion.training`), the WGAN-GP
(:mod:`radsynth.generators.gan.gan_training`), the VAE (:mod:`radsynth.generators.vae.vae_training`)
and the KL autoencoder (:mod:`radsynth.generators.latent_diffusion.autoencoder_kl`) run the same bookkeeping
around their different steps:

* the same input checks and device set-up (:func:`setup_device`, :func:`check_labels_given`,
  :func:`check_images`, :func:`as_tensors`);
* :class:`LoopState`: the exact-resume state -- step counter, epoch permutation and position
  (every permutation drawn from the loop's one seeded ``torch.Generator``), per-step histories,
  validation curve -- with the networks and optimizers it checkpoints
  (:func:`radsynth.generators.common.checkpoint.save_checkpoint`) and restores on ``--resume``;
* :class:`Progress`: the tqdm bar with images per second and the session's timing numbers;
* the small steps every loop repeats: :func:`seeded` weight init, :func:`ema_of`, :func:`lr_at` /
  :func:`set_lr`, :func:`backward_step`, :func:`autocast`, the validation pass helpers
  (:func:`val_generator`, :func:`val_batches`, :func:`evaluating`).

No torch at import time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthError, RadsynthInputError


def lr_at(step: int, tcfg: Any) -> float:
    """Learning rate of step ``step`` (counted from 0): linear warm-up over ``warmup_steps``, then constant,
    then -- when ``tcfg.lr_decay_steps`` is N > 0 -- a linear decay over the last N of
    ``max_steps`` steps, from ``lr`` down to ``lr / N`` at the final step (a warmup-stable-decay schedule:
    Hägele et al. 2024, "Scaling laws and compute-optimal training beyond fixed training durations", arXiv:2405.18392).
    """
    lr = float(tcfg.lr)
    if tcfg.warmup_steps and step < tcfg.warmup_steps:
        lr = tcfg.lr * (step + 1) / tcfg.warmup_steps
    n_decay = tcfg.lr_decay_steps
    if n_decay:
        left = tcfg.max_steps - step  # steps left including this one
        if left < n_decay:
            lr = min(lr, tcfg.lr * max(left, 1) / n_decay)
    return lr


def autocast(device: Any, precision: str) -> Any:
    """bf16 autocast on ``device`` (a ``torch.device``) when ``precision == "bf16"``, a no-op for "fp32"."""
    import torch

    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def pick_device(device: str | None) -> Any:
    """``torch.device(device)``; None: CUDA when available, else the CPU."""
    import torch

    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def setup_device(device: str | None) -> Any:
    """:func:`pick_device`, with deterministic torch algorithms (and no cuDNN autotuning on CUDA)."""
    import torch

    dev = pick_device(device)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = False
    return dev


def check_labels_given(conditional: bool, y_train: Any) -> None:
    """Training labels exactly when the model is class-conditional."""
    if conditional != (y_train is not None):
        raise RadsynthInputError("labels", "given" if y_train is not None else "none",
                                 "class labels exactly when the model is class-conditional")


def check_images(x_train: Any, want: tuple[int, ...]) -> int:
    """Number of training images; at least one, each of shape ``want`` (channels first)."""
    n_train = len(x_train)
    if n_train < 1:
        raise RadsynthInputError("training images", 0, "at least one image in the training split")
    if tuple(np.shape(x_train)[1:]) != want:
        raise RadsynthInputError("training images", f"shape {tuple(np.shape(x_train))}",
                                 f"(n, {', '.join(map(str, want))})")
    return n_train


def as_tensors(x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> tuple[Any, Any, Any, Any]:
    """float32 images and int64 labels as CPU tensors; validation images None when absent or empty, their
    labels None without them."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    yt = None if y_train is None else torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    xv = None if x_val is None or len(x_val) == 0 else torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
    yv = None if (xv is None or y_val is None) else torch.from_numpy(np.asarray(y_val, dtype=np.int64))
    return xt, yt, xv, yv


def expected_meta(cfg: Any, tcfg: Any, extra_meta: dict[str, Any] | None, invariant: Any) -> dict[str, Any]:
    """What a checkpoint must hold to be resumed: the model config, ``extra_meta`` (e.g. the data
    fingerprint) and the training settings named in ``invariant``."""
    return {
        "model": cfg.model_dump(mode="json"),
        "extra": extra_meta or {},
        "train_invariant": tcfg.model_dump(mode="json", include=set(invariant)),
    }


def cpu_state(module: Any, prefix: str = "") -> dict[str, Any]:
    """``module.state_dict()`` as detached contiguous CPU copies, each name with ``prefix`` in front."""
    return {f"{prefix}{k}": v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def ema_weights(ema: Any) -> dict[str, Any]:
    """The averaged network's weights of an ``AveragedModel`` (its ``module.*`` entries, without the prefix)."""
    return {k[len("module."):]: v.detach().cpu().contiguous().clone()
            for k, v in ema.state_dict().items() if k.startswith("module.")}


def seeded(seed: int, *builders: Any) -> list[Any]:
    """``[build() for build in builders]`` right after ``torch.manual_seed(seed)``, inside
    ``torch.random.fork_rng`` (weight init from the seed; the global stream is left as it was)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return [build() for build in builders]


def ema_of(module: Any, decay: float) -> Any:
    """``AveragedModel`` of ``module`` (buffers averaged too) with the warm-up decay of
    :func:`~radsynth.generators.common.ema.ema_warmup_multi_avg_fn`."""
    from torch.optim.swa_utils import AveragedModel

    from radsynth.generators.common.ema import ema_warmup_multi_avg_fn

    return AveragedModel(module, multi_avg_fn=ema_warmup_multi_avg_fn(decay), use_buffers=True)


def set_lr(lr: float, *optimizers: Any) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr


def backward_step(opt: Any, loss: Any, clip_params: Any = None, max_norm: float | None = None) -> None:
    """Zero the gradients, back-propagate ``loss``, clip the gradient norm of ``clip_params`` to ``max_norm``
    (when given), step ``opt``."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip_params is not None:
        torch.nn.utils.clip_grad_norm_(clip_params, max_norm, foreach=False)
    opt.step()


def deadline(tcfg: Any, t_start: float) -> float | None:
    """The ``time.perf_counter()`` value at which the ``max_minutes`` budget of a session started at
    ``t_start`` runs out (None: no budget)."""
    return None if tcfg.max_minutes is None else t_start + tcfg.max_minutes * 60.0


def val_generator(tcfg: Any) -> Any:
    """The generator of a validation pass: seeded ``seed + 7919``, so every point of the curve sees the same draws."""
    import torch

    return torch.Generator().manual_seed(int(tcfg.seed) + 7919)


def val_batches(n_val: int, tcfg: Any) -> Iterator[tuple[int, int]]:
    """``(start, size)`` of the batches of a validation pass over the first ``val_images`` of ``n_val`` images."""
    n = min(n_val, tcfg.val_images)
    for b0 in range(0, n, tcfg.batch_size):
        yield b0, min(tcfg.batch_size, n - b0)


@contextmanager
def evaluating(*modules: Any) -> Iterator[None]:
    """``modules`` in eval mode under ``torch.inference_mode``; their training flags restored afterwards."""
    import torch

    was = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        for m, w in zip(modules, was):
            m.train(w)


def one_network_state(
    model: Any, tcfg: Any, checkpoint_dir: Any, fmt: str, meta_expect: dict[str, Any], *, n_train: int,
    t_start: float
) -> tuple[Any, Any, LoopState]:
    """``(ema, opt, state)`` of a loop training one network with an EMA copy and AdamW (``tcfg.lr``,
    ``tcfg.weight_decay``): the state checkpoints ``model.*``, ``ema.*``, the optimizer (meta key ``optimizer``)
    and a ``loss`` history; its generator is seeded ``tcfg.seed``."""
    import torch

    ema = ema_of(model, tcfg.ema_decay)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay, foreach=False)
    gen = torch.Generator().manual_seed(int(tcfg.seed))
    st = LoopState(checkpoint_dir, fmt, meta_expect, tcfg, n_train=n_train, gen=gen,
                   modules={"model": model, "ema": ema}, optimizers={"optimizer": ("opt", opt)}, histories=("loss",),
                   t_start=t_start)
    return ema, opt, st


class LoopState:
    """Exact-resume state of a training loop and the objects it checkpoints.

    ``modules``: tensor-name prefix -> module (saved as ``<prefix>.<name>``, restored in this order);
    ``optimizers``: meta key -> (tensor-name prefix, optimizer) (state via
    :func:`~radsynth.generators.common.checkpoint.split_tensors`, restored after the modules);
    ``histories``: names of the per-step float histories (``history.<name>``, float64);
    ``torch_rng``: also keep torch's global CPU RNG state (``rng.torch_cpu``). ``until``: the
    ``time.perf_counter()`` deadline of the session (default: :func:`deadline` of ``tcfg.max_minutes``).
    ``step`` / ``pos`` / ``perm`` / ``hist`` / ``val_curve`` / ``wall_prev`` are the loop's counters.
    """

    def __init__(
        self,
        checkpoint_dir: Any,
        fmt: str,
        meta_expect: dict[str, Any],
        tcfg: Any,
        *,
        n_train: int,
        gen: Any,
        modules: Mapping[str, Any],
        optimizers: Mapping[str, tuple[str, Any]],
        histories: tuple[str, ...],
        torch_rng: bool = True,
        t_start: float,
        until: float | None = None,
    ) -> None:
        import torch

        self.ckpt = Path(checkpoint_dir)
        self.fmt = fmt
        self.meta_expect = meta_expect
        self.tcfg = tcfg
        self.n_train = n_train
        self.gen = gen
        self.modules = dict(modules)
        self.optimizers = dict(optimizers)
        self.torch_rng = torch_rng
        self.t_start = t_start
        self.until = deadline(tcfg, t_start) if until is None else until
        self.step, self.pos, self.wall_prev = 0, n_train, 0.0
        self.perm = torch.arange(n_train)
        self.hist: dict[str, list[float]] = {k: [] for k in histories}
        self.val_curve: list[tuple[int, float]] = []
        self.stopped = "max_steps"

    def resume(self, what: str = "a training checkpoint") -> None:
        """Load the checkpoint (RadsynthInputError if there is none, RadsynthError if it was made with another
        model, data or invariant settings); ``what``: the kind of checkpoint, for the error message."""
        import torch

        from radsynth.generators.common.checkpoint import (
            has_checkpoint,
            join_tensors,
            load_checkpoint,
        )

        ckpt = self.ckpt
        if not has_checkpoint(ckpt):
            raise RadsynthInputError("--resume", str(ckpt), f"a folder with {what}",
                                     "Run without --resume to start training.")
        tensors, meta = load_checkpoint(ckpt, expected_format=self.fmt)
        for key in ("model", "extra", "train_invariant"):
            if meta.get(key) != self.meta_expect[key]:
                raise RadsynthError(
                    f"--resume: the checkpoint in {ckpt} was made with another {key.replace('_', ' ')} "
                    f"({'data' if key == 'extra' else 'settings'} differ); use a new --out folder"
                )
        for prefix, module in self.modules.items():
            n = len(prefix) + 1
            module.load_state_dict({k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}, strict=True)
        for key, (_, opt) in self.optimizers.items():
            opt.load_state_dict(join_tensors(meta[key], tensors))
        self.gen.set_state(tensors["rng.generator"])
        if self.torch_rng:
            torch.set_rng_state(tensors["rng.torch_cpu"])
        self.perm = tensors["data.perm"].clone()
        if len(self.perm) != self.n_train:
            raise RadsynthError(
                f"--resume: the checkpoint has {len(self.perm)} training images, the data {self.n_train}"
            )
        self.step, self.pos, self.wall_prev = int(meta["step"]), int(meta["pos"]), float(meta["wall_s"])
        self.hist = {k: [float(v) for v in tensors[f"history.{k}"].tolist()][:self.step] for k in self.hist}
        self.val_curve = [(int(s), float(v)) for s, v in meta["val_curve"]]

    def running(self, max_steps: int) -> bool:
        """Whether to run another step: fewer than ``max_steps`` done and the deadline ``until`` not reached;
        ``stopped`` says which ended the loop."""
        if self.step >= max_steps:
            return False
        if self.until is not None and time.perf_counter() >= self.until:
            self.stopped = "max_minutes"
            return False
        return True

    def end_step(self, validate: Callable[[], float] | None) -> None:
        """After ``step`` was counted: a validation point every ``val_every`` steps (``validate``: None without
        validation images), a checkpoint every ``ckpt_every`` steps."""
        if validate is not None and self.step % self.tcfg.val_every == 0:
            self.val_curve.append((self.step, validate()))
        if self.step % self.tcfg.ckpt_every == 0:
            self.save()

    def wall_s(self) -> float:
        """Training wall time of every session so far, this one up to now (seconds)."""
        return self.wall_prev + (time.perf_counter() - self.t_start)

    def save(self) -> None:
        """Write the checkpoint (:func:`~radsynth.generators.common.checkpoint.save_checkpoint`)."""
        import torch

        from radsynth.generators.common.checkpoint import save_checkpoint, split_tensors

        tensors: dict[str, Any] = {}
        trees = {key: split_tensors(opt.state_dict(), prefix, tensors)
                 for key, (prefix, opt) in self.optimizers.items()}
        for prefix, module in self.modules.items():
            tensors.update(cpu_state(module, prefix + "."))
        tensors["rng.generator"] = self.gen.get_state()
        if self.torch_rng:
            tensors["rng.torch_cpu"] = torch.get_rng_state()
        tensors["data.perm"] = self.perm.clone()
        for k, v in self.hist.items():
            tensors[f"history.{k}"] = torch.tensor(v, dtype=torch.float64)
        meta = dict(self.meta_expect, format=self.fmt, step=self.step, pos=self.pos, **trees, wall_s=self.wall_s(),
                    val_curve=self.val_curve, train=self.tcfg.model_dump(mode="json"))
        save_checkpoint(self.ckpt, tensors, meta)

    def next_indices(self, bs: int) -> Any:
        """Indices of the next ``bs`` training images; a new epoch permutation (from the loop's generator)
        when the current one has fewer than ``bs`` left (the ragged tail is dropped)."""
        import torch

        if self.pos + bs > self.n_train:
            self.perm = torch.randperm(self.n_train, generator=self.gen)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + bs]
        self.pos += bs
        return idx


class Progress:
    """tqdm bar (when ``enabled``) over the steps of one session, with the session's images per second.

    ``start_step``: the step the session starts from (``initial`` of the bar unless given).
    """

    def __init__(self, enabled: bool, *, total: int, start_step: int, desc: str, initial: int | None = None) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=start_step if initial is None else initial, desc=desc, unit="step",
                            dynamic_ncols=True)
        self.start_step = start_step
        self.t_loop = time.perf_counter()

    def images_per_s(self, step: int, images_per_step: int) -> float:
        """Images per second of this session's loop so far."""
        dt = time.perf_counter() - self.t_loop
        return (step - self.start_step) * images_per_step / dt if dt > 0 else 0.0

    def update(
        self, step: int, images_per_step: int, shown: dict[str, str], after: dict[str, str] | None = None
    ) -> None:
        """Advance the bar by one step, showing ``shown``, the images per second, then ``after``."""
        if self.bar is not None:
            post = {**shown, "img/s": f"{self.images_per_s(step, images_per_step):.1f}", **(after or {})}
            self.bar.set_postfix(post, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    @contextmanager
    def saving_on_interrupt(self, state: LoopState) -> Iterator[None]:
        """On Ctrl-C inside the block: checkpoint, close the bar, re-raise."""
        try:
            yield
        except KeyboardInterrupt:
            state.save()
            self.close()
            raise

    def finish(self, state: LoopState, images_per_step: int) -> dict[str, Any]:
        """Close the bar, write the final checkpoint; ``stopped``, ``wall_s``, ``session_wall_s``,
        ``session_steps`` and ``images_per_s`` of the finished session (for the result)."""
        self.close()
        state.save()
        return {
            "stopped": state.stopped,
            "wall_s": state.wall_s(),
            "session_wall_s": time.perf_counter() - state.t_start,
            "session_steps": state.step - self.start_step,
            "images_per_s": self.images_per_s(state.step, images_per_step),
        }


def smoothed(prev: float, value: float) -> float:
    """Exponential moving average (weight 0.02) of a loss for the progress bar; starts at the first value."""
    return value if math.isnan(prev) else 0.98 * prev + 0.02 * value
