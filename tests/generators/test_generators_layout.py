"""The generators package layout: one subpackage per family, a common module that imports no family,
families that import common and not each other (latent diffusion -> diffusion is the one allowed edge)."""

from __future__ import annotations

import ast
from pathlib import Path

import radsynth.generators as gen_pkg

ROOT = Path(gen_pkg.__file__).parent
FAMILIES = ("diffusion", "latent_diffusion", "gan", "vae", "enhancement", "mask_guided", "translation")
#: family -> the other families it may import (one way)
ALLOWED = {"latent_diffusion": {"diffusion"}}
TOP_LEVEL = {"archs", "model_dir", "zoo", "cli", "cohort_generator", "prompts"}


def _imports(path: Path) -> set[str]:
    """Every ``radsynth.generators.*`` module a file imports (static imports and ``import_module`` strings)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("radsynth.")
              and "/" not in node.value):  # dotted paths handed to importlib (not format ids such as ".../1")
            out.add(node.value.split(":")[0])
    return {m for m in out if m.startswith("radsynth.generators.")}


def _part(module: str) -> str:
    """``radsynth.generators.X[.Y]`` -> X (a family, ``common`` or a top-level module)."""
    return module.split(".")[2]


def test_no_flat_family_modules_left() -> None:
    flat = {p.stem for p in ROOT.glob("*.py")} - {"__init__"}
    assert flat == TOP_LEVEL
    for sub in ("common", *FAMILIES):
        assert (ROOT / sub / "__init__.py").is_file()


def test_common_imports_no_family_nor_dispatcher() -> None:
    for path in (ROOT / "common").glob("*.py"):
        bad = {m for m in _imports(path) if _part(m) != "common"}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_families_import_common_and_only_allowed_families() -> None:
    for fam in FAMILIES:
        for path in (ROOT / fam).glob("*.py"):
            parts = {_part(m) for m in _imports(path)}
            bad = parts - {"common", fam} - ALLOWED.get(fam, set())
            assert not bad, f"{fam}/{path.name} imports {sorted(bad)}"


def test_model_formats_are_stable_ids_not_module_paths() -> None:
    """Model folders store ``format: radsynth.generators.<arch>/1``; it is an id resolved through ``arch``
    (never imported), so folders written before the move to subpackages keep loading."""
    from radsynth.generators.archs import ARCHITECTURES, arch_module, model_format

    for arch in ARCHITECTURES:
        assert arch_module(arch).MODEL_FORMAT == model_format(arch) == f"radsynth.generators.{arch}/1"
