"""Ed25519 signing keys and a signed ``SHA256SUMS`` manifest of a dataset folder.

Keys live in ``config_dir()/keys/`` (``signing_key.pem``: PKCS8, unencrypted, mode 0600;
``signing_key.pub.pem``: the public key) and are generated on first use. The private key
is never written into an output folder.

:func:`sign_dataset` writes three files at the top of a folder:

* ``SHA256SUMS``: ``<sha256>  <posix relative path>`` per regular file, sorted by path
  (the format of ``sha256sum``, so ``sha256sum -c SHA256SUMS`` works too). Hidden and
  temporary entries (any path part starting with ``.``) and the three files below are
  not listed.
* ``SHA256SUMS.sig``: JSON with the algorithm, the signer's public-key fingerprint
  (sha256 of the raw 32 public bytes, hex) and the base64 Ed25519 signature of the exact
  ``SHA256SUMS`` bytes. Ed25519 is deterministic: same folder + same key -> same bytes.
* ``signing_key.pub.pem``: the signer's PUBLIC key, so that the folder verifies on its
  own. A key shipped inside the folder proves integrity, not origin: check against a
  key you trust with ``verify_dataset(folder, public_key_path=...)``.

:func:`verify_dataset` never raises on tampered content; it lists every problem. Besides the
signature and the hashes it checks that every image is marked synthetic
(:mod:`radsynth.provenance.marks`: DICOM tags, NIfTI descrip + extension + sidecar, PNG text
chunk, any C2PA manifest valid) and the declared watermarks (:func:`radsynth.provenance.marks.check_watermarks`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from radsynth.core.errors import RadsynthInputError
from radsynth.io.atomic import atomic_write_bytes, sha256_file
from radsynth.provenance.config_dir import config_dir

SUMS_FILE = "SHA256SUMS"
SIG_FILE = "SHA256SUMS.sig"
PUBLIC_KEY_FILE = "signing_key.pub.pem"
PRIVATE_KEY_FILE = "signing_key.pem"
KEYS_SUBDIR = "keys"
ALGORITHM = "Ed25519"
_RESERVED = frozenset({SUMS_FILE, SIG_FILE, PUBLIC_KEY_FILE})
_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")
_KEY_SUFFIXES = (".pem", ".key", ".der", ".p8")
_PRIVATE_MARKER = b"PRIVATE KEY"
_SIG_KEYS = frozenset({"algorithm", "manifest", "public_key", "public_key_fingerprint", "signature", "version"})


# ----------------------------------------------------------------------------- keys


def keys_dir(create: bool = True) -> Path:
    """``config_dir()/keys`` (mode 0700)."""
    d = config_dir(create=create) / KEYS_SUBDIR
    if create:
        d.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(d, 0o700)
        except OSError:  # pragma: no cover
            pass
    return d


def public_key_fingerprint(pub: Ed25519PublicKey) -> str:
    """Hex sha256 of the raw 32 public-key bytes."""
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _public_pem(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_private_key_file(path: Path, data: bytes) -> bool:
    """Create ``path`` with mode 0600 atomically, never replacing an existing key.

    Returns False when another process created the key first (the caller loads it).
    """
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and refuses to overwrite
        except FileExistsError:
            return False
        except OSError:  # pragma: no cover - filesystems without hard links
            if path.exists():
                return False
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise RadsynthInputError("signing key", str(path), "an unencrypted PKCS8 PEM Ed25519 private key",
                                 f"Could not read it ({type(exc).__name__}); move it aside to generate a new key "
                                 "(outputs signed with the old key then no longer match your key).") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise RadsynthInputError("signing key", str(path), "an Ed25519 private key",
                                 f"Found a {type(key).__name__}; move it aside to generate a new key.")
    return key


def load_or_create_keys(
    directory: str | os.PathLike[str] | None = None,
) -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    """The user's Ed25519 key pair from ``directory`` (default ``config_dir()/keys``), generated on first use.

    ``signing_key.pem`` is PKCS8 PEM without encryption, mode 0600, created atomically;
    ``signing_key.pub.pem`` holds the public key (rewritten from the private key if
    missing or stale). An unreadable key file raises :class:`RadsynthInputError`.
    """
    d = Path(directory) if directory is not None else keys_dir()
    d.mkdir(parents=True, exist_ok=True)
    priv_path = d / PRIVATE_KEY_FILE
    if not priv_path.exists():
        new = Ed25519PrivateKey.generate()
        pem = new.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        _write_private_key_file(priv_path, pem)  # False: lost a race; load the winner's key below
    else:
        mode = stat.S_IMODE(priv_path.stat().st_mode)
        if mode & 0o077:
            try:
                os.chmod(priv_path, 0o600)
            except OSError:  # pragma: no cover
                pass
    priv = _load_private_key(priv_path)
    pub = priv.public_key()
    pub_pem = _public_pem(pub)
    pub_path = d / PUBLIC_KEY_FILE
    try:
        current = pub_path.read_bytes()
    except OSError:
        current = None
    if current != pub_pem:
        atomic_write_bytes(pub_path, pub_pem)
    return priv, pub


def load_public_key(path: str | os.PathLike[str], field: str = "--public-key") -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file; :class:`RadsynthInputError` if it is missing or not one."""
    p = Path(path)
    accepted = "a PEM Ed25519 public key file (-----BEGIN PUBLIC KEY-----), e.g. signing_key.pub.pem"
    if not p.is_file():
        raise RadsynthInputError(field, str(p), accepted, "The file does not exist." if not p.exists()
                                 else "It is not a file.")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise RadsynthInputError(field, str(p), accepted, f"Could not read it ({exc.strerror}).") from None
    if _PRIVATE_MARKER in data:
        raise RadsynthInputError(field, str(p), accepted, "This is a PRIVATE key; verification needs only the "
                                 "public key (signing_key.pub.pem). Keep the private key out of shared places.")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise RadsynthInputError(field, str(p), accepted, "The file is not a PEM public key.") from None
    if not isinstance(key, Ed25519PublicKey):
        raise RadsynthInputError(field, str(p), accepted, f"Found a {type(key).__name__}.")
    return key


