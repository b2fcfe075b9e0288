"""PHI scan: flag likely protected health information in a folder of DICOM, PNG, NIfTI and JSON files.

Where it looks:

* DICOM (any file pydicom reads; recursively into sequences; private elements too): person names
  (PN), dates (DA, DT) and times (TM), identifiers (Patient ID, Accession Number, Other Patient IDs,
  Study ID, admission/visit/procedure ids, ...), institutions and addresses, telephone numbers; the
  text of every other string element (LO, SH, LT, ST, UT, UC) is scanned with the free-text rules
  (JSON text, e.g. radsynth's provenance block, is parsed and walked).
* PNG text chunks (tEXt, zTXt, iTXt; the XMP packet included).
* NIfTI ``descrip``, ``aux_file``, ``intent_name`` and header extensions (JSON ones walked).
* JSON files (sidecars): strings are scanned; keys that name PHI (``PatientName``, ``mrn``, ...)
  with a non-empty value are flagged.

Free-text rules: e-mail addresses, SSN-like (123-45-6789), phone numbers, dates (ISO, DICOM
YYYYMMDD, d/m/y, d.m.y, "12 March 2021", "Mar 12, 2021", 12-Mar-2021), MRN-like ids (labelled
"MRN/ID/Accession: X" or a bare run of 7-10 digits), and names (titles "Dr. Smith", labelled
"Name: John Smith", DICOM style "DOE^JOHN").

What is not PHI (so radsynth's own outputs come out clean): radsynth's synthetic dummies
(``SYNTHETIC^<subject>``, subject ids ``sub-NNNN``, Study ID ``SYNTHETIC``), de-identification
pseudonyms ``P-<12 hex>`` and dummies (``ANONYMOUS``, ``REMOVED``, zero times ``000000``), UIDs
(digits and dots), hex hashes, version strings, JSON numbers, URIs (XMP namespaces carry dates),
coded-concept values (Code Value: SNOMED codes are digit runs), software/manufacturer strings; DICOM dates of a file that says it
was de-identified with shifted dates (Patient Identity Removed YES and Longitudinal Temporal
Information Modified MODIFIED); radsynth SEG's fixed placeholder content date/time (20000101 000000)
in files marked synthetic (Conversion Type SYN or the RADSYNTH private block).

Output: one :class:`Finding` per hit: path, location (``(0010,0010) PatientName``, ``PNG tEXt
'Comment'``, ``NIfTI descrip``, ``JSON $.a.b``), kind (name, date, time, id, institution, address,
phone, email, ssn), a redacted excerpt (first character, the rest masked).
"""

from __future__ import annotations

import json
import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError

# ---------------------------------------------------------------------------------- markers
_PSEUDONYM = re.compile(r"P-[0-9a-f]{12}")
_SUBJECT = re.compile(r"sub-[A-Za-z0-9]+")
_SAFE_VALUES = frozenset({"ANONYMOUS", "REMOVED", "SYNTHETIC", "NONE", "N/A", "UNKNOWN", "ANONYMIZED"})
_UID = re.compile(r"\d+(\.\d+)+")
_URL = re.compile(r"\b(?:https?|ftp|urn|adobe:ns)[:][^\s\"'<>]*")
_ZERO_TIME = re.compile(r"0{2,6}(\.0*)?")


def is_synthetic_marker(value: str) -> bool:
    """radsynth dummies and de-identification pseudonyms: not PHI."""
    v = value.strip().strip("\0")
    if not v or v.upper() in _SAFE_VALUES:
        return True
    if v.upper().startswith("SYNTHETIC^") or v.upper().startswith("SYNTHETIC "):
        return True
    return bool(_PSEUDONYM.fullmatch(v) or _SUBJECT.fullmatch(v))


