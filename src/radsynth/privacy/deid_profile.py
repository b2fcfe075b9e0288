"""PS3.15 Annex E Table E.1-1 (basic profile column) as data, and how each action applies here.

The table itself is ``radsynth/data/deid/ps3_15_2024b_table_e1_1_basic.tsv`` (DICOM PS3.15 2024b;
see its header). pydicom ships no confidentiality-profile table, hence this file.

Composite actions (``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U*``) choose the weaker action only
when the IOD needs the attribute. Without per-IOD module tables we resolve them so that the result
is conformant whatever the attribute's Type, as PS3.15 E.1.1 note 1 asks of a de-identifier:

* ``X/Z`` -> ``Z`` for values (zero length is valid for Type 2 and 3); sequences are removed (an
  empty Type 3 sequence is an error) except the Type 2 Acquisition Context Sequence, emptied;
* ``X/D``, ``Z/D`` -> ``D`` (a dummy is valid for every Type);
* ``X/Z/D`` -> ``D`` for values, ``X`` for sequences (Institution Code / Referenced Performed
  Procedure Step Sequence are Type 3 in the image IODs; a dummy code would be meaningless);
* ``X/Z/U*`` -> keep the sequence and replace the UIDs inside (``U``) recursively;
* ``D`` on a sequence -> the sequence is removed (``X``; except Verifying Observer Sequence, Type 1C in
  SR, whose item attributes are all listed: the profile is applied inside it): its items (e.g. SR Content Sequence text
  values, Graphic Annotation text) would otherwise carry free text the table does not list.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

TABLE_RESOURCE = "ps3_15_2024b_table_e1_1_basic.tsv"
PS3_15_EDITION = "2024b"
ACTIONS = ("D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*")

#: Descriptor attributes kept (pattern-cleaned) when DeidConfig.keep_descriptors is set
#: (the "C" entries of the Clean Descriptors Option column that are plain text).
DESCRIPTOR_KEYWORDS = frozenset({
    "StudyDescription", "SeriesDescription", "ProtocolName", "PerformedProcedureStepDescription",
    "RequestedProcedureDescription", "ScheduledProcedureStepDescription", "DerivationDescription",
    "AcquisitionDeviceProcessingDescription", "ContrastBolusAgent", "ImageComments", "AcquisitionComments",
})

#: UI attributes whose values name a class, syntax or scheme, never an instance: never remapped.
CLASS_UID_KEYWORDS = frozenset({
    "SOPClassUID", "MediaStorageSOPClassUID", "ReferencedSOPClassUID", "AffectedSOPClassUID",
    "RequestedSOPClassUID", "TransferSyntaxUID", "ReferencedTransferSyntaxUIDInFile", "ReferencedSOPClassUIDInFile",
    "ImplementationClassUID", "CodingSchemeUID", "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID",
    "SOPClassesInStudy", "ContextGroupExtensionCreatorUID", "PrivateInformationCreatorUID",
    "ReferencedColorPaletteInstanceUID", "MappingResourceUID", "ContextUID", "EncryptedContentTransferSyntaxUID",
    "RetrieveLocationUID",
})


#: The dummy values deidentify writes for action D (an original equal to one carries no information).
DUMMY_VALUES = frozenset({"REMOVED", "ANONYMOUS", "19000101", "19000101000000", "000000", "0", "000Y", "0000", "0.0"})


@dataclass(frozen=True)
class Rule:
    tag: str        # "(gggg,eeee)" as printed in the table, 'x' = wildcard digit
    action: str
    name: str


@functools.lru_cache(maxsize=1)
def load_table() -> tuple[dict[int, Rule], tuple[tuple[int, int, Rule], ...]]:
    """(exact rules by int tag, masked rules as (mask, value, rule)); cached."""
    text = resources.files("radsynth.data").joinpath("deid").joinpath(TABLE_RESOURCE).read_text("utf-8")
    exact: dict[int, Rule] = {}
    masked: list[tuple[int, int, Rule]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        tag_s, action, name = line.split("\t")
        if action not in ACTIONS:
            raise ValueError(f"{TABLE_RESOURCE}: unknown action {action!r} for {tag_s}")
        rule = Rule(tag_s, action, name)
        hexs = tag_s.strip("()").replace(",", "")
        if "x" in hexs:
            mask = int("".join("0" if c == "x" else "F" for c in hexs), 16)
            masked.append((mask, int(hexs.replace("x", "0"), 16), rule))
        else:
            t = int(hexs, 16)
            if t in exact:
                raise ValueError(f"{TABLE_RESOURCE}: duplicate tag {tag_s}")
            exact[t] = rule
    return exact, tuple(masked)


def rule_for(tag: int) -> Rule | None:
    """The basic-profile rule for an element tag, or None when the table does not list it."""
    exact, masked = load_table()
    r = exact.get(int(tag))
    if r is not None:
        return r
    for mask, value, rule in masked:
        if int(tag) & mask == value:
            return rule
    return None


def is_overlay_or_curve(tag: int) -> bool:
    """Repeating groups 50xx (curves, retired) and 60xx (overlays): removed entirely."""
    group = int(tag) >> 16
    return group % 2 == 0 and (0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF)


#: X/Z sequences that are Type 2 where they occur (emptied, not removed).
TYPE2_SEQUENCE_TAGS = frozenset({0x00400555})  # Acquisition Context Sequence
#: ... and in SR documents (SR Document Series module): Referenced Performed Procedure Step Sequence.
TYPE2_SEQUENCE_TAGS_SR = frozenset({0x00400555, 0x00081111})
#: Inside DICOMDIR directory records (PS3.3 F.5) some attributes are Type 1/2: (tag -> action).
DIRECTORY_RECORD_ACTIONS = {0x00080030: "D", 0x00200010: "D", 0x00080020: "D", 0x00081030: "Z", 0x00080050: "Z"}


def resolve(action: str, is_sequence: bool, tag: int = 0, *, sr: bool = False, directory_record: bool = False) -> str:
    """The simple action (D, Z, X, K, C, U) applied for a table action (see module docstring);
    ``sr``: the dataset is an SR document; ``directory_record``: an item of a DICOMDIR record sequence."""
    if directory_record and int(tag) in DIRECTORY_RECORD_ACTIONS:
        return DIRECTORY_RECORD_ACTIONS[int(tag)]
    if is_sequence and action in ("X/Z", "X/Z/D") and int(tag) in (TYPE2_SEQUENCE_TAGS_SR if sr else TYPE2_SEQUENCE_TAGS):
        return "Z"
    if action == "X/Z":
        return "X" if is_sequence else "Z"
    if action in ("X/D", "Z/D"):
        return "X" if is_sequence else "D"
    if action == "X/Z/D":
        return "X" if is_sequence else "D"
    if action == "X/Z/U*":
        return "U"
    if action == "D" and is_sequence:  # Verifying Observer Sequence: every item attribute is listed -> recurse
        return "K" if int(tag) == 0x0040A073 else "X"
    return action


def _listed_values(ds, out: dict[int, set[str]]) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                _listed_values(item, out)
            continue
        rule = rule_for(elem.tag)
        if rule is None or rule.action in ("K", "C") or elem.is_empty:
            continue
        vals = elem.value if elem.VM > 1 else [elem.value]
        for v in vals:
            s = v.hex() if isinstance(v, bytes) else str(v).strip("\0 ")
            if s:
                out.setdefault(int(elem.tag), set()).add(s)


def surviving_values(original, deidentified) -> list[str]:
    """Basic-profile attributes (action other than K/C) of ``deidentified`` that still hold one of
    their original non-empty values anywhere in ``original`` (recursively); [] when none survive.
    Well-known DICOM UIDs (kept by design) do not count."""
    from pydicom.uid import UID_dictionary

    orig: dict[int, set[str]] = {}
    _listed_values(original, orig)
    now: dict[int, set[str]] = {}
    _listed_values(deidentified, now)
    found = []
    for tag, vals in now.items():
        for v in sorted(vals & orig.get(tag, set())):
            if v not in UID_dictionary and v not in DUMMY_VALUES:
                found.append(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {rule_for(tag).name}: {v[:40]}")
    return found
