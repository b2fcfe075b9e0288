"""Attribute prompts: ``"chest x-ray, pneumonia, 65-year-old male, AP"`` -> the conditions a generator accepts.

Two deterministic steps (no network, no language model):

1. :func:`parse_prompt` reads the text into :class:`PromptConditions`: modality (DICOM codes DX, CT,
   MR), body part (DICOM Body Part Examined: CHEST, BRAIN, HEAD, ...), finding (``pneumonia``,
   ``normal``, ... or one of the model's own class names), age in years, sex (DICOM M / F), view
   (AP, PA, LATERAL), MRI sequence (T1w, T2w, PD, FLAIR, T1c), slice orientation (axial, coronal,
   sagittal) and model attributes (one of their values, or ``name=value``);
2. :func:`resolve_conditions` checks them against :class:`ModelCapabilities` (read from the model
   folder's ``config.json``: ``model.classes``, ``model.attributes`` and the optional
   ``"subject": {"modality": ..., "body_part": ...}`` saying what the images are) and returns the class
   and attribute values ``radsynth sample`` takes (:class:`SamplingConditions`).

Anything the text or the model cannot express is one :class:`~radsynth.core.errors.RadsynthInputError`
line naming the condition (``--prompt age``), the words that asked for it and what the model
conditions on.

Reading rules. Words are case-insensitive and split at spaces, commas, semicolons, colons, slashes,
hyphens and underscores (``65-year-old`` = ``65 year old``, ``x-ray`` = ``x ray``); dots inside words go
(``a.p.`` = ``ap``) and a number glued to letters is split (``65yo``, ``65M``). Ages: a number with a
unit (``65 y``, ``65 yo``, ``65 y/o``, ``65 years``, ``65-year-old``, ``18 months``, ``3 weeks``,
``10 days``; 1 month = 1/12 year, 1 week = 7/365.25, 1 day = 1/365.25), after ``age`` / ``aged``
(years), or before M / F (``65M``: 65 years, male); 0 to 130 years. ``no`` / ``without`` only in
``no finding(s)`` (= normal). A word of four or more letters that is not in the vocabulary is read as
the nearest word that is, within an optimal-string-alignment distance of 1 (4-5 letters) or 2 (6 or
more; ``pnuemonia`` -> ``pneumonia``), difflib's ratio breaking ties; shorter words (AP, PA, CT, MR)
must be exact. Every such reading is listed in :attr:`PromptConditions.corrections`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from radsynth.core.errors import RadsynthInputError

#: (canonical value, phrases) per field; phrases are lower-case words separated by single spaces
_VOCAB: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]] = MappingProxyType({
    "modality": (
        ("DX", ("x ray", "xray", "radiograph", "radiography", "radiographic", "dx", "cr", "cxr")),
        ("CT", ("ct", "computed tomography", "cat scan")),
        ("MR", ("mri", "mr", "magnetic resonance", "magnetic resonance imaging")),
    ),
    "body_part": (
        ("CHEST", ("chest", "thorax", "thoracic", "lung", "lungs", "cxr")),
        ("BRAIN", ("brain", "cerebral")),
        ("HEAD", ("head", "skull")),
        ("ABDOMEN", ("abdomen", "abdominal")),
        ("PELVIS", ("pelvis", "pelvic")),
        ("SPINE", ("spine", "spinal")),
        ("KNEE", ("knee",)),
        ("HAND", ("hand", "wrist")),
        ("FOOT", ("foot", "ankle")),
        ("SHOULDER", ("shoulder",)),
        ("BREAST", ("breast", "mammogram", "mammography")),
    ),
    "finding": (
        ("normal", ("normal", "healthy", "unremarkable", "no finding", "no findings", "no abnormality")),
        ("pneumonia", ("pneumonia",)),
        ("effusion", ("effusion", "pleural effusion")),
        ("nodule", ("nodule", "lung nodule", "pulmonary nodule")),
        ("consolidation", ("consolidation", "lobar consolidation")),
        ("pneumothorax", ("pneumothorax",)),
        ("cardiomegaly", ("cardiomegaly",)),
        ("atelectasis", ("atelectasis",)),
        ("edema", ("edema", "oedema", "pulmonary edema", "pulmonary oedema")),
        ("mass", ("mass",)),
        ("fracture", ("fracture",)),
        ("covid", ("covid", "covid 19")),
        ("tumour", ("tumour", "tumor", "glioma")),
        ("stroke", ("stroke", "infarct", "ischaemic stroke", "ischemic stroke")),
        ("haemorrhage", ("haemorrhage", "hemorrhage", "bleed", "intraparenchymal haemorrhage")),
    ),
    "sex": (("M", ("male", "man", "boy")), ("F", ("female", "woman", "girl"))),
    "view": (
        ("AP", ("ap", "anteroposterior", "antero posterior", "anterior posterior")),
        ("PA", ("pa", "posteroanterior", "postero anterior", "posterior anterior")),
        ("LATERAL", ("lateral", "lat", "ll", "rl")),
    ),
    "sequence": (
        ("T1w", ("t1", "t1w", "t1 weighted")),
        ("T2w", ("t2", "t2w", "t2 weighted")),
        ("PD", ("pd", "pdw", "proton density")),
        ("FLAIR", ("flair", "t2 flair")),
        ("T1c", ("t1c", "t1ce", "t1 contrast", "t1 post contrast", "post contrast t1", "contrast enhanced t1")),
    ),
    "orientation": (("axial", ("axial", "transverse", "transaxial")), ("coronal", ("coronal",)),
                    ("sagittal", ("sagittal",))),
})
#: words read and dropped ("sex: male", "AP view", "T1-weighted image")
_FILLER = frozenset((
    "a", "an", "the", "of", "with", "and", "in", "on", "for", "at", "patient", "subject", "image", "images", "scan",
    "view", "projection", "film", "plain", "study", "showing", "shows", "synthetic", "sample", "sequence", "slice",
    "plane", "weighted", "sex", "gender", "modality", "finding", "findings", "class", "label", "generate", "show",
))
_AGE_KEYS = frozenset(("age", "aged"))
_NEGATIONS = frozenset(("no", "not", "without", "negative"))
#: ``name=value`` (an attribute by name; names without spaces)
_EXPLICIT = r"([A-Za-z]\w*)\s*=\s*([^\s,;]+)"
#: age unit phrase -> years per unit
_AGE_UNITS: Mapping[str, float] = MappingProxyType({
    **dict.fromkeys(("years old", "year old", "years", "year", "yrs", "yr", "yo", "y o", "y"), 1.0),
    **dict.fromkeys(("months old", "month old", "months", "month", "mo", "mos"), 1.0 / 12.0),
    **dict.fromkeys(("weeks old", "week old", "weeks", "week", "wk", "wks"), 7.0 / 365.25),
    **dict.fromkeys(("days old", "day old", "days", "day"), 1.0 / 365.25),
})
_SEX_LETTERS: Mapping[str, str] = MappingProxyType({"m": "M", "f": "F"})
MAX_AGE_YEARS = 130.0
#: model attribute names that carry a field of the prompt
_FIELD_ATTRIBUTES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "sex": ("sex", "gender"), "view": ("view", "view position", "projection"), "sequence": ("sequence",),
    "orientation": ("orientation", "plane"), "modality": ("modality",), "body_part": ("body part", "region"),
    "age": ("age", "age group", "age bin", "age band"),
})
#: adjective forms of common attribute values ("viral pneumonia" -> pathogen=virus)
_VALUE_SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "virus": ("viral",), "bacteria": ("bacterial",), "fungus": ("fungal",),
})
FIELD_NAMES: Mapping[str, str] = MappingProxyType({
    "modality": "modality", "body_part": "body part", "finding": "finding", "age": "age", "sex": "sex",
    "view": "view", "sequence": "sequence", "orientation": "orientation", "attribute": "attribute",
})


def _norm(text: str) -> str:
    """Lower case, ``-``/``_`` as spaces, single spaces (how phrases and model names are compared)."""
    return " ".join(re.sub(r"[-_]+", " ", str(text).lower()).split())


class ModelCapabilities(BaseModel):
    """What one generator model can be asked for, from its ``config.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "the model"
    #: class names in the model's spelling (empty: no class conditioning)
    classes: tuple[str, ...] = ()
    #: categorical attributes: ((name, (value, ...)), ...)
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: DICOM modality of the images (``config.json["subject"]["modality"]``), None if not recorded
    modality: str | None = None
    #: DICOM Body Part Examined of the images, None if not recorded
    body_part: str | None = None

    @classmethod
    def from_config(cls, doc: Mapping[str, Any], name: str = "the model") -> ModelCapabilities:
        """From a model folder's parsed ``config.json`` (``model.classes``, ``model.attributes``, ``subject``)."""
        m = doc.get("model") or {}
        subject = doc.get("subject") or {}
        return cls(
            name=name, classes=tuple(str(c) for c in m.get("classes", ())),
            attributes=tuple((str(a), tuple(str(v) for v in vals)) for a, vals in m.get("attributes", ())),
            modality=str(subject["modality"]).upper() if subject.get("modality") else None,
            body_part=str(subject["body_part"]).upper() if subject.get("body_part") else None,
        )

    def describe(self) -> str:
        """One line: what the model conditions on and what its images are."""
        parts = ([f"class ({', '.join(c.lower() for c in self.classes)})"] if self.classes else []) + [
            f"{a} ({', '.join(vals)})" for a, vals in self.attributes]
        text = f"what {self.name} conditions on: " + ("; ".join(parts) if parts else "nothing (unconditional)")
        subject = " ".join(x for x in (self.modality, self.body_part) if x)
        return text + (f"; it makes {subject} images" if subject else "; its config records no modality or body part")