def _own_public_key() -> Ed25519PublicKey | None:
    """The user's public key if one exists (never creates anything)."""
    p = config_dir(create=False) / KEYS_SUBDIR / PUBLIC_KEY_FILE
    try:
        key = serialization.load_pem_public_key(p.read_bytes())
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


# ----------------------------------------------------------------------------- folder walk


def _is_hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def _walk(folder: Path) -> tuple[list[str], list[str]]:
    """(regular files, other entries: symlinks, devices, ...) as sorted posix relative paths.

    Hidden entries (a part starting with '.') and the top-level signing files are skipped;
    symlinked folders are not followed. A sub-folder holding its own ``SHA256SUMS.sig`` is a
    nested signed dataset (e.g. ``demo-out/chest-ct`` inside ``demo-out``): it is left out here
    and verified on its own (``radsynth verify demo-out/chest-ct``).
    """
    files: list[str] = []
    others: list[str] = []
    for root, dirnames, filenames in os.walk(folder, followlinks=False):
        rel_root = Path(root).relative_to(folder).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        keep = []
        for name in dirnames:
            if name.startswith("."):
                continue
            if os.path.islink(os.path.join(root, name)):
                others.append(prefix + name)
            elif os.path.isfile(os.path.join(root, name, SIG_FILE)):
                continue  # a nested signed dataset: verified on its own
            else:
                keep.append(name)
        dirnames[:] = sorted(keep)
        for name in filenames:
            if name.startswith(".") or (not prefix and name in _RESERVED):
                continue
            rel = prefix + name
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                others.append(rel)
                continue
            (files if stat.S_ISREG(st.st_mode) else others).append(rel)
    return sorted(files), sorted(others)


