"""DICOM de-identification: PS3.15 Annex E Basic Application Level Confidentiality Profile
with the Retain Longitudinal Temporal Information with Modified Dates Option.

API (stable; ``radsynth ingest`` builds on it)::

    cfg = DeidConfig(key=load_or_create_key())   # key: secret bytes (>= 16), never written to outputs
    d = Deidentifier(cfg)                        # one per job: UIDs, pseudonyms, date shifts consistent
    report = d.deidentify(ds)                    # in place on a pydicom Dataset -> DeidReport
    deidentify_file(src, dst, d)                 # atomic write; PixelData byte-identical
    deidentify_folder(src_dir, out_dir, cfg)     # OUT/<pseudonym>/<new SOP UID>.dcm + OUT/deid_report.json
                                                 # + an audit record (action "deidentify")

What happens to each element (recursively, in every sequence item):

* attributes of PS3.15 Table E.1-1 (2024b, :mod:`radsynth.privacy.deid_profile`) get their basic
  profile action (composite actions resolved as documented there); Patient's Name and Patient ID
  become the pseudonym ``P-<12 hex of HMAC-SHA256(key, patient id)>``;
* dates (DA, DT; listed or not) are shifted by a whole number of days per patient,
  ``date_shift_days`` in [-max, -1] u [1, max] from the HMAC (Modified Dates Option, code 113107);
  dates the table says to remove (X) and Patient's Birth Date (Z) are not kept shifted: removed/emptied.
  Times (TM) get the basic-profile action (no time is retained), the time part of DT is kept;
* every UID (UI) is replaced by ``2.25.<int of HMAC-SHA256(key, uid)[:16]>`` (<= 44 characters,
  the same for the same input under the same key: consistent across a study, referenced UIDs
  included), except well-known DICOM UIDs (pydicom's UID dictionary: SOP classes, transfer syntaxes,
  ...) and class/syntax/scheme attributes (``deid_profile.CLASS_UID_KEYWORDS``);
* person names (PN) the table does not list are emptied; private elements are removed unless their
  private creator is in ``allow_private_creators`` (then code 113111 is added); overlays (60xx) and
  curves (50xx) are removed; the File Meta Information is rebuilt (radsynth implementation UID,
  no source AE titles) and the preamble zeroed;
* Patient Identity Removed = YES, De-identification Method and De-identification Method Code
  Sequence (CID 7050: 113100, 113107, 113111 if private elements were kept), Longitudinal Temporal
  Information Modified = MODIFIED.

Pixel data is never changed: Burned In Annotation = YES (or absent) is reported so that a person
can review those images; burned-in text is NOT removed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import canonical_json
from radsynth.privacy import deid_profile as prof

KEY_MIN_BYTES = 16
KEY_MAX_BYTES = 64
KEY_FILE_BYTES = 32
REPORT_FILE = "deid_report.json"
MAX_SHIFT_LIMIT_DAYS = 36500
CODE_BASIC = ("113100", "Basic Application Confidentiality Profile")
CODE_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
CODE_SAFE_PRIVATE = ("113111", "Retain Safe Private Option")
_DUMMY_TEXT = "REMOVED"
_DUMMY: dict[str, Any] = {
    "PN": "ANONYMOUS", "LO": _DUMMY_TEXT, "SH": _DUMMY_TEXT, "LT": _DUMMY_TEXT, "ST": _DUMMY_TEXT,
    "UT": _DUMMY_TEXT, "UC": _DUMMY_TEXT, "CS": _DUMMY_TEXT, "AE": _DUMMY_TEXT, "DA": "19000101",
    "DT": "19000101000000", "TM": "000000", "IS": "0", "DS": "0", "AS": "000Y", "UR": "",
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "SV": 0, "UV": 0, "FL": 0.0, "FD": 0.0,
    "OB": b"\0\0", "OW": b"\0\0", "OF": b"\0\0\0\0", "OD": b"\0" * 8, "OL": b"\0\0\0\0", "OV": b"\0" * 8,
    "UN": b"\0\0", "AT": 0,
}
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI",
                       "UR", "UT"})
_META_KEEP = ("FileMetaInformationVersion", "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID",
              "TransferSyntaxUID")
# keep_descriptors: pattern cleaning of kept descriptors (digits runs, dates, e-mail, phone-like).
_CLEAN_PATTERNS = (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), re.compile(r"\d[\d/.\-: ]{3,}\d"))


@dataclass(frozen=True)
class DeidConfig:
    """De-identification settings. ``key`` is secret and never serialised: :meth:`to_json` holds its
    :attr:`key_id` only (first 16 hex of sha256 of a tagged key), so a report names the key it used."""

    key: bytes = field(repr=False)
    max_date_shift_days: int = 365
    allow_private_creators: tuple[str, ...] = ()
    keep_descriptors: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.key, (bytes, bytearray)) or not KEY_MIN_BYTES <= len(self.key) <= KEY_MAX_BYTES:
            n = len(self.key) if isinstance(self.key, (bytes, bytearray)) else type(self.key).__name__
            raise RadsynthInputError("key", f"<{n} bytes>", f"secret bytes, {KEY_MIN_BYTES}..{KEY_MAX_BYTES} long")
        object.__setattr__(self, "key", bytes(self.key))
        m = self.max_date_shift_days
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= MAX_SHIFT_LIMIT_DAYS:
            raise RadsynthInputError("max_date_shift_days", m, f"an integer 1..{MAX_SHIFT_LIMIT_DAYS} (days)")
        creators = self.allow_private_creators
        if isinstance(creators, str) or not all(isinstance(c, str) and c.strip() for c in creators):
            raise RadsynthInputError("allow_private_creators", creators, "a tuple of private creator strings")
        object.__setattr__(self, "allow_private_creators", tuple(c.strip() for c in creators))
        if not isinstance(self.keep_descriptors, bool):
            raise RadsynthInputError("keep_descriptors", self.keep_descriptors, "true or false")

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"radsynth-deid-key-id\0" + self.key).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {"profile": f"PS3.15 {prof.PS3_15_EDITION} Annex E basic + modified dates", "key_id": self.key_id,
                "max_date_shift_days": self.max_date_shift_days,
                "allow_private_creators": list(self.allow_private_creators), "keep_descriptors": self.keep_descriptors}

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`to_json` (the audit record's config hash)."""
        return hashlib.sha256(canonical_json(self.to_json()).encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, data: dict[str, Any], key: bytes) -> DeidConfig:
        """Rebuild from :meth:`to_json`; ``key`` must be the key it was made with (checked by key_id)."""
        cfg = cls(key=key, max_date_shift_days=int(data.get("max_date_shift_days", 365)),
                  allow_private_creators=tuple(data.get("allow_private_creators", ())),
                  keep_descriptors=bool(data.get("keep_descriptors", False)))
        if data.get("key_id") not in (None, cfg.key_id):
            raise RadsynthInputError("key", f"key id {cfg.key_id}", f"the key with id {data['key_id']}",
                                     "Pass the key file the configuration was written with.")
        return cfg


