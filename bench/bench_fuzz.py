"""Fuzz radsynth's readers and CLI entry points with >= 10,000 mutated inputs (issue #11).

Usage: nice python bench/bench_fuzz.py [--total 10000] [--seed 0] [--timeout-s 10] [--crash-dir DIR]

Mutated DICOM, NIfTI, PNG/JPEG and cohort-spec inputs (seeded random.Random; mutators in
tests/fuzz/fuzz_mutators.py) go through:
  dicom/nifti/png: generators.data.read_image, evaluate.sets.load_eval_set (header probe + pixels),
                   provenance.marks.check_file (verify's mark check), io.nifti.read_nifti /
                   read_nifti_marking, io.png.read_png_marking;
  spec:            `radsynth cohort validate SPEC` (CliRunner, in-process);
  verify:          `radsynth verify DIR` on damaged (often re-signed) copies of a small signed folder;
  ingest:          `radsynth ingest SRC --out DIR` on a class folder holding one mutated image;
plus a 400-Mpx decompression-bomb PNG through the PNG paths and a few real subprocess CLI runs.
Prints one row per target: inputs, ok, clean one-line errors, crashes, hangs (per-input limit), time;
writes one reproducer per distinct crash site into --crash-dir. Exit 1 when anything crashed or hung.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fuzz"))

#: share of --total per input family (sums to 1).
SHARES = {"dicom": 0.28, "nifti": 0.20, "png": 0.22, "spec": 0.15, "verify": 0.10, "ingest": 0.05}


class Table:
    def __init__(self) -> None:
        self.rows: dict[str, Counter] = defaultdict(Counter)
        self.secs: dict[str, float] = defaultdict(float)
        self.examples: dict[tuple[str, str], str] = {}

    def add(self, target: str, outcome, data: bytes | None, name: str, crash_dir: Path) -> None:  # type: ignore[no-untyped-def]
        row = self.rows[target]
        row["inputs"] += 1
        row[outcome.kind] += 1
        self.secs[target] += outcome.seconds
        if outcome.kind in ("crash", "hang"):
            site = outcome.detail.rsplit(" at ", 1)[-1] if " at " in outcome.detail else outcome.detail[:50]
            key = (target, site)
            if key not in self.examples:
                path = ""
                if data is not None:
                    crash_dir.mkdir(parents=True, exist_ok=True)
                    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in target)
                    p = crash_dir / f"{safe}-{len(self.examples):03d}-{name}"
                    p.write_bytes(data)
                    path = str(p)
                self.examples[key] = f"{outcome.kind}: {outcome.detail[:220]} [{path or name}]"

    def print(self) -> None:
        print(f"{'target':34s} {'inputs':>7s} {'ok':>6s} {'clean':>6s} {'crash':>6s} {'hang':>5s} {'time s':>8s}")
        for t, r in self.rows.items():
            print(f"{t:34s} {r['inputs']:7d} {r['ok']:6d} {r['clean']:6d} {r['crash']:6d} {r['hang']:5d} "
                  f"{self.secs[t]:8.1f}")
        for (t, site), ex in sorted(self.examples.items()):
            print(f"  {t} @ {site}: {ex}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--total", type=int, default=10_000, help="mutated inputs in total (default 10000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout-s", type=float, default=10.0, help="per-input limit (hang above it)")
    ap.add_argument("--crash-dir", type=Path, default=None, help="reproducers (default: a temp folder)")
    ap.add_argument("--only", default="", help="comma-separated families: " + ",".join(SHARES))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="radsynth-fuzz-"))
    os.environ["RADSYNTH_CONFIG_DIR"] = str(work / "config")  # audit log, keys: never the user's
    crash_dir = args.crash_dir or (work / "crashes")
    logging.getLogger("nibabel").setLevel(logging.CRITICAL)
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from fuzz_mutators import MUTATORS
    from fuzz_seeds import bomb_png, build_seeds, signed_folder
    from fuzz_signed import t_verify
    from fuzz_targets import READER_TARGETS, cli_subprocess, guarded, t_cohort_validate, t_ingest

    seeds = build_seeds(work / "seeds")
    key = Ed25519PrivateKey.generate()
    template = signed_folder(work / "signed_template", seeds, key)
    outside = work / "outside.txt"
    outside.write_text("a file outside every verified folder\n")
    key_file = work / "deid.key"
    key_file.write_text("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n")
    rng = random.Random(args.seed)
    only = [f for f in args.only.split(",") if f] or list(SHARES)
    counts = {f: round(args.total * SHARES[f]) for f in only}
    table = Table()
    t_all = time.perf_counter()
    n_inputs = 0
    for fam, n in counts.items():
        t_fam = time.perf_counter()
        for i in range(n):
            sub = work / "w" / f"{fam}-{i}"
            if fam in READER_TARGETS or fam in ("spec", "ingest"):
                src_fam = rng.choice(("dicom", "nifti", "png")) if fam == "ingest" else fam
                name, data = rng.choice(sorted(getattr(seeds, src_fam).items()))
                mut = MUTATORS[src_fam](rng, data)
                if fam == "spec":
                    targets = {"cohort validate (CLI)": t_cohort_validate}
                elif fam == "ingest":
                    targets = {"ingest (CLI)": lambda w, nm, d, i=i: t_ingest(w, nm, d, key_file, i)}
                else:
                    targets = {f"{fam}: {t}": fn for t, fn in READER_TARGETS[fam].items()}
                for tname, fn in targets.items():
                    out = guarded(lambda fn=fn: fn(sub, name, mut), args.timeout_s)
                    table.add(tname, out, mut, name, crash_dir)
            else:  # verify
                sub.mkdir(parents=True, exist_ok=True)
                vr = random.Random(rng.getrandbits(64))
                out = guarded(lambda: t_verify(sub, vr, template, outside, key, i), args.timeout_s)
                table.add("verify (CLI)", out, None, f"verify seed in run {args.seed}, input {i}", crash_dir)
            n_inputs += 1
            shutil.rmtree(sub, ignore_errors=True)
        print(f"[{fam}: {n} inputs in {time.perf_counter() - t_fam:.0f} s]", file=sys.stderr, flush=True)

    # a real decompression bomb (400 Mpx declared, ~400 kB): one-line error, bounded memory and time
    bomb = bomb_png()
    for tname, fn in READER_TARGETS["png"].items():
        table.add(f"bomb png: {tname}", guarded(lambda fn=fn: fn(work / "bomb", "bomb.png", bomb), args.timeout_s),
                  bomb, "bomb.png", crash_dir)
    table.add("bomb png: ingest (CLI)", guarded(lambda: t_ingest(work / "bomb", "bomb.png", bomb, key_file, 0),
                                                args.timeout_s), bomb, "bomb.png", crash_dir)

    # a few real subprocess runs: exit codes and stderr as a user sees them
    sub = work / "subprocess"
    sub.mkdir()
    for i in range(3):
        spec = sub / f"spec{i}.yaml"
        spec.write_bytes(MUTATORS["spec"](rng, rng.choice(sorted(seeds.spec.values()))))
        table.add("subprocess: cohort validate", cli_subprocess(["cohort", "validate", spec], 60), None, spec.name,
                  crash_dir)
        src = sub / f"src{i}" / "normal"
        src.mkdir(parents=True)
        name, data = rng.choice(sorted(seeds.png.items()))
        (src / name).write_bytes(MUTATORS["png"](rng, data))
        table.add("subprocess: ingest", cli_subprocess(["ingest", src.parent, "--out", sub / f"out{i}", "--key-file",
                                                        key_file, "--no-progress"], 120), None, name, crash_dir)
        table.add("subprocess: verify", cli_subprocess(["verify", sub / f"out{i}" if i else template], 60), None,
                  "verify", crash_dir)

    dt = time.perf_counter() - t_all
    print(f"\nradsynth fuzz: {n_inputs} mutated inputs (seed {args.seed}, per-input limit {args.timeout_s:g} s), "
          f"{dt:.0f} s, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    table.print()
    bad = sum(r["crash"] + r["hang"] for r in table.rows.values())
    print(f"crashes+hangs: {bad}" + (f"; reproducers in {crash_dir}" if table.examples else ""))
    shutil.rmtree(work / "w", ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