def _check_folder(folder: str | os.PathLike[str], field: str) -> Path:
    p = Path(folder)
    if not p.exists():
        raise RadsynthInputError(field, str(p), "an existing folder", "The folder does not exist.")
    if not p.is_dir():
        raise RadsynthInputError(field, str(p), "an existing folder", "It is not a folder.")
    return p


# ----------------------------------------------------------------------------- sign


def sign_dataset(folder: str | os.PathLike[str], private_key: Ed25519PrivateKey | None = None) -> Path:
    """Write ``SHA256SUMS``, ``SHA256SUMS.sig`` and ``signing_key.pub.pem`` into ``folder``; returns SHA256SUMS.

    ``private_key`` defaults to the user's key (:func:`load_or_create_keys`). Refuses
    (:class:`RadsynthInputError`, nothing written) a folder with symlinks or special files,
    file names with newlines, or a private key file inside it.
    """
    root = _check_folder(folder, "folder")
    files, others = _walk(root)
    if others:
        raise RadsynthInputError("folder", str(root), "regular files and folders only",
                                 f"found {len(others)} symlink(s) or special file(s), e.g. {others[0]!r}; "
                                 "replace them with copies before signing.")
    lines = []
    for rel in files:
        if "\n" in rel or "\r" in rel:
            raise RadsynthInputError("folder", str(root), "file names without line breaks",
                                     f"rename {rel!r} before signing.")
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            raise RadsynthInputError("folder", str(root), "UTF-8 file names",
                                     f"rename {rel.encode('utf-8', 'backslashreplace').decode()!r}.") from None
        p = root / rel
        if p.suffix.lower() in _KEY_SUFFIXES and p.stat().st_size < (1 << 20) and _PRIVATE_MARKER in p.read_bytes():
            raise RadsynthInputError("folder", str(root), "a folder without private keys",
                                     f"{rel!r} holds a PRIVATE KEY; remove it, outputs must never carry one.")
        lines.append(f"{sha256_file(p)}  {rel}\n")
    if private_key is None:
        private_key, _ = load_or_create_keys()
    if not isinstance(private_key, Ed25519PrivateKey):
        raise RadsynthInputError("private_key", type(private_key).__name__, "an Ed25519PrivateKey")
    pub = private_key.public_key()
    sums = "".join(lines).encode("utf-8")
    sig = {
        "algorithm": ALGORITHM,
        "manifest": SUMS_FILE,
        "public_key": PUBLIC_KEY_FILE,
        "public_key_fingerprint": public_key_fingerprint(pub),
        "signature": base64.b64encode(private_key.sign(sums)).decode("ascii"),
        "version": 1,
    }
    sums_path = atomic_write_bytes(root / SUMS_FILE, sums)
    atomic_write_bytes(root / PUBLIC_KEY_FILE, _public_pem(pub))
    atomic_write_bytes(root / SIG_FILE, (json.dumps(sig, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return sums_path


# ----------------------------------------------------------------------------- verify


class VerifyResult(list):
    """The problems found (a list of ``{"path", "problem", "detail"}``; empty: all good), plus:

    ``n_files`` (entries in SHA256SUMS), ``key_fingerprint`` (of the key checked against),
    ``key_source`` ("--public-key <path>" or "folder"), ``own_key`` ("match", "differs" or
    "none": whether that key is the user's own signing key), ``signature_valid``,
    ``marks_checked`` (bool), ``n_images`` (image files whose marks were checked) and
    ``bad_input`` (a one-line reason when the folder cannot be checked at all: SHA256SUMS
    unparseable, or the folder's public key unreadable; the CLI exits 2 on it).
    """

    n_files: int = 0
    n_images: int = 0
    marks_checked: bool = False
    bad_input: str | None = None
    key_fingerprint: str | None = None
    key_source: str = ""
    own_key: str = "none"
    signature_valid: bool = False

    def add(self, path: str, problem: str, detail: str) -> None:
        self.append({"path": path, "problem": problem, "detail": detail})


def _parse_sums(data: bytes) -> tuple[dict[str, str], str | None]:
    """({path: sha256}, error) from SHA256SUMS bytes; error names the first bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {}, "not UTF-8 text"
    if text and not text.endswith("\n"):
        return {}, "truncated (no final newline)"
    entries: dict[str, str] = {}
    for i, line in enumerate(text.split("\n")[:-1], 1):
        m = _LINE.match(line)
        if not m:
            return {}, f"line {i} is not '<sha256>  <path>'"
        digest, rel = m.groups()
        parts = rel.split("/")
        if (rel.startswith("/") or any(c in rel for c in ("\\", "\r", "\x00"))
                or any(p in ("", ".", "..") for p in parts) or _is_hidden(rel)
                or (len(parts) == 1 and rel in _RESERVED)):
            return {}, f"line {i}: path {rel!r} is not a plain relative path inside the folder"
        if rel in entries:
            return {}, f"line {i}: {rel!r} listed twice"
        entries[rel] = digest
    return entries, None


def _check_signature(root: Path, sums: bytes, public_key_path: str | os.PathLike[str] | None,
                     res: VerifyResult) -> None:
    if public_key_path is not None:
        key: Ed25519PublicKey | None = load_public_key(public_key_path)
        res.key_source = f"--public-key {public_key_path}"
    else:
        res.key_source = "folder"
        kp = root / PUBLIC_KEY_FILE
        key = None
        try:
            loaded = serialization.load_pem_public_key(kp.read_bytes())
            key = loaded if isinstance(loaded, Ed25519PublicKey) else None
            if key is None:
                res.add(PUBLIC_KEY_FILE, "signature", f"not an Ed25519 public key ({type(loaded).__name__})")
                res.bad_input = res.bad_input or f"{root / PUBLIC_KEY_FILE}: not an Ed25519 public key"
        except FileNotFoundError:
            res.add(PUBLIC_KEY_FILE, "signature", "public key missing; pass --public-key")
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
            res.add(PUBLIC_KEY_FILE, "signature", f"public key unreadable or corrupt ({type(exc).__name__})")
            res.bad_input = res.bad_input or f"{root / PUBLIC_KEY_FILE}: public key unreadable or corrupt"
    if key is not None:
        fp = public_key_fingerprint(key)
        res.key_fingerprint = fp
        own = _own_public_key()
        res.own_key = "none" if own is None else ("match" if public_key_fingerprint(own) == fp else "differs")
    try:
        raw = (root / SIG_FILE).read_bytes()
        meta: Any = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        res.add(SIG_FILE, "signature", "signature file missing: the folder is not signed")
        return
    except (OSError, ValueError) as exc:
        res.add(SIG_FILE, "signature", f"signature file corrupt ({type(exc).__name__})")
        return
    if not isinstance(meta, dict) or meta.get("algorithm") != ALGORITHM or not isinstance(meta.get("signature"), str):
        res.add(SIG_FILE, "signature", f"signature file corrupt (need algorithm {ALGORITHM!r} and a signature)")
        return
    if (set(meta) != _SIG_KEYS or meta.get("manifest") != SUMS_FILE or meta.get("public_key") != PUBLIC_KEY_FILE
            or meta.get("version") != 1 or raw != (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")):
        res.add(SIG_FILE, "signature", "signature file altered (not as radsynth writes it)")
        return
    try:
        sig = base64.b64decode(meta["signature"], validate=True)
    except (binascii.Error, ValueError):
        res.add(SIG_FILE, "signature", "signature file corrupt (signature is not base64)")
        return
    if len(sig) != 64 or base64.b64encode(sig).decode("ascii") != meta["signature"]:
        res.add(SIG_FILE, "signature", "signature file corrupt (not a canonical 64-byte Ed25519 signature)")
        return
    if key is None:
        return
    signer = meta.get("public_key_fingerprint")
    if isinstance(signer, str) and signer != res.key_fingerprint:
        res.add(SIG_FILE, "signature", f"signature invalid: signed by key {signer[:16]}, "
                f"not by key {res.key_fingerprint[:16]} ({res.key_source})")  # type: ignore[index]
        return
    try:
        key.verify(sig, sums)
    except InvalidSignature:
        res.add(SUMS_FILE, "signature", f"signature invalid for key {res.key_fingerprint[:16]} "  # type: ignore[index]
                f"({res.key_source}): SHA256SUMS changed after signing, or signed with another key")
        return
    res.signature_valid = True


#: Files whose presence in SHA256SUMS marks a radsynth output (cohort build, `radsynth sample`).
RADSYNTH_OUTPUT_MARKERS = ("build.json", "sampling.json")


def verify_dataset(folder: str | os.PathLike[str],
                   public_key_path: str | os.PathLike[str] | None = None,
                   *, marks: bool | None = None) -> VerifyResult:
    """Check a signed folder: signature, every listed sha256, unlisted files, marks. Returns the problems (empty: ok).

    Problems (``problem`` field): ``signature`` (missing/corrupt/invalid signature or key),
    ``manifest`` (SHA256SUMS missing or corrupt), ``missing``, ``modified``,
    ``not a regular file``, ``unreadable``, ``unlisted``, and from the marks check ``mark``,
    ``c2pa``, ``watermark`` (:mod:`radsynth.provenance.marks`). ``marks``: True checks every
    image file present; False skips it; None (default) checks when the *signed* SHA256SUMS
    lists a radsynth output marker (:data:`RADSYNTH_OUTPUT_MARKERS`: every cohort build and
    sample folder), so a radsynth folder cannot opt out without breaking its signature, while
    any other signed folder is checked for integrity only. The returned list also carries
    which key was used (see :class:`VerifyResult`). Raises :class:`RadsynthInputError` only
    for a folder that does not exist / is not a folder, or an unreadable ``public_key_path``.
    """
    root = _check_folder(folder, "DIR")
    if public_key_path is not None:
        load_public_key(public_key_path)  # bad key file: input error before any check
    res = VerifyResult()
    try:
        sums = (root / SUMS_FILE).read_bytes()
    except FileNotFoundError:
        res.add(SUMS_FILE, "manifest", "SHA256SUMS missing: the folder is not signed (radsynth signs outputs "
                "when it writes them)")
        return res
    except OSError as exc:
        res.add(SUMS_FILE, "manifest", f"SHA256SUMS unreadable ({exc.strerror})")
        return res
    _check_signature(root, sums, public_key_path, res)
    entries, err = _parse_sums(sums)
    if err is not None:
        res.add(SUMS_FILE, "manifest", f"SHA256SUMS corrupt: {err}")
        res.bad_input = f"{root / SUMS_FILE}: corrupt ({err})"
        return res
    res.n_files = len(entries)
    for rel, digest in sorted(entries.items()):
        p = root / rel
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            res.add(rel, "missing", "listed in SHA256SUMS but not present")
            continue
        except OSError as exc:
            res.add(rel, "unreadable", str(exc.strerror))
            continue
        if not stat.S_ISREG(st.st_mode) or any(os.path.islink(root / "/".join(rel.split("/")[:i]))
                                               for i in range(1, rel.count("/") + 1)):
            res.add(rel, "not a regular file", "a symlink or special file where a file was signed")
            continue
        try:
            actual = sha256_file(p)
        except OSError as exc:
            res.add(rel, "unreadable", str(exc.strerror))
            continue
        if actual != digest:
            res.add(rel, "modified", f"sha256 {actual[:16]}..., signed {digest[:16]}...")
    files, others = _walk(root)
    for rel in sorted(set(files) | set(others)):
        if rel not in entries:
            res.add(rel, "unlisted", "present but not in SHA256SUMS (added after signing)")
    if marks is None:
        marks = any(m in entries for m in RADSYNTH_OUTPUT_MARKERS)
    if marks:
        from radsynth.provenance.marks import check_marks, check_watermarks

        items, problems = check_marks(root, files)
        problems += check_watermarks(root, items)
        res.marks_checked, res.n_images = True, len(items)
        for p in problems:
            res.add(p["path"], p["problem"], p["detail"])
    return res
