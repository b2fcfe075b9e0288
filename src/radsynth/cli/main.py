"""``radsynth`` command line.

Sub-apps per noun (``cohort``, ...). Heavy imports live inside commands so
``radsynth --help`` is fast. User errors print one line to stderr and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from radsynth.core.errors import RadsynthInputError

app = typer.Typer(
    name="radsynth",
    help="Synthetic medical imaging with provenance: physics simulation, learned generators, evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cohort_app = typer.Typer(help="Validate and build synthetic cohorts from a YAML spec.", no_args_is_help=True)
app.add_typer(cohort_app, name="cohort")
models_app = typer.Typer(help="List, inspect and export models (shipped, $RADSYNTH_MODELS, or a folder).",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")
from radsynth.cli.audit import audit_app  # noqa: E402  (light: typer only; heavy imports in commands)
app.add_typer(audit_app, name="audit")
from radsynth.cli import privacy as _privacy  # noqa: E402  (light: typer only; heavy imports in commands)
app.command("deidentify")(_privacy.deidentify)
app.command("phi-scan")(_privacy.phi_scan)
from radsynth.cli.ingest import ingest_cmd  # noqa: E402  (light: typer only; heavy imports in the command)
app.command("ingest")(ingest_cmd)

from radsynth.cli.user_errors import user_errors  # noqa: E402  (one convention for every command)


@app.command()
def version() -> None:
    """Print the radsynth version."""
    from radsynth import __version__

    typer.echo(__version__)


@cohort_app.command("validate")
@user_errors
def cohort_validate(spec: Path = typer.Argument(..., help="Cohort spec (YAML).")) -> None:
    """Validate a cohort spec without writing anything."""
    from radsynth.cohort.plan import plan_cohort
    from radsynth.cohort.spec import load_spec

    s = load_spec(spec)
    plans = plan_cohort(s)
    pos = {k: sum(p.labels[k] for p in plans) for k in s.labels}
    typer.echo(f"ok: {s.name}: {s.n_subjects} subjects, generator {s.generator.name}, "
               f"labels {pos or 'none'}, spec sha256 {s.hash[:12]}")


@cohort_app.command("build")
@user_errors
def cohort_build(
    spec: Path = typer.Argument(..., help="Cohort spec (YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (new or empty; or an earlier build with --resume)."),
    backend: str = typer.Option("local", help="local (process pool) or ray."),
    workers: int = typer.Option(1, help="Parallel workers (processes or Ray tasks)."),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted build in --out."),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address; default starts Ray locally."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Build a cohort: images, masks, DICOM, previews, manifest.parquet, dataset_card.md."""
    import time

    from radsynth.cohort.runner import build_cohort
    from radsynth.cohort.spec import load_spec

    s = load_spec(spec)
    t0 = time.perf_counter()
    res = build_cohort(s, out, backend=backend, workers=workers, resume=resume, ray_address=ray_address, progress=progress)
    dt = time.perf_counter() - t0
    typer.echo(
        f"built {res.n_built} subjects ({res.n_skipped} already done) of {res.n_subjects} in {dt:.1f} s -> {res.out}\n"
        f"  manifest:     {res.manifest}\n  dataset card: {res.dataset_card}\n"
        f"  images:       {res.out}/subjects/<id>/anat, masks: .../masks, previews: .../png, DICOM: .../dicom"
    )