# ---------------------------------------------------------------------------------- free text
_MONTHS = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_MD = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
TEXT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("phone", re.compile(r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}\b")),
    ("date", re.compile(r"\b(?:1[89]|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])\b")),
    ("date", re.compile(r"(?<![\d.])(?:1[89]|20)\d{2}" + _MD + r"(?![\d.])")),
    ("date", re.compile(r"\b(?:0?[1-9]|[12]\d|3[01])[/.](?:0?[1-9]|1[0-2])[/.](?:1[89]|20)?\d{2}\b")),
    ("date", re.compile(r"\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:1[89]|20)\d{2}\b")),
    ("date", re.compile(r"\b\d{1,2}(?:st|nd|rd|th)?[ -]" + _MONTHS + r"\.?[ -,]+(?:1[89]|20)\d{2}\b", re.IGNORECASE)),
    ("date", re.compile(r"\b" + _MONTHS + r"\.? \d{1,2}(?:st|nd|rd|th)?,? (?:1[89]|20)\d{2}\b", re.IGNORECASE)),
    ("id", re.compile(r"\b(?:MRN|PID|patient\s*id|accession(?:\s*(?:no|number))?|record\s*(?:no|number))\.?(?:\s*[:#=]\s*|\s+)"
                      r"[A-Z0-9][A-Z0-9-]{3,}\b", re.IGNORECASE)),
    ("id", re.compile(r"(?<![\w.\-])\d{7,10}(?![\w.\-])")),
    ("name", re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\b")),
    ("name", re.compile(r"\b(?i:patient|name|physician|doctor|referred by|signed by)\s*[:=]?\s*[A-Z][a-z]+(?:[ ,]+[A-Z][a-z]+)+")),
    ("name", re.compile(r"\b[A-Z][A-Za-z'-]+\^[A-Z][A-Za-z'-]+")),
)


def scan_text(text: str) -> list[tuple[str, str]]:
    """(kind, matched text) for every free-text rule hit; synthetic markers and UIDs are skipped."""
    out: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    text = _URL.sub(lambda m: " " * len(m.group(0)), str(text))  # namespace/vocabulary URIs carry dates
    for kind, pat in TEXT_RULES:
        for m in pat.finditer(text):
            s = m.group(0)
            if is_synthetic_marker(s) or s.upper().startswith("SYNTHETIC^"):
                continue
            if any(a <= m.start() < b for a, b in seen):
                continue
            seen.add((m.start(), m.end()))
            out.append((kind, s))
    return out


def redact(value: str, keep: int = 1, width: int = 24) -> str:
    """First ``keep`` characters, then letters/digits masked with '*' (at most ``width`` shown)."""
    v = str(value).strip()
    head, rest = v[:keep], v[keep:width]
    return head + re.sub(r"[A-Za-z0-9]", "*", rest) + ("..." if len(v) > width else "")


@dataclass(frozen=True)
class Finding:
    path: str
    location: str
    kind: str
    excerpt: str  # redacted

    def line(self) -> str:
        return f"{self.path}\t{self.location}\t{self.kind}\t{self.excerpt}"


@dataclass
class ScanResult:
    findings: list[Finding]
    n_files: int
    n_scanned: int

    @property
    def clean(self) -> bool:
        return not self.findings


def _text_findings(path: str, location: str, text: str) -> list[Finding]:
    text = str(text)
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            return _json_findings(path, json.loads(stripped), location)
        except ValueError:
            pass
    return [Finding(path, location, k, redact(s)) for k, s in scan_text(text)]


_PHI_KEYS = {
    "patientname": "name", "patient_name": "name", "name_of_patient": "name", "referringphysicianname": "name",
    "patientid": "id", "patient_id": "id", "mrn": "id", "accessionnumber": "id", "accession_number": "id",
    "accession": "id", "ssn": "ssn", "patientbirthdate": "date", "birth_date": "date", "birthdate": "date",
    "dob": "date", "date_of_birth": "date", "studydate": "date", "acquisitiondatetime": "date",
    "patientaddress": "address", "address": "address", "phone": "phone", "telephone": "phone", "email": "email",
    "institutionname": "institution", "institution": "institution", "institutionaddress": "address",
}


def _json_findings(path: str, obj: Any, loc: str = "JSON $") -> list[Finding]:
    out: list[Finding] = []

    def walk(o: Any, where: str, key: str = "") -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{where}.{k}", str(k))
        elif isinstance(o, list):
            for i, v in enumerate(o):
                walk(v, f"{where}[{i}]", key)
        elif isinstance(o, str):
            kind = _PHI_KEYS.get(key.lower())
            if kind and o.strip() and not is_synthetic_marker(o):
                out.append(Finding(path, where, kind, redact(o)))
            elif not kind:
                out.extend(Finding(path, where, k, redact(s)) for k, s in scan_text(o))

    walk(obj, loc)
    return out


# ---------------------------------------------------------------------------------- DICOM
_ID_KEYWORDS = frozenset({
    "PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "MedicalRecordLocator", "AdmissionID",
    "ServiceEpisodeID", "RequestedProcedureID", "PerformedProcedureStepID", "ScheduledProcedureStepID",
    "IssuerOfPatientID", "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
    "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID", "InsurancePlanIdentification", "PatientBirthName",
    "DeviceSerialNumber", "PlateID", "CassetteID", "ResultsID", "InterpretationID", "SpecimenAccessionNumber",
})
_INSTITUTION_KEYWORDS = {"InstitutionName": "institution", "InstitutionAddress": "address",
                         "InstitutionalDepartmentName": "institution", "StationName": "institution",
                         "PatientAddress": "address", "ReferringPhysicianAddress": "address",
                         "PersonAddress": "address", "PatientTelephoneNumbers": "phone",
                         "ReferringPhysicianTelephoneNumbers": "phone", "PersonTelephoneNumbers": "phone",
                         "CountryOfResidence": "address", "RegionOfResidence": "address",
                         "OrderCallbackPhoneNumber": "phone"}
_FREE_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})
#: Device/software descriptors: build dates in version strings are not PHI.
_DEVICE_KEYWORDS = frozenset({"SoftwareVersions", "Manufacturer", "ManufacturerModelName", "ImplementationVersionName",
                              # coded concepts (SNOMED/DCM code values are digit runs, not ids)
                              "CodeValue", "LongCodeValue", "URNCodeValue", "CodingSchemeVersion", "ContextIdentifier",
                              "MappingResource", "ContextGroupVersion"})