@dataclass
class DeidReport:
    """What :meth:`Deidentifier.deidentify` changed in one dataset (element labels like
    ``(0010,0010) PatientName``; nested ones prefixed ``Sequence[i].``)."""

    removed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    uids_remapped: int = 0
    dates_shifted: list[str] = field(default_factory=list)
    private_removed: int = 0
    private_kept: list[str] = field(default_factory=list)
    patient_pseudonym: str = ""
    burned_in_annotation: str = ""  # the input's BurnedInAnnotation ('YES', 'NO' or '' when absent)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FolderReport:
    out: Path
    report_file: Path
    n_files: int
    n_skipped: int
    files: list[dict[str, Any]]
    burned_in: list[str]  # output paths (relative to out) whose input says BurnedInAnnotation YES


# ----------------------------------------------------------------------------------- keys
def default_key_path() -> Path:
    from radsynth.provenance.config_dir import config_dir

    return config_dir() / "keys" / "deid.key"


def load_key(path: str | os.PathLike[str]) -> bytes:
    """A key file: raw bytes (16..64) or their hex text. Anything else -> RadsynthInputError."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise RadsynthInputError("--key-file", str(p), "a readable key file", exc.strerror or "") from None
    text = raw.strip()
    if re.fullmatch(rb"[0-9a-fA-F]+", text or b"-") and len(text) % 2 == 0 and len(text) >= 2 * KEY_MIN_BYTES:
        raw = bytes.fromhex(text.decode("ascii"))
    if not KEY_MIN_BYTES <= len(raw) <= KEY_MAX_BYTES:
        raise RadsynthInputError("--key-file", str(p), f"{KEY_MIN_BYTES}..{KEY_MAX_BYTES} raw bytes (or their hex)",
                                 f"The file holds {len(raw)} bytes.")
    return raw


def load_or_create_key(path: str | os.PathLike[str] | None = None) -> bytes:
    """``path`` if given (must exist), else the user's key (created on first use: 32 random bytes, mode 0600)."""
    if path is not None:
        return load_key(path)
    p = default_key_path()
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(p.parent, 0o700)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_FILE_BYTES))
    return load_key(p)