@app.command("train")
@user_errors
def train(
    data: Path = typer.Option(..., "--data", help="Folder with one sub-folder of images per class (PNG/JPEG/DICOM/NIfTI), "
                              "or a CSV/Parquet manifest with columns path, class[, patient]."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder (new or empty; or an earlier run with --resume)."),
    arch: str = typer.Option("ddpm", "--arch", help="ddpm (pixel diffusion), ldm (latent diffusion: AutoencoderKL + "
                             "latent U-Net), gan (conditional WGAN-GP) or vae (conditional VAE)."),
    image_size: int = typer.Option(64, "--image-size", help="Square training size in pixels."),
    condition: str = typer.Option("class", "--condition", help="class (class-conditional, CFG) or none."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Wall-clock budget of this run (min)."),
    max_steps: int = typer.Option(50_000, "--max-steps", help="Total optimisation steps."),
    lr_decay_steps: int = typer.Option(0, "--lr-decay-steps", help="Anneal the learning rate linearly over the last N "
                                       "of --max-steps (0: constant). On --resume, set --max-steps to the current "
                                       "step + N to finish a run with a decay phase."),
    batch_size: int = typer.Option(32, "--batch-size"),
    lr: float = typer.Option(2e-4, "--lr", help="AdamW learning rate."),
    seed: int = typer.Option(0, "--seed"),
    channels: Optional[str] = typer.Option(None, "--channels", help="Channels per network level, e.g. 32,64,64 "
                                           "(default: the architecture's CPU-sized default)."),
    data_licence: Optional[str] = typer.Option(None, "--data-licence", help="Licence of the training data, for the model card."),
    ae_steps: Optional[int] = typer.Option(None, "--ae-steps", help="ldm: autoencoder training steps (stage 1) "
                                           "before the latent diffusion (default 2000)."),
    attributes: Optional[str] = typer.Option(None, "--attributes", help="Manifest columns to condition on besides the "
                                             "class, e.g. pathogen,sex (ddpm; classifier-free guidance per attribute)."),
    val_fraction: float = typer.Option(0.05, "--val-fraction", help="Fraction of patients held out for validation."),
    precision: str = typer.Option("bf16", "--precision", help="bf16 (autocast) or fp32."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda (default: cuda when present)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default: torch's)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train a generator (ddpm, ldm, gan, vae) on a class folder or manifest (patient-aware validation split, EMA,
    exact-resume checkpoints)."""
    from radsynth.generators.cli import train_command

    train_command(data=data, out=out, arch=arch, image_size=image_size, condition=condition, resume=resume,
                  max_minutes=max_minutes, max_steps=max_steps, lr_decay_steps=lr_decay_steps, batch_size=batch_size,
                  lr=lr, seed=seed, channels=channels, val_fraction=val_fraction, precision=precision, device=device,
                  threads=threads, progress=progress, data_licence=data_licence, attributes=attributes, ae_steps=ae_steps,
                  echo=typer.echo)


@app.command("sample")
@user_errors
def sample(
    model: Path = typer.Option(..., "--model", "-m", help="Model folder written by `radsynth train`."),
    n: int = typer.Option(..., "--n", help="Number of images."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (new or empty)."),
    label: Optional[str] = typer.Option(None, "--label", help="Class to sample (default: classes take turns)."),
    attribute: Optional[list[str]] = typer.Option(None, "--attribute", help="name=value of an attribute the model "
                                                  "was trained on (repeatable); others stay unknown."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="What to sample in words, e.g. \"chest x-ray, "
                                         "pneumonia\" (class, attributes such as sex, view, age): read into the "
                                         "model's --label / --attribute values; not with them."),
    guidance: Optional[float] = typer.Option(None, "--guidance", help="Classifier-free guidance w (1 = plain "
                                             "conditional; default: the model card's measured default, else 1)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Sampler steps (ddim 50, dpm++/dpm++sde 25, ddpm all); "
                                        "diffusion models only."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="dpm++sde (stochastic DPM-Solver++, 25 steps), dpm++ "
                                          "(25 steps), ddim (50 steps) or ddpm (full chain); default: the model's "
                                          "measured default (model card), else dpm++."),
    seed: int = typer.Option(0, "--seed"),
    batch_size: int = typer.Option(64, "--batch-size"),
    precision: str = typer.Option("bf16", "--precision", help="bf16 (autocast) or fp32."),
    device: Optional[str] = typer.Option(None, "--device"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads; same count -> same bytes."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    watermark: bool = typer.Option(True, "--watermark/--no-watermark", help="Invisible watermark (payload: this run's id) "
                                   "in every image; on by default."),
) -> None:
    """Sample synthetic images (16-bit PNG, marked synthetic) and a manifest; same seed -> same bytes."""
    from radsynth.generators.cli import sample_command

    sample_command(model=model, n=n, out=out, label=label, attribute=attribute, prompt=prompt, guidance=guidance,
                   steps=steps, sampler=sampler, seed=seed, batch_size=batch_size, precision=precision, device=device,
                   threads=threads, progress=progress, watermark=watermark, echo=typer.echo)


@app.command("inpaint")
@user_errors
def inpaint(
    model: Path = typer.Option(..., "--model", "-m", help="Class-conditional pixel DDPM (e.g. cxr-ddpm-64) or folder."),
    image: Path = typer.Option(..., "--image", help="Real image (PNG/JPEG) to edit."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (new or empty)."),
    label: str = typer.Option(..., "--label", help="Class to paint into the mask, e.g. PNEUMONIA (add) or NORMAL (remove)."),
    mask: Optional[Path] = typer.Option(None, "--mask", help="Mask PNG/JPEG/NIfTI (non-zero = regenerate), the image's "
                                        "size or the model's; or use --region."),
    region: Optional[str] = typer.Option(None, "--region", help="Built-in chest X-ray region: right-lung, left-lung, "
                                         "both-lungs, right-lower-lung, left-lower-lung (patient's right = image left)."),
    seed: int = typer.Option(0, "--seed"),
    guidance: Optional[float] = typer.Option(None, "--guidance", help="Classifier-free guidance w (default 4; 1 = plain conditional)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Strided reverse steps of the training chain (default 50)."),
    jump_length: Optional[int] = typer.Option(None, "--jump-length", help="RePaint jump length j (default 10)."),
    jump_n_sample: Optional[int] = typer.Option(None, "--jump-n-sample", help="RePaint resamplings r (default 2)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 or bf16 (autocast; slow on most CPUs)."),
    device: Optional[str] = typer.Option(None, "--device"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads; same count -> same bytes."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    watermark: bool = typer.Option(True, "--watermark/--no-watermark", help="Invisible watermark inside the mask."),
) -> None:
    """Add or remove a finding inside a mask of a real image (RePaint); pixels outside the mask are untouched and the
    result is marked synthetic, with the mask as ground truth."""
    from radsynth.generators.cli import inpaint_command

    inpaint_command(model=model, image=image, out=out, label=label, mask=mask, region=region, seed=seed,
                    guidance=guidance, steps=steps, jump_length=jump_length, jump_n_sample=jump_n_sample,
                    precision=precision, device=device, threads=threads, progress=progress, watermark=watermark,
                    echo=typer.echo)


@app.command("evaluate")
@user_errors
def evaluate_cmd(
    real: Path = typer.Option(..., "--real", help="Real TRAINING set: class folder, CSV/Parquet manifest "
                              "(path, class[, patient, attributes...]) or a radsynth output folder."),
    synthetic: Path = typer.Option(..., "--synthetic", help="Synthetic set (same forms; e.g. `radsynth sample` output "
                                   "folders per class)."),
    test: Optional[Path] = typer.Option(None, "--test", help="Real HELD-OUT set (never trained on): needed for "
                                        "utility, fairness, memorisation and the fidelity reference."),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder (new or empty; or an earlier run with --resume)."),
    preset: str = typer.Option("full", "--preset", help="full (defaults, ~30-60 min on 2 CPU cores for CXR) or "
                               "quick (smoke test; numbers not meant to be read)."),
    sections: Optional[str] = typer.Option(None, "--sections", help="Comma-separated subset of fidelity, "
                                           "detectability, utility, shortcut, fairness, memorisation."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Evaluation size in px (default 64)."),
    encoder: Optional[str] = typer.Option(None, "--encoder", help="Feature encoder: shipped name (cxr-encoder-64, "
                                          "brain-mri-encoder-64), a saved encoder folder, or 'pixel'."),
    fairness_attributes: Optional[str] = typer.Option(None, "--fairness-attributes", help="Held-out manifest "
                                                      "columns for subgroup metrics (default: all)."),
    utility_max_minutes: Optional[float] = typer.Option(None, "--utility-max-minutes", help="Refuse a utility study "
                                                        "estimated above this many minutes (default 60)."),
    modality: Optional[str] = typer.Option(None, "--modality", help="Modality of all sets when the files do not say "
                                           "(e.g. DX, CR, CT, MR); checked against DICOM headers/manifests."),
    slices: Optional[str] = typer.Option(None, "--slices", help="Sample 2D slices of NIfTI volumes (cohort folders, "
                                         "volume folders/manifests) in every set: ORIENTATION[:START-END[:STEP[mm]]]"
                                         "[:full][:keep-empty][:window=LOW..HIGH|header], e.g. axial:0.3-0.7:4 (axial|coronal|sagittal from "
                                         "the affine; slab as fractions of the foreground extent; every 4th slice "
                                         "or e.g. 5mm; empty slices skipped; window=-1024..3071: a fixed HU/value window instead of "
                                         "per-volume min-max; window=header: each volume's NIfTI display range)."),
    sequence: Optional[str] = typer.Option(None, "--sequence", help="Keep one sequence in every set, e.g. T1w "
                                           "(manifest sequence column, else BIDS file-name suffix *_T1w.nii.gz)."),
    seed: int = typer.Option(0, "--seed"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default: torch's)."),
    resume: bool = typer.Option(False, "--resume", help="Reuse the finished sections of an interrupted run in --out."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Evaluate a synthetic set against real training and held-out scans: fidelity, detectability (C2ST), utility,
    shortcuts, fairness, memorisation -> OUT/report.html + OUT/metrics.json."""
    from radsynth.evaluate.config import EvaluateConfig
    from radsynth.evaluate.runner import evaluate

    over: dict[str, Any] = {"seed": seed, "threads": threads}
    if sections:
        over["sections"] = tuple(x.strip() for x in sections.split(",") if x.strip())
    if image_size is not None:
        over["image_size"] = image_size
    if encoder:
        over["encoder"] = encoder
    if fairness_attributes:
        over["fairness_attributes"] = tuple(x.strip() for x in fairness_attributes.split(",") if x.strip())
    if utility_max_minutes is not None:
        over["utility_max_total_minutes"] = utility_max_minutes
    options = {"sections": "--sections", "image_size": "--image-size", "encoder": "--encoder", "seed": "--seed",
               "threads": "--threads", "fairness_attributes": "--fairness-attributes",
               "utility_max_total_minutes": "--utility-max-minutes"}
    try:
        cfg = EvaluateConfig.preset(preset, **over)
    except RadsynthInputError as exc:  # name the CLI option, not the config field
        raise RadsynthInputError(options.get(exc.field, exc.field), exc.value, exc.accepted, exc.hint) from None
    res = evaluate(real, synthetic, test, out, config=cfg, resume=resume, modality=modality, progress=progress,
                   slices=slices, sequence=sequence)
    for sec in res.sections:
        typer.echo(f"{sec.name:13s} {sec.status if sec.status != 'ok' else sec.level:8s} {sec.verdict or sec.reason}")
    auc = res.metrics.get("c2st_auc")
    typer.echo(f"report: {res.report}  metrics: {res.out / 'metrics.json'}"
               + (f"  (c2st_auc {auc:.3f})" if auc is not None else ""))


@models_app.command("list")
@user_errors
def models_list() -> None:
    """Table of every model found: shipped models and folders in $RADSYNTH_MODELS (os.pathsep-separated)."""
    from radsynth.generators.zoo import list_models, models_table

    typer.echo(models_table(list_models()))


@models_app.command("show")
@user_errors
def models_show(model: str = typer.Argument(..., help="Model name (see `radsynth models list`) or folder.")) -> None:
    """Print a model's config summary and its model card."""
    from radsynth.generators.zoo import resolve_model, show_model

    typer.echo(show_model(resolve_model(model)), nl=False)


@models_app.command("export")
@user_errors
def models_export(
    model: str = typer.Argument(..., help="Model name (see `radsynth models list`) or folder."),
    out: Path = typer.Option(..., "--out", "-o", help="New or empty folder to export into."),
) -> None:
    """Copy a model (weights, config, card, training file list; no checkpoint) with an EXPORT.json of sha256s."""
    from radsynth.generators.zoo import EXPORT_FILE, export_model

    dest = export_model(model, out)
    _audit_export(model, dest, EXPORT_FILE)
    typer.echo(f"exported {model} -> {dest} (file sha256s in {dest / EXPORT_FILE})")


def _audit_export(model: str, dest: Path, export_file: str) -> None:
    """Append an ``export`` audit record: config hash (sha256 of config.json), source model, exported sha256s."""
    import json as _json

    from radsynth.io.atomic import sha256_file
    from radsynth.provenance.audit import log_action

    doc = _json.loads((dest / export_file).read_text())
    files = dict(doc.get("files", {}))
    log_action("export", config_hash=files.get("config.json", ""),
               inputs={"model": str(model), "model_kind": str(doc.get("kind", "")),
                       "weights_sha256": files.get("weights.safetensors", "")},
               outputs={"folder": str(dest.resolve()), **files, export_file: sha256_file(dest / export_file)})


from radsynth.cli.verify import register as _register_verify  # noqa: E402  (light; crypto/c2pa imported when run)
_register_verify(app, user_errors)  # `radsynth verify DIR`, `radsynth c2pa sign DIR` / `show FILE`
from radsynth.cli.watermark import register as _register_watermark  # noqa: E402  (light: typer only)
_register_watermark(app, user_errors)  # `radsynth watermark embed|detect`
from radsynth.cli.service import register as _register_service  # noqa: E402  (light: typer only)
_register_service(app, user_errors)  # `radsynth serve`, `radsynth keys create|revoke|list`
from radsynth.cli.denoise import register as _register_denoise  # noqa: E402  (light: typer only)
_register_denoise(app, user_errors)  # `radsynth denoise IN --out OUT [--model ct-denoiser-ld]`
from radsynth.cli.reconstruct import register as _register_reconstruct  # noqa: E402  (light: typer only)
_register_reconstruct(app, user_errors)  # `radsynth reconstruct IN --out OUT [--acceleration 4] [--model mri-recon-4x]`
from radsynth.cli.mask_guided import register as _register_mask_guided  # noqa: E402  (light: typer only)
_register_mask_guided(app, user_errors)  # `radsynth generate-from-mask MASK --out OUT [--model brain-mask-pix2pix-64] [--seed 0]`
from radsynth.cli.translate import register as _register_translate  # noqa: E402  (light: typer only)
_register_translate(app, user_errors)  # `radsynth translate IMAGE --to T2w --out OUT [--from T1w] [--method model|histogram-match]`

def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted; run again with --resume to finish", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