_SEG_PLACEHOLDER = {"20000101", "000000"}


def _values(elem: Any) -> list[str]:
    v = elem.value
    vals = list(v) if elem.VM > 1 else [v]
    out = []
    for x in vals:
        if isinstance(x, bytes):
            x = x.decode("latin-1", "replace")
        out.append(str(x).strip("\0 "))
    return [x for x in out if x]


def _dicom_findings(path: str, ds: Any) -> list[Finding]:
    shifted = (str(ds.get("PatientIdentityRemoved", "")).upper() == "YES"
               and str(ds.get("LongitudinalTemporalInformationModified", "")).upper() == "MODIFIED")
    synthetic = str(ds.get("ConversionType", "")).upper() == "SYN" or any(
        str(e.value).startswith("RADSYNTH") for e in ds if e.tag.is_private and 0x10 <= (e.tag & 0xFFFF) <= 0xFF
        and isinstance(e.value, str))
    out: list[Finding] = []

    def walk(d: Any, prefix: str) -> None:
        for elem in d:
            t = elem.tag
            loc = f"{prefix}({t >> 16:04X},{t & 0xFFFF:04X}) {elem.keyword or 'private'}".strip()
            vr = elem.VR
            if vr == "SQ":
                for i, item in enumerate(elem.value or []):
                    walk(item, f"{loc}[{i}].")
                continue
            if t == 0x7FE00010 or vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") and not t.is_private:
                continue
            try:
                vals = _values(elem)
            except Exception:
                continue
            kw = elem.keyword
            for v in vals:
                if vr == "PN" or kw in _ID_KEYWORDS:
                    if not is_synthetic_marker(v):
                        out.append(Finding(path, loc, "name" if vr == "PN" else "id", redact(v)))
                elif vr in ("DA", "DT", "TM"):
                    if shifted and vr != "TM" or _ZERO_TIME.fullmatch(v) or synthetic and v in _SEG_PLACEHOLDER:
                        continue
                    out.append(Finding(path, loc, "time" if vr == "TM" else "date", redact(v, keep=0)))
                elif kw in _INSTITUTION_KEYWORDS:
                    if not is_synthetic_marker(v):
                        out.append(Finding(path, loc, _INSTITUTION_KEYWORDS[kw], redact(v)))
                elif kw in _DEVICE_KEYWORDS:
                    continue
                elif vr in _FREE_TEXT_VRS or t.is_private and vr in ("UN", "OB"):
                    if not _UID.fullmatch(v):
                        out.extend(_text_findings(path, loc, v))

    walk(ds, "")
    if hasattr(ds, "file_meta"):
        walk(ds.file_meta, "meta ")
    return out