class PromptConditions(BaseModel):
    """A prompt read into structured conditions (model-independent; unset fields are None)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    modality: Literal["DX", "CT", "MR"] | None = None
    body_part: str | None = None
    #: canonical finding (``normal``, ``pneumonia``, ...) or a model class name (lower case)
    finding: str | None = None
    #: age in years (months, weeks and days converted)
    age_years: float | None = Field(None, ge=0.0, le=MAX_AGE_YEARS)
    sex: Literal["M", "F"] | None = None
    view: Literal["AP", "PA", "LATERAL"] | None = None
    sequence: Literal["T1w", "T2w", "PD", "FLAIR", "T1c"] | None = None
    orientation: Literal["axial", "coronal", "sagittal"] | None = None
    #: model attributes asked for: ((name, value), ...) as written
    attributes: tuple[tuple[str, str], ...] = ()
    #: (field, the words that set it), for messages
    words: tuple[tuple[str, str], ...] = ()
    #: misspellings read as vocabulary words: ((written, read as), ...)
    corrections: tuple[tuple[str, str], ...] = ()


class SamplingConditions(BaseModel):
    """What ``radsynth sample`` takes: the class (model spelling) and attribute values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    corrections: tuple[tuple[str, str], ...] = ()

    def attribute_options(self) -> list[str]:
        """``--attribute`` values: ``["name=value", ...]``."""
        return [f"{a}={v}" for a, v in self.attributes]