# ----------------------------------------------------------------------------------- dates
def _shift_da(value: str, days: int) -> str | None:
    v = value.strip()
    if re.fullmatch(r"\d{4}\.\d{2}\.\d{2}", v):  # ACR-NEMA style
        v = v.replace(".", "")
    if not re.fullmatch(r"\d{8}", v):
        return None
    try:
        d = _dt.date(int(v[:4]), int(v[4:6]), int(v[6:8])) + _dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return d.strftime("%Y%m%d") if d.year >= 1 else None


def _shift_dt(value: str, days: int) -> str | None:
    m = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?([0-9.]*)([+-]\d{4})?", value.strip())
    if not m:
        return None
    y, mo, d, rest, tz = m.groups()
    shifted = _shift_da(f"{y}{mo or '01'}{d or '01'}", days)
    if shifted is None:
        return None
    n = 4 + (2 if mo else 0) + (2 if d else 0)
    return shifted[:n] + (rest or "") + (tz or "")


def shift_date_value(value: str, vr: str, days: int) -> str | None:
    """Shift one DA/DT value (or a ``a-b`` range) by ``days``; None when it is not a valid date."""
    fn = _shift_da if vr == "DA" else _shift_dt
    parts = value.split("-") if vr == "DA" and "-" in value else [value]
    out = [fn(p, days) if p else "" for p in parts]
    return None if any(o is None for o in out) or not any(out) else "-".join(o or "" for o in out)