# ---------------------------------------------------------------------------------- PNG / NIfTI
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_text_chunks(data: bytes) -> Iterator[tuple[str, str, str]]:
    """(chunk type, keyword, text) of every tEXt/zTXt/iTXt chunk. Hand-written because Pillow's
    ``Image.text`` merges the three chunk types (the location must say which)."""
    pos = len(_PNG_SIG)
    while pos + 8 <= len(data):
        (length,), ctype = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        try:
            if ctype == b"tEXt":
                k, _, v = body.partition(b"\0")
                yield "tEXt", k.decode("latin-1"), v.decode("latin-1")
            elif ctype == b"zTXt":
                k, _, v = body.partition(b"\0")
                yield "zTXt", k.decode("latin-1"), zlib.decompress(v[1:]).decode("latin-1")
            elif ctype == b"iTXt":
                k, _, rest = body.partition(b"\0")
                flag, _method, rest = rest[0], rest[1], rest[2:]
                _lang, _, rest = rest.partition(b"\0")
                _tkey, _, text = rest.partition(b"\0")
                yield "iTXt", k.decode("latin-1"), (zlib.decompress(text) if flag else text).decode("utf-8", "replace")
            elif ctype == b"IEND":
                return
        except (zlib.error, IndexError):
            yield ctype.decode("latin-1"), "?", ""


def _png_findings(path: str, data: bytes) -> list[Finding]:
    out: list[Finding] = []
    for ctype, key, text in png_text_chunks(data):
        if key == "Software" and text.startswith("radsynth"):
            continue
        out.extend(_text_findings(path, f"PNG {ctype} '{key}'", text))
    return out


def _nifti_findings(path: str) -> list[Finding]:
    import nibabel as nib

    img = nib.load(path)
    hdr = img.header
    out: list[Finding] = []
    for field in ("descrip", "aux_file", "intent_name"):
        try:
            raw = hdr[field]
        except (KeyError, ValueError):
            continue
        text = raw.tobytes().split(b"\0")[0].decode("latin-1") if hasattr(raw, "tobytes") else str(raw)
        out.extend(_text_findings(path, f"NIfTI {field}", text))
    for i, ext in enumerate(getattr(hdr, "extensions", []) or []):
        content = ext.get_content()
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
        out.extend(_text_findings(path, f"NIfTI extension[{i}] ecode {ext.get_code()}", text.strip("\0")))
    return out


# ---------------------------------------------------------------------------------- folder
def scan_file(path: str | os.PathLike[str]) -> list[Finding] | None:
    """Findings of one file, or None when it is none of DICOM, PNG, NIfTI, JSON."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return _nifti_findings(str(p))
    if name.endswith(".json"):
        try:
            return _json_findings(str(p), json.loads(p.read_text("utf-8")))
        except (ValueError, UnicodeDecodeError):
            return [Finding(str(p), "JSON", "unreadable", "")]
    with open(p, "rb") as f:
        head = f.read(8)
    if head == _PNG_SIG:
        return _png_findings(str(p), p.read_bytes())
    from radsynth.privacy.deidentify import read_dicom

    ds = read_dicom(p)
    return None if ds is None else _dicom_findings(str(p), ds)


def scan_folder(root: str | os.PathLike[str]) -> ScanResult:
    """Scan every file under ``root`` (sorted walk). Not a folder -> RadsynthInputError."""
    r = Path(root)
    if not r.is_dir():
        raise RadsynthInputError("DIR", str(r), "an existing folder")
    findings: list[Finding] = []
    n_files = n_scanned = 0
    for dirpath, dirs, files in os.walk(r):
        dirs.sort()
        for fn in sorted(files):
            n_files += 1
            with warnings.catch_warnings():  # pydicom warns on invalid values of real-world files
                warnings.simplefilter("ignore")
                res = scan_file(Path(dirpath) / fn)
            if res is not None:
                n_scanned += 1
                findings.extend(res)
    return ScanResult(findings=findings, n_files=n_files, n_scanned=n_scanned)