def _phrase_table(caps: ModelCapabilities | None) -> dict[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Phrase (word tuple) -> ((field, value), ...): the static vocabulary, then the model's own class names
    and attribute values (a static phrase wins)."""
    table: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for field, entries in _VOCAB.items():
        for value, phrases in entries:
            for ph in phrases:
                table.setdefault(tuple(ph.split()), []).append((field, value))
    if caps is not None:
        for c in caps.classes:
            known = _canonical_finding(c)
            table.setdefault(tuple(_norm(c).split()), [("finding", known or _norm(c))])
        for name, vals in caps.attributes:
            if _attribute_field(name) is not None:
                continue  # sex / view / ... values are read through the static vocabulary
            for v in vals:
                for ph in (_norm(v), *_VALUE_SYNONYMS.get(_norm(v), ())):
                    table.setdefault(tuple(ph.split()), [("attribute", f"{name}={v}")])
    return {k: tuple(v) for k, v in table.items()}


def _canonical_finding(name: str) -> str | None:
    n = _norm(name)
    return next((value for value, phrases in _VOCAB["finding"] if n in phrases), None)


def _attribute_field(name: str) -> str | None:
    n = _norm(name)
    return next((f for f, names in _FIELD_ATTRIBUTES.items() if n in names), None)


def _osa(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent transpositions.

    Hand-written (12 lines): the standard library has no edit distance (``difflib`` ratios do not count edits, and a
    bound in edits is what makes "pnuemonia" a misspelling and "normal" not one), and no edit-distance package is a
    dependency."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def max_edits(word: str) -> int:
    """Edits allowed when reading a misspelt word: 0 under 4 letters, 1 for 4-5, 2 for 6 or more."""
    return 0 if len(word) < 4 else 1 if len(word) < 6 else 2


def _nearest(word: str, known: Sequence[str]) -> str | None:
    """The vocabulary word ``word`` is read as (None: none close enough, or a tie)."""
    bound = max_edits(word)
    if not bound or not word.isalpha():
        return None
    scored = sorted((_osa(word, k), -difflib.SequenceMatcher(None, word, k).ratio(), k)
                    for k in known if len(k) >= 4 and abs(len(k) - len(word)) <= bound)
    if not scored or scored[0][0] > bound:
        return None
    if len(scored) > 1 and scored[1][:2] == scored[0][:2]:
        return None  # two equally near words: refuse to guess
    return scored[0][2]


def _tokens(text: str) -> list[str]:
    t = re.sub(r"(?<=[a-z])\.(?=[a-z])", "", text.lower())  # a.p. -> ap.
    t = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", t)  # dots that are not decimal points
    out: list[str] = []
    for tok in re.split(r"[\s,;:/()\[\]{}!?'\"_-]+", t):
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", tok)
        out += [m.group(1), m.group(2)] if m else ([tok] if tok else [])
    return out


def _bad(field: str, value: Any, caps: ModelCapabilities | None, accepted: str | None = None) -> RadsynthInputError:
    what = ("words naming modality, body part, finding, age, sex, view, MRI sequence, slice orientation"
            " or a model attribute")
    hint = caps.describe() if caps is not None else ""
    hint = hint[:1].upper() + hint[1:] + "." if hint else ""
    return RadsynthInputError(field, value, accepted or what, hint)


def parse_prompt(text: str, caps: ModelCapabilities | None = None, *, field: str = "prompt") -> PromptConditions:
    """Read ``text`` into :class:`PromptConditions`; the model's class names and attribute values (``caps``)
    are words too. RadsynthInputError (naming ``field``) for an unknown word, a bare number, an age
    out of 0-130 years or two values for one condition."""
    if not isinstance(text, str) or not text.strip():
        raise _bad(field, text, caps, "a prompt such as 'chest x-ray, pneumonia, 65-year-old male, AP'")
    explicit = re.findall(_EXPLICIT, text)
    rest = re.sub(_EXPLICIT, " ", text)
    table = _phrase_table(caps)
    known = sorted({w for ph in table for w in ph} | _FILLER | _AGE_KEYS | _NEGATIONS
                   | {w for u in _AGE_UNITS for w in u.split()})
    words, corrections = [], []
    for tok in _tokens(rest):
        if tok in known or re.fullmatch(r"\d+(?:\.\d+)?", tok) or tok in _SEX_LETTERS:
            words.append(tok)
            continue
        near = _nearest(tok, known)
        if near is None:
            raise _bad(field, tok, caps)
        corrections.append((tok, near))
        words.append(near)
    found: dict[str, Any] = {}
    spans: dict[str, str] = {}

    def put(f: str, value: Any, span: Sequence[str]) -> None:
        if f in found and found[f] != value:
            name = FIELD_NAMES.get(f, f.partition(":")[2])
            raise _bad(f"{field} {name}", f"{spans[f]} and {' '.join(span)}", caps, f"one {name}")
        found[f] = value
        spans.setdefault(f, " ".join(span))

    i = 0
    while i < len(words):
        w = words[i]
        if w in _AGE_KEYS or re.fullmatch(r"\d+(?:\.\d+)?", w):
            i = _read_age(words, i, put, field, caps)
            continue
        if w in _NEGATIONS and tuple(words[i:i + 2]) not in table:
            raise _bad(field, " ".join(words[i:i + 2]), caps, "'no finding' (normal); name the class you want")
        for n in (4, 3, 2, 1):
            ph = tuple(words[i:i + n])
            if len(ph) == n and ph in table:
                for f, value in table[ph]:
                    if f == "attribute":
                        a, _, v = value.partition("=")
                        put(f"attribute:{_norm(a)}", v, ph)
                    else:
                        put(f, value, ph)
                i += n
                break
        else:
            if w not in _FILLER:
                raise _bad(field, w, caps)
            i += 1
    for name, value in explicit:
        put(f"attribute:{_norm(name)}", value, (f"{name.strip()}={value}",))
    attrs = tuple((k.split(":", 1)[1], v) for k, v in found.items() if k.startswith("attribute:"))
    plain = {k: v for k, v in found.items() if not k.startswith("attribute:")}
    return PromptConditions(
        **{("age_years" if k == "age" else k): v for k, v in plain.items()}, attributes=attrs,
        words=tuple((k.split(":", 1)[-1] if k.startswith("attribute:") else k, v) for k, v in spans.items()),
        corrections=tuple(corrections),
    )


def _read_age(words: list[str], i: int, put: Any, field: str, caps: ModelCapabilities | None) -> int:
    """Read an age at ``words[i]`` (``age 65``, ``65 years old``, ``65 m``); returns the next index."""
    start, keyed = i, words[i] in _AGE_KEYS
    if keyed:
        i += 1
        if i >= len(words) or not re.fullmatch(r"\d+(?:\.\d+)?", words[i]):
            raise _bad(f"{field} age", " ".join(words[start:i + 1]), caps, "age followed by a number, e.g. 'age 65'")
    number = float(words[i])
    i += 1
    unit = next((u for u in sorted(_AGE_UNITS, key=len, reverse=True)
                 if tuple(words[i:i + len(u.split())]) == tuple(u.split())), None)
    sex_after = i < len(words) and words[i] in _SEX_LETTERS
    if unit is None and not keyed and not sex_after:
        raise _bad(field, words[start], caps, "an age with a unit, e.g. '65-year-old', '65 y', 'age 65', '65M'")
    if unit is not None:
        i += len(unit.split())
        if i < len(words) and words[i] == "old":
            i += 1
    years = number * (_AGE_UNITS[unit] if unit else 1.0)
    if not 0.0 <= years <= MAX_AGE_YEARS:
        raise _bad(f"{field} age", " ".join(words[start:i]), caps, f"0 to {MAX_AGE_YEARS:g} years")
    put("age", round(years, 4), words[start:i])
    if i < len(words) and words[i] in _SEX_LETTERS:
        put("sex", _SEX_LETTERS[words[i]], words[i:i + 1])
        i += 1
    return i


def _model_attribute(caps: ModelCapabilities, f: str) -> tuple[str, tuple[str, ...]] | None:
    """The model attribute carrying prompt field ``f`` (e.g. ``sex`` or ``gender`` for sex), if any."""
    return next(((a, vals) for a, vals in caps.attributes if _attribute_field(a) == f), None)


def _canonical(f: str, value: str) -> str:
    """A model's attribute value in the prompt's canonical form (``female`` -> F, ``lat`` -> LATERAL)."""
    n = _norm(value)
    if f == "sex" and n in _SEX_LETTERS:
        return _SEX_LETTERS[n]
    return next((c for c, phrases in _VOCAB.get(f, ()) if n in phrases or n == _norm(c)), n)


def age_bin(values: Sequence[str], years: float) -> str | None:
    """The value of an age attribute holding ``years`` (bins ``A-B`` inclusive, ``A+``, ``>=A``, ``<A``, or
    a whole number of years); None if no value does."""
    for v in values:
        t = v.replace(" ", "")
        m = re.fullmatch(r"(\d+)-(\d+)", t)
        if m and int(m.group(1)) <= years < int(m.group(2)) + 1:
            return v
        m = re.fullmatch(r"(\d+)\+|>=(\d+)", t)
        if m and years >= int(m.group(1) or m.group(2)):
            return v
        m = re.fullmatch(r"<(\d+)", t)
        if m and years < int(m.group(1)):
            return v
        if t.isdigit() and int(years) == int(t):
            return v
    return None


def resolve_conditions(cond: PromptConditions, caps: ModelCapabilities, *, field: str = "prompt") -> SamplingConditions:
    """The class and attribute values of ``caps``'s model that ``cond`` asks for.

    Conditions the model has no way to take (a modality or body part it does not make, a finding that is
    not one of its classes, age / sex / view / sequence / orientation without a matching attribute, an
    attribute it lacks) are collected into one RadsynthInputError: ``<field> age, sex: got '65 year old,
    male'; accepted: what <model> conditions on: ...``. A value outside an attribute's values (an age in
    no bin, an unknown ``name=value`` value) or two values for one attribute raise at once, naming the
    values accepted.
    """
    words = dict(cond.words)
    chosen: dict[str, str] = {}
    unsupported: list[str] = []

    def refuse(f: str, accepted: str) -> RadsynthInputError:
        """The error for condition ``f`` with its own ``accepted`` (what the model takes follows as the hint)."""
        what = caps.describe()
        return RadsynthInputError(f"{field} {FIELD_NAMES.get(f, f)}", words.get(f), accepted,
                                  what[0].upper() + what[1:] + ".")

    def take(f: str, attr: tuple[str, tuple[str, ...]] | None, value: str | None) -> None:
        """Record ``value`` of model attribute ``attr`` for condition ``f`` (None: ``f`` is unsupported)."""
        if attr is None or value is None:
            unsupported.append(f)
        elif chosen.setdefault(attr[0], value) != value:
            raise refuse(f, f"one {attr[0]}")

    def take_canonical(f: str, attr: tuple[str, tuple[str, ...]] | None, asked: str) -> None:
        """:func:`take` the value of ``attr`` whose canonical form is ``asked`` (``female`` for F)."""
        take(f, attr, next((v for v in attr[1] if _canonical(f, v) == asked), None) if attr else None)

    for f in ("modality", "body_part"):
        asked, have = getattr(cond, f), getattr(caps, f)
        if asked is not None and have != asked:
            take_canonical(f, _model_attribute(caps, f) if have is None else None, asked)
    label = None
    if cond.finding is not None:
        label = next((c for c in caps.classes if _norm(c) == cond.finding or _canonical_finding(c) == cond.finding), None)
        if label is None:
            unsupported.append("finding")
    if cond.age_years is not None:
        attr = _model_attribute(caps, "age")
        value = age_bin(attr[1], cond.age_years) if attr else None
        if attr is not None and value is None:
            raise refuse("age", f"an age in one of the {attr[0]} bins {', '.join(attr[1])}")
        take("age", attr, value)
    for f in ("sex", "view", "sequence", "orientation"):
        if getattr(cond, f) is not None:
            take_canonical(f, _model_attribute(caps, f), getattr(cond, f))
    for name, asked_value in cond.attributes:
        attr = next(((a, vals) for a, vals in caps.attributes if _norm(a) == _norm(name)), None)
        n = _norm(asked_value)
        value = next((v for v in attr[1] if n == _norm(v) or n in _VALUE_SYNONYMS.get(_norm(v), ())), None) \
            if attr else None
        if attr is not None and value is None:
            raise refuse(name, f"{attr[0]} {', '.join(attr[1])}")
        take(name, attr, value)
    if unsupported:
        one = len(unsupported) == 1
        raise RadsynthInputError(f"{field} {', '.join(FIELD_NAMES.get(f, f) for f in unsupported)}",
                                 ", ".join(str(words.get(f)) for f in unsupported), caps.describe(),
                                 f"Leave {'it' if one else 'them'} out or use a model that conditions on "
                                 f"{'it' if one else 'them'}.")
    order = [a for a, _ in caps.attributes]
    return SamplingConditions(label=label, attributes=tuple(sorted(chosen.items(), key=lambda kv: order.index(kv[0]))),
                              corrections=cond.corrections)


def conditions_from_prompt(prompt: str, model: Any, *, field: str = "prompt") -> SamplingConditions:
    """Python API: ``prompt`` -> the class / attribute values of ``model`` (a zoo name such as ``cxr-ddpm-64``
    or a model folder); one RadsynthInputError naming ``field`` for anything it cannot take."""
    from radsynth.generators.zoo import resolve_model

    entry = resolve_model(model, "model", generator=True)
    caps = ModelCapabilities.from_config(entry.config, entry.name)
    return resolve_conditions(parse_prompt(prompt, caps, field=field), caps, field=field)