# ----------------------------------------------------------------------------------- engine
class Deidentifier:
    """One per job: the same key -> the same pseudonyms, date shifts and UIDs in every file."""

    def __init__(self, config: DeidConfig) -> None:
        if not isinstance(config, DeidConfig):
            raise RadsynthInputError("config", type(config).__name__, "a DeidConfig")
        self.config = config
        self._well_known: frozenset[str] | None = None
        self._sr = False  # set per dataset by deidentify()

    def _mac(self, purpose: str, value: str) -> bytes:
        return hmac.new(self.config.key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()

    def pseudonym(self, patient_id: str) -> str:
        """``P-`` + 12 hex of HMAC-SHA256(key, patient id)."""
        return "P-" + self._mac("patient", str(patient_id)).hex()[:12]

    def date_shift_days(self, patient_id: str) -> int:
        """Per-patient whole-day shift in [-max, -1] u [1, max] (never 0)."""
        m = self.config.max_date_shift_days
        n = int.from_bytes(self._mac("date-shift", str(patient_id))[:8], "big") % (2 * m)
        return n - m if n < m else n - m + 1

    def uid(self, original_uid: str) -> str:
        """``2.25.`` + decimal of the first 128 bits of HMAC-SHA256(key, uid): valid, <= 44 characters."""
        return "2.25." + str(int.from_bytes(self._mac("uid", str(original_uid).strip("\0 "))[:16], "big"))

    def keeps_uid(self, value: str) -> bool:
        """Well-known DICOM UIDs (SOP classes, transfer syntaxes, frames of reference, ...) are kept."""
        if self._well_known is None:
            from pydicom.uid import UID_dictionary

            self._well_known = frozenset(UID_dictionary)
        return value in self._well_known

    # ------------------------------------------------------------------ per dataset
    def deidentify(self, ds: Any) -> DeidReport:
        """De-identify ``ds`` (a pydicom Dataset/FileDataset) in place; returns what changed."""
        from pydicom.dataset import Dataset
        from pydicom.uid import UID

        if not isinstance(ds, Dataset):
            raise RadsynthInputError("ds", type(ds).__name__, "a pydicom Dataset")
        pid = str(ds.get("PatientID", "") or "").strip()
        pname = str(ds.get("PatientName", "") or "").strip()
        patient_key = pid or (f"name:{pname}" if pname else f"study:{ds.get('StudyInstanceUID', '')}")
        rep = DeidReport(patient_pseudonym=self.pseudonym(patient_key),
                         burned_in_annotation=str(ds.get("BurnedInAnnotation", "") or "").strip().upper())
        shift = self.date_shift_days(patient_key)
        sop_class = str(ds.get("SOPClassUID", "") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", ""))
        self._sr = bool(sop_class) and " SR " in f" {UID(sop_class).name} "  # e.g. "Enhanced SR Storage"
        self._walk(ds, rep, shift, "", top=True)
        self._mark(ds, rep)
        self._file_meta(ds, rep)
        return rep

    def _walk(self, ds: Any, rep: DeidReport, shift: int, path: str, top: bool = False,
              directory_record: bool = False) -> None:
        creators = self._allowed_private_blocks(ds)
        for tag in list(ds.keys()):
            elem = ds[tag]
            label = f"{path}{_label(elem)}"
            if tag.is_private:
                self._private(ds, elem, creators, rep, shift, label)
                continue
            if prof.is_overlay_or_curve(tag) or (tag & 0xFFFF) == 0 and (tag >> 16) not in (0x0002,):
                del ds[tag]  # overlays/curves; group lengths (retired, recomputed by writers)
                rep.removed.append(label)
                continue
            rule = prof.rule_for(tag)
            vr, is_sq = elem.VR, elem.VR == "SQ"
            if rule is None:
                self._unlisted(elem, rep, shift, label)
                continue
            kw = elem.keyword
            if kw in ("PatientName", "PatientID"):
                value = str(elem.value or "").strip()
                if top or not value:
                    elem.value = rep.patient_pseudonym if top else ""
                else:
                    elem.value = self.pseudonym(value) if kw == "PatientID" else ""
                (rep.replaced if elem.value else rep.emptied).append(label)
                continue
            if self.config.keep_descriptors and kw in prof.DESCRIPTOR_KEYWORDS and not is_sq:
                elem.value = _clean_text(elem.value)
                rep.replaced.append(label)
                continue
            action = prof.resolve(rule.action, is_sq, tag, sr=self._sr, directory_record=directory_record)
            if vr in ("DA", "DT") and action in ("Z", "D") and kw != "PatientBirthDate" and not elem.is_empty:
                if self._shift(elem, shift):
                    rep.dates_shifted.append(label)
                    continue
            if action == "X":
                del ds[tag]
                rep.removed.append(label)
            elif action == "Z":
                if not elem.is_empty:
                    elem.value = [] if is_sq else _empty(vr)
                    rep.emptied.append(label)
            elif action == "D":
                if vr == "UI":
                    rep.uids_remapped += self._remap(elem, force=True)
                else:
                    elem.value = _DUMMY.get(vr, b"\0\0")
                    rep.replaced.append(label)
            elif action == "U":
                if is_sq:
                    self._recurse(elem, rep, shift, label)
                else:
                    rep.uids_remapped += self._remap(elem, force=True)
            else:  # K, C: keep, recursing into sequences
                if is_sq:
                    self._recurse(elem, rep, shift, label)

    def _unlisted(self, elem: Any, rep: DeidReport, shift: int, label: str) -> None:
        vr = elem.VR
        if vr == "SQ":
            self._recurse(elem, rep, shift, label)
        elif vr == "UI":
            rep.uids_remapped += self._remap(elem)
        elif vr in ("DA", "DT") and not elem.is_empty:
            if self._shift(elem, shift):
                rep.dates_shifted.append(label)
            else:
                elem.value = ""
                rep.emptied.append(label)
        elif vr == "PN" and not elem.is_empty:
            elem.value = ""
            rep.emptied.append(label)

    def _recurse(self, elem: Any, rep: DeidReport, shift: int, label: str) -> None:
        dirrec = elem.tag == 0x00041220  # DICOMDIR Directory Record Sequence
        for i, item in enumerate(elem.value or []):
            self._walk(item, rep, shift, f"{label.split(' ', 1)[-1]}[{i}].", directory_record=dirrec)

    def _remap(self, elem: Any, force: bool = False) -> int:
        if elem.is_empty or elem.keyword in prof.CLASS_UID_KEYWORDS:
            return 0
        multi = elem.VM > 1
        values = list(elem.value) if multi else [elem.value]
        out, n = [], 0
        for v in values:
            s = str(v).strip("\0 ")
            if s and not self.keeps_uid(s):
                out.append(self.uid(s))
                n += 1
            else:
                out.append(s)
        elem.value = out if multi else out[0]
        return n

    def _shift(self, elem: Any, days: int) -> bool:
        multi = elem.VM > 1
        values = [str(v) for v in (elem.value if multi else [elem.value])]
        out = [shift_date_value(v, elem.VR, days) if v else "" for v in values]
        if any(o is None for o in out):
            return False
        elem.value = out if multi else out[0]
        return True

    def _allowed_private_blocks(self, ds: Any) -> set[tuple[int, int]]:
        allowed = set(self.config.allow_private_creators)
        blocks: set[tuple[int, int]] = set()
        if not allowed:
            return blocks
        for tag in ds.keys():
            if tag.is_private and 0x10 <= (tag & 0xFFFF) <= 0xFF:
                val = ds[tag].value
                name = val.decode("latin-1", "replace") if isinstance(val, bytes) else str(val)
                if name.strip("\0 ") in allowed:
                    blocks.add((tag >> 16, tag & 0xFF))
        return blocks

    def _private(self, ds: Any, elem: Any, blocks: set[tuple[int, int]], rep: DeidReport, shift: int,
                 label: str) -> None:
        tag = elem.tag
        group, el = tag >> 16, tag & 0xFFFF
        block = (group, el) if 0x10 <= el <= 0xFF else (group, el >> 8)
        if el >= 0x1000 or 0x10 <= el <= 0xFF:
            if block in blocks:
                rep.private_kept.append(label)
                if elem.VR == "SQ":
                    self._recurse(elem, rep, shift, label)
                return
        del ds[tag]
        rep.private_removed += 1

    # ------------------------------------------------------------------ marking and meta
    def _mark(self, ds: Any, rep: DeidReport) -> None:
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        ds.PatientIdentityRemoved = "YES"
        methods = [f"radsynth PS3.15 {prof.PS3_15_EDITION} basic profile", "modified dates: per-patient day shift",
                   f"key id {self.config.key_id}"]
        codes = [CODE_BASIC, CODE_MODIFIED_DATES]
        if rep.private_kept:
            codes.append(CODE_SAFE_PRIVATE)
            methods.append("private kept: " + ",".join(self.config.allow_private_creators)[:48])
        if self.config.keep_descriptors:
            methods.append("descriptors kept, pattern-cleaned")
        ds.DeidentificationMethod = methods
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        ds.LongitudinalTemporalInformationModified = "MODIFIED"

    def _file_meta(self, ds: Any, rep: DeidReport) -> None:
        from pydicom.dataset import FileMetaDataset

        from radsynth.io.dicom_series import (
            IMPLEMENTATION_CLASS_UID,
            IMPLEMENTATION_VERSION_NAME,
        )

        old = getattr(ds, "file_meta", None)
        meta = FileMetaDataset()
        if old is not None:
            for kw in _META_KEEP:
                if kw in old:
                    setattr(meta, kw, old[kw].value)
            for elem in old:
                if elem.keyword not in _META_KEEP and elem.keyword not in ("FileMetaInformationGroupLength",
                                                                           "ImplementationClassUID",
                                                                           "ImplementationVersionName"):
                    rep.removed.append("file meta " + _label(elem))
        if "TransferSyntaxUID" not in meta:  # no meta in the source: name the encoding it was read with
            from pydicom import uid as _uid

            enc = getattr(ds, "original_encoding", (None, None))
            syntax = {(True, True): _uid.ImplicitVRLittleEndian, (False, True): _uid.ExplicitVRLittleEndian,
                      (False, False): _uid.ExplicitVRBigEndian}.get(tuple(enc))
            if syntax is not None:
                meta.TransferSyntaxUID = syntax
        if "FileMetaInformationVersion" not in meta:
            meta.FileMetaInformationVersion = b"\0\1"
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        elif "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = self.uid(str(meta.MediaStorageSOPInstanceUID))
        if "SOPClassUID" in ds and "MediaStorageSOPClassUID" not in meta:
            meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
        ds.file_meta = meta
        if hasattr(ds, "preamble"):
            ds.preamble = b"\0" * 128


def _label(elem: Any) -> str:
    t = elem.tag
    return f"({t >> 16:04X},{t & 0xFFFF:04X}) {elem.keyword or elem.name}".strip()


def _empty(vr: str) -> Any:
    return "" if vr in _TEXT_VRS else (b"" if vr.startswith("O") or vr == "UN" else None)


def _clean_text(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [_clean_text(v) for v in value]
    s = str(value)
    for pat in _CLEAN_PATTERNS:
        s = pat.sub("*", s)
    return s


# ----------------------------------------------------------------------------------- files
def read_dicom(path: str | os.PathLike[str]) -> Any | None:
    """A pydicom dataset, or None when ``path`` is not DICOM (files without preamble/meta are read)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        pass
    except Exception:
        return None
    try:
        ds = pydicom.dcmread(path, force=True)
        ok = any(k in ds for k in ("SOPClassUID", "Modality", "PatientID", "StudyInstanceUID"))
        return ds if ok else None
    except Exception:
        return None


def _write(ds: Any, dst: Path) -> None:
    from radsynth.io.atomic import atomic_path

    with atomic_path(dst) as tmp:
        try:
            ds.save_as(tmp, enforce_file_format=True)
        except (AttributeError, ValueError):  # no transfer syntax known: write as the source was encoded
            ds.save_as(tmp, enforce_file_format=False)


def deidentify_file(src_path: str | os.PathLike[str], dst_path: str | os.PathLike[str],
                    deidentifier: Deidentifier) -> DeidReport:
    """Read ``src_path``, de-identify, write ``dst_path`` atomically. PixelData bytes are untouched."""
    ds = read_dicom(src_path)
    if ds is None:
        raise RadsynthInputError("src_path", str(src_path), "a DICOM file")
    rep = deidentifier.deidentify(ds)
    _write(ds, Path(dst_path))
    return rep


def _iter_files(src: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name


def deidentify_folder(src_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], config: DeidConfig,
                      progress: bool = True) -> FolderReport:
    """Every DICOM file under ``src_dir`` -> ``out_dir/<pseudonym>/<new SOP Instance UID>.dcm``.

    ``out_dir`` must be new or empty; everything is written into a temporary sibling folder that is
    renamed at the end, so a failure leaves nothing behind. Non-DICOM files are skipped (counted).
    Writes ``out_dir/deid_report.json`` (no source paths: file names can hold PHI; sources are named
    by sha256) and appends an audit record (``deidentify``; inputs: source paths -> sha256).
    """
    from tqdm import tqdm

    from radsynth.io.atomic import atomic_write_text, sha256_file
    from radsynth.provenance.audit import log_action, sha256_files

    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise RadsynthInputError("SRC", str(src), "an existing folder of DICOM files")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RadsynthInputError("--out", str(out), "a new or empty folder")
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise RadsynthInputError("--out", str(out), "a folder outside SRC")
    files = list(_iter_files(src))
    deid = Deidentifier(config)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    entries: list[dict[str, Any]] = []
    inputs: dict[str, str] = {}
    skipped = 0
    try:
        for path in tqdm(files, desc="deidentify", unit="file", disable=not progress):
            ds = read_dicom(path)
            if ds is None:
                skipped += 1
                continue
            src_sha = sha256_file(path)
            pixel_sha = hashlib.sha256(ds.PixelData).hexdigest() if "PixelData" in ds else None
            rep = deid.deidentify(ds)
            name = str(ds.get("SOPInstanceUID", "") or deid.uid(f"file:{src_sha}"))
            rel = Path(rep.patient_pseudonym) / f"{name}.dcm"
            k = 1
            while (tmp / rel).exists():
                rel = Path(rep.patient_pseudonym) / f"{name}-{k}.dcm"
                k += 1
            _write(ds, tmp / rel)
            inputs[str(path)] = src_sha
            entries.append({"output": rel.as_posix(), "source_sha256": src_sha, "pixel_data_sha256": pixel_sha,
                            **rep.to_json()})
        if not entries:
            raise RadsynthInputError("SRC", str(src), "a folder with at least one DICOM file",
                                     f"{skipped} file(s) found, none DICOM.")
        burned = [e["output"] for e in entries if e["burned_in_annotation"] == "YES"]
        report = {
            "config": config.to_json(), "n_files": len(entries), "n_skipped_not_dicom": skipped,
            "pixel_data": "unchanged (byte-identical); burned-in annotations are NOT removed",
            "burned_in_annotation_yes": burned,
            "burned_in_annotation_absent": [e["output"] for e in entries if not e["burned_in_annotation"]],
            "files": entries,
        }
        atomic_write_text(tmp / REPORT_FILE, json.dumps(report, indent=1, sort_keys=True) + "\n")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    outputs = sha256_files(sorted(p for p in out.rglob("*") if p.is_file()))
    log_action("deidentify", config_hash=config.hash, inputs=inputs, outputs=outputs, command=sys.argv)
    return FolderReport(out=out, report_file=out / REPORT_FILE, n_files=len(entries), n_skipped=skipped,
                        files=entries, burned_in=burned)
