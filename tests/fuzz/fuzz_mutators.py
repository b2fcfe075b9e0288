"""Seeded mutators: ``mutate_*(rng, data) -> bytes`` for DICOM, NIfTI, PNG and YAML cohort specs.

``rng`` is a :class:`random.Random` (seeded in the bench; Hypothesis' ``st.randoms()`` in the tests, so
failures shrink and replay). Each mutator picks one or a few mutations: generic byte-level ones (flips,
truncation, inserted/deleted runs, interesting integers) and format-aware ones (DICOM element values and
length fields, NIfTI header fields and gzip streams, PNG chunks with and without a fixed CRC, YAML type
swaps, anchors and nesting). Format-aware mutation is hand-written on purpose: it needs to produce files
the format libraries would refuse to write.
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import zlib
from typing import Callable

INTERESTING_32 = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                  0xFFFFFFFE, 0xFFFFFFFF)
INTERESTING_FLOATS = (0.0, -0.0, 1.0, -1.0, 1e-30, 1e30, 3.4e38, -3.4e38, float("nan"), float("inf"), float("-inf"))


# ----------------------------------------------------------------------------- generic bytes


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def random_bytes(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def insert_run(rng: random.Random, data: bytes) -> bytes:
    i = rng.randint(0, len(data))
    run = bytes([rng.randrange(256)]) * rng.randint(1, 512) if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 256))
    return data[:i] + run + data[i:]


def delete_run(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 256):]


def interesting_int(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 4:
        return data
    i = rng.randrange(len(data) - 3)
    fmt = rng.choice(("<I", ">I", "<H", ">H"))
    v = rng.choice(INTERESTING_32) & (0xFFFF if fmt.endswith("H") else 0xFFFFFFFF)
    p = struct.pack(fmt, v)
    return data[:i] + p + data[i + len(p):]


def duplicate_run(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 1024))
    return data[:j] + data[i:j] * rng.randint(1, 4) + data[j:]


GENERIC: tuple[Callable[[random.Random, bytes], bytes], ...] = (
    flip_bits, random_bytes, truncate, insert_run, delete_run, interesting_int, duplicate_run)


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """1-3 generic byte mutations."""
    for _ in range(rng.randint(1, 3)):
        data = rng.choice(GENERIC)(rng, data)
    return data


# ----------------------------------------------------------------------------- DICOM

#: (group, element) of elements worth hitting: image geometry, pixel encoding, transfer syntax, rescale, frames.
DICOM_TAGS = ((0x0028, 0x0010), (0x0028, 0x0011), (0x0028, 0x0100), (0x0028, 0x0101), (0x0028, 0x0102),
              (0x0028, 0x0103), (0x0028, 0x0002), (0x0028, 0x0004), (0x0028, 0x0008), (0x0028, 0x0006),
              (0x0028, 0x1052), (0x0028, 0x1053), (0x0028, 0x1050), (0x0028, 0x1051), (0x0002, 0x0010),
              (0x0002, 0x0000), (0x0008, 0x0060), (0x0008, 0x0016), (0x7FE0, 0x0010), (0x0010, 0x0010),
              (0x0010, 0x0020), (0x0018, 0x0050), (0x0028, 0x0030), (0x0020, 0x0037), (0x0008, 0x0005))

_DICOM_VALUES = ("", "0", "-1", "65535", "4294967296", "1e309", "nan", "inf", "abc", "\\\\\\", "1\\2\\3",
                 "MONOCHROME1", "PALETTE COLOR", "YBR_FULL_422", "RGB", "1.2.840.10008.1.2.4.50",
                 "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99", "x" * 5000, "\u00e9\u00ff\x00", "ISO_IR 192",
                 "ISO 2022 IR 87", "bogus charset")


def _tag_bytes(tag: tuple[int, int], big: bool) -> bytes:
    return struct.pack(">HH" if big else "<HH", *tag)


def dicom_length_field(rng: random.Random, data: bytes) -> bytes:
    """Overwrite the VR/length bytes right after a known tag (explicit or implicit VR, either endianness)."""
    hits = []
    for tag in DICOM_TAGS:
        for big in (False, True):
            t = _tag_bytes(tag, big)
            i = data.find(t, 128 if len(data) > 132 and data[128:132] == b"DICM" else 0)
            if i >= 0:
                hits.append(i)
    if not hits:
        return interesting_int(rng, data)
    i = rng.choice(hits) + 4
    choice = rng.randrange(4)
    if choice == 0:  # 4-byte length (implicit VR / OB, OW, SQ, UN long form)
        new = struct.pack(rng.choice(("<I", ">I")), rng.choice(INTERESTING_32))
        return data[: i + (4 if rng.random() < 0.5 else 0)] + new + data[i + 4 + len(new):]
    if choice == 1:  # 2-byte length (explicit VR short form)
        new = struct.pack(rng.choice(("<H", ">H")), rng.choice(INTERESTING_32) & 0xFFFF)
        return data[: i + 2] + new + data[i + 4:]
    if choice == 2:  # VR swap
        vr = rng.choice((b"OB", b"OW", b"SQ", b"UN", b"US", b"UL", b"DS", b"IS", b"UI", b"ZZ", b"\x00\x00"))
        return data[:i] + vr + data[i + 2:]
    return data[:i] + rng.randbytes(rng.randint(1, 12)) + data[i + 12:]


def dicom_element_value(rng: random.Random, data: bytes) -> bytes:
    """Structure-aware: set 1-3 element values via pydicom (type swaps, huge/negative numbers), re-save."""
    import pydicom
    from pydicom.dataelem import DataElement
    from pydicom.tag import Tag

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        for _ in range(rng.randint(1, 3)):
            tag = Tag(*rng.choice(DICOM_TAGS))
            in_meta = tag.group == 0x0002
            target = ds.file_meta if in_meta and getattr(ds, "file_meta", None) is not None else ds
            if in_meta and target is ds:
                continue
            if tag == Tag(0x7FE0, 0x0010) and rng.random() < 0.7:
                old = ds.get(tag)
                raw = bytes(old.value) if old is not None and isinstance(old.value, (bytes, bytearray)) else b""
                new = rng.choice((raw[: len(raw) // 2], raw + raw, b"", b"\x00" * 3, mutate_bytes(rng, raw)))
                target[tag] = DataElement(tag, "OB" if rng.random() < 0.5 else "OW", new)
                continue
            val = rng.choice(_DICOM_VALUES)
            if rng.random() < 0.3 and tag in target:  # keep the VR, bad value of the right Python type
                vr = target[tag].VR
                if vr in ("US", "UL", "SS", "SL"):
                    target[tag] = DataElement(tag, vr, rng.choice((0, 1, 2**15, 2**16 - 1, 0)) if vr != "UL" else
                                              rng.choice((0, 2**31, 2**32 - 1)))
                    continue
            target[tag] = DataElement(tag, rng.choice(("LO", "UN", "DS", "IS", "CS", "UI", "OB", "ST")),
                                      val.encode("latin-1", "replace") if rng.random() < 0.3 else val)
        if rng.random() < 0.2:
            del_tag = Tag(*rng.choice(DICOM_TAGS))
            if del_tag in ds:
                del ds[del_tag]
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=False)
        return buf.getvalue()
    except Exception:  # noqa: BLE001 - pydicom refused to write the mutant: fall back to raw bytes
        return mutate_bytes(rng, data)


def mutate_dicom(rng: random.Random, data: bytes) -> bytes:
    r = rng.random()
    if r < 0.35:
        return dicom_element_value(rng, data)
    if r < 0.6:
        return dicom_length_field(rng, data)
    return mutate_bytes(rng, data)


# ----------------------------------------------------------------------------- NIfTI

#: NIfTI-1 header fields: (byte offset, struct code, count) -- see nifti1.h.
NIFTI1_FIELDS = {"sizeof_hdr": (0, "i", 1), "dim_info": (39, "B", 1), "dim": (40, "h", 8), "intent_code": (68, "h", 1),
                 "datatype": (70, "h", 1), "bitpix": (72, "h", 1), "slice_start": (74, "h", 1),
                 "pixdim": (76, "f", 8), "vox_offset": (108, "f", 1), "scl_slope": (112, "f", 1),
                 "scl_inter": (116, "f", 1), "slice_end": (120, "h", 1), "slice_code": (122, "B", 1),
                 "xyzt_units": (123, "B", 1), "cal_max": (124, "f", 1), "cal_min": (128, "f", 1),
                 "qform_code": (252, "h", 1), "sform_code": (254, "h", 1), "quatern": (256, "f", 6),
                 "srow": (280, "f", 12), "magic": (344, "4s", 1), "extension": (348, "4s", 1)}
_INT_VALUES = (0, 1, -1, 2, 3, 4, 7, 8, 16, 64, 128, 255, 256, 511, 512, 768, 1024, 1536, 2048, 2304, 32767, -32768)


def nifti_header_field(rng: random.Random, raw: bytes) -> bytes:
    """Set one NIfTI-1 header field (or one element of an array field) to an interesting value."""
    if len(raw) < 352:
        return mutate_bytes(rng, raw)
    name = rng.choice(sorted(NIFTI1_FIELDS))
    off, code, count = NIFTI1_FIELDS[name]
    big = raw[344:348] in (b"n+1\x00", b"ni1\x00") and struct.unpack("<i", raw[:4])[0] != 348
    end = ">" if big else "<"
    if code == "4s":
        new = rng.choice((b"n+1\x00", b"ni1\x00", b"n+2\x00", b"\x00\x00\x00\x00", b"\x01\x00\x00\x00",
                          rng.randbytes(4)))
        return raw[:off] + new + raw[off + 4:]
    k = rng.randrange(count)
    size = struct.calcsize(code)
    pos = off + k * size
    if code == "f":
        v = rng.choice(INTERESTING_FLOATS + tuple(float(x) for x in _INT_VALUES))
        new = struct.pack(end + "f", v)
    elif code == "B":
        new = struct.pack("B", rng.randrange(256))
    else:
        lim = 2 ** (8 * size - 1)
        v = rng.choice(_INT_VALUES + ((-lim, lim - 1, 352, 348, 540) if size == 4 else ()))
        new = struct.pack(end + code, max(-lim, min(lim - 1, v)))
    return raw[:pos] + new + raw[pos + size:]


def _gz_corrupt(rng: random.Random, gz: bytes) -> bytes:
    r = rng.randrange(5)
    if r == 0:  # truncated stream
        return gz[: rng.randrange(max(1, len(gz)))]
    if r == 1:  # CRC32 / ISIZE trailer wrong
        return gz[:-8] + rng.randbytes(8)
    if r == 2:  # header flags / method byte
        return gz[:3] + bytes([rng.randrange(256)]) + gz[4:] if rng.random() < 0.5 else gz[:2] + b"\x07" + gz[3:]
    if r == 3:  # trailing garbage / a second member
        return gz + (gzip.compress(rng.randbytes(64), mtime=0) if rng.random() < 0.5 else rng.randbytes(32))
    return gz[:10] + mutate_bytes(rng, gz[10:])  # deflate body


def mutate_nifti(rng: random.Random, data: bytes) -> bytes:
    """``data`` is a .nii or a .nii.gz (detected by the gzip magic); gz mutants stay gzipped or corrupt the stream."""
    is_gz = data[:2] == b"\x1f\x8b"
    if is_gz and rng.random() < 0.25:
        return _gz_corrupt(rng, data)
    raw = gzip.decompress(data) if is_gz else data
    r = rng.random()
    n = rng.randint(1, 3)
    if r < 0.65:
        for _ in range(n):
            raw = nifti_header_field(rng, raw)
    elif r < 0.8:
        raw = raw[: rng.randrange(len(raw))]
    else:
        raw = mutate_bytes(rng, raw)
    return gzip.compress(raw, compresslevel=1, mtime=0) if is_gz else raw


# ----------------------------------------------------------------------------- PNG

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> list[list[bytes]] | None:
    """[[type, data, crc], ...] of a well-formed PNG, else None."""
    if not data.startswith(PNG_SIG):
        return None
    out, i = [], 8
    while i + 8 <= len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        ctype = data[i + 4:i + 8]
        body = data[i + 8:i + 8 + n]
        crc = data[i + 8 + n:i + 12 + n]
        out.append([ctype, body, crc])
        i += 12 + n
    return out


def _crc(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def png_join(chunks: list[list[bytes]], fix_crc: bool = True) -> bytes:
    return PNG_SIG + b"".join(struct.pack(">I", len(b)) + t + b + (_crc(t, b) if fix_crc else c) for t, b, c in chunks)


def mutate_png(rng: random.Random, data: bytes) -> bytes:
    chunks = png_chunks(data)
    if chunks is None or rng.random() < 0.25:
        return mutate_bytes(rng, data)
    fix = rng.random() < 0.8
    r = rng.randrange(8)
    ihdr = next((c for c in chunks if c[0] == b"IHDR" and len(c[1]) == 13), None)
    if r == 0 and ihdr is not None:  # huge / zero declared dimensions
        w, h = struct.unpack(">II", ihdr[1][:8])
        w = rng.choice((0, 1, w * 1000, 65535, 100000, 0x7FFFFFFF, 0xFFFFFFFF, w))
        h = rng.choice((0, 1, h * 1000, 65535, 100000, 0x7FFFFFFF, 0xFFFFFFFF, h))
        ihdr[1] = struct.pack(">II", w, h) + ihdr[1][8:]
    elif r == 1 and ihdr is not None:  # bit depth / colour type / compression / filter / interlace
        b = bytearray(ihdr[1])
        k = rng.randrange(8, 13)
        b[k] = rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 255))
        ihdr[1] = bytes(b)
    elif r == 2:  # corrupt one chunk body
        c = rng.choice(chunks)
        c[1] = mutate_bytes(rng, c[1])
    elif r == 3:  # drop / duplicate / swap chunks
        i = rng.randrange(len(chunks))
        op = rng.randrange(3)
        if op == 0:
            del chunks[i]
        elif op == 1:
            chunks.insert(i, list(chunks[i]))
        else:
            j = rng.randrange(len(chunks))
            chunks[i], chunks[j] = chunks[j], chunks[i]
    elif r == 4:  # bogus / ancillary chunks, huge text chunks
        ctype = rng.choice((b"tEXt", b"zTXt", b"iTXt", b"PLTE", b"tRNS", b"gAMA", b"iCCP", b"sBIT", b"eXIf", b"abcd"))
        body = rng.choice((b"", rng.randbytes(rng.randint(1, 64)), b"k\x00" + b"v" * 70000,
                           b"k\x00\x00" + zlib.compress(b"A" * 5_000_000)))
        chunks.insert(rng.randint(1, len(chunks)), [ctype, body, b"\x00" * 4])
    elif r == 5:  # IDAT with a different (zero-filled, wrong-size) zlib stream
        for c in chunks:
            if c[0] == b"IDAT":
                c[1] = zlib.compress(b"\x00" * rng.choice((0, 1, 100, 100000)))[: rng.choice((None, 5))]
                break
    elif r == 6:  # length field lies (joined without recomputing)
        out = bytearray(png_join(chunks, fix))
        pos = 8 + sum(12 + len(c[1]) for c in chunks[: rng.randrange(len(chunks))])
        if pos + 4 <= len(out):
            out[pos:pos + 4] = struct.pack(">I", rng.choice(INTERESTING_32))
        return bytes(out)
    else:
        return truncate(rng, data)
    return png_join(chunks, fix)


# ----------------------------------------------------------------------------- YAML cohort specs

_YAML_VALUES = ("[]", "{}", "-1", "0", "-0.5", "1e309", "-1e309", ".nan", ".inf", "99999999999999999999999",
                "null", "~", "true", "'x'", '"\\u0000"', "[1, 2, 3]", "{a: 1}", "!!binary AAAA", "2001-01-01",
                "0x7fffffff", "1_000_000_000_000", "!!python/object:os.system x", "*undefined_alias",
                "&anc 1", "<<: {a: 1}", "'" + "x" * 10000 + "'")


def _lol(depth: int = 9, width: int = 9) -> str:
    """A "billion laughs" alias chain: width**depth strings if expanded."""
    lines = ['l0: &l0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    for i in range(1, depth):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines)


def mutate_yaml(rng: random.Random, data: bytes) -> bytes:
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    r = rng.randrange(12)
    value_lines = [i for i, ln in enumerate(lines) if ":" in ln and not ln.lstrip().startswith("#")]
    if r <= 2 and value_lines:  # type swap / huge / negative values
        for _ in range(rng.randint(1, 3)):
            i = rng.choice(value_lines)
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {rng.choice(_YAML_VALUES)}"
    elif r == 3 and value_lines:  # unknown keys at top level or nested
        i = rng.choice(value_lines)
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        lines.insert(i, f"{indent}unknown_{rng.randrange(100)}: {rng.choice(_YAML_VALUES)}")
    elif r == 4:  # delete / duplicate lines
        if lines:
            i = rng.randrange(len(lines))
            if rng.random() < 0.5:
                del lines[i]
            else:
                lines.insert(i, lines[i])
    elif r == 5:  # deep nesting
        d = rng.choice((50, 200, 1000, 20000))
        kind = rng.choice(("[", "{a: "))
        close = "]" if kind == "[" else "}"
        key = rng.choice(("attributes", "generator", "labels", "exclusive_labels", "deep"))
        lines.append(f"{key}: " + kind * d + close * d)
    elif r == 6:  # billion laughs, the root of a field or an unknown key
        key = rng.choice(("attributes", "labels", "exclusive_labels", "description", "outputs", "zz"))
        lines = [ln for ln in lines if not ln.startswith(key + ":")]
        lines.append(_lol(rng.choice((5, 9, 12)), rng.choice((9, 10))))
        lines.append(f"{key}: *l{rng.randrange(1, 5)}")
        if rng.random() < 0.5:
            lines.append("generator: {name: mri-brain, params: {sequences: *l4}}")
    elif r == 7:  # non-UTF-8 bytes
        raw = bytearray("\n".join(lines).encode("utf-8"))
        for _ in range(rng.randint(1, 4)):
            raw.insert(rng.randint(0, len(raw)), rng.choice((0xFF, 0xFE, 0xC3, 0x80, 0x00, 0xED)))
        return bytes(raw)
    elif r == 8:  # empty / whitespace / a bare scalar / BOMs
        return rng.choice((b"", b"\n\n", b"   ", b"42", b"- a\n- b\n", b"---\n...\n", b"\xef\xbb\xbf" + data,
                           b"\xff\xfe" + text.encode("utf-16-le"), b"--- !!set {a, b}\n", b"a: b: c: d"))
    elif r == 9:  # binary garbage
        return rng.randbytes(rng.randint(1, 2048))
    elif r == 10:  # indentation damage / tabs
        if lines:
            i = rng.randrange(len(lines))
            lines[i] = rng.choice(("\t", "   ", " ")) + lines[i]
    else:
        return mutate_bytes(rng, data)
    return "\n".join(lines).encode("utf-8")


MUTATORS = {"dicom": mutate_dicom, "nifti": mutate_nifti, "png": mutate_png, "spec": mutate_yaml}
