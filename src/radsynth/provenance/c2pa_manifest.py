"""C2PA content credentials for radsynth PNG/JPEG files (``c2pa-python``), offline, opt-in.

What a signed file holds: one C2PA manifest (embedded, a ``caBX`` chunk in PNG, APP11 in JPEG)
whose claim generator is ``radsynth <version>``, with the assertions

* ``c2pa.actions`` (stored as ``c2pa.actions.v2``): one ``c2pa.created`` action with the IPTC
  digital source type (``trainedAlgorithmicMedia`` for learned generators, ``algorithmicMedia``
  for physics simulation; :func:`radsynth.io.digital_source_type`);
* ``radsynth.provenance``: the provenance JSON of :func:`radsynth.io.synthetic_marking` (for a
  radsynth PNG the exact ``radsynth:provenance`` iTXt content);

plus the hard binding (``c2pa.hash.data``) over the rest of the file, so changing one pixel
byte makes validation fail (``assertion.dataHash.mismatch``).

Keys: C2PA needs an X.509 chain (a self-signed leaf is refused). On first use a per-user ES256
(P-256) CA certificate and a signing certificate issued by it (digitalSignature, EKU
emailProtection, 10 years) are made with ``cryptography`` into ``config_dir()/keys/c2pa/``:
``signer.key`` (PKCS8, mode 0600), ``chain.pem`` (leaf + CA) and ``ca.pem`` (the trust anchor).
The CA private key is thrown away once the leaf is issued. Nothing private goes into outputs.
Signing and reading are fully offline: no timestamp authority (``ta_url`` None), OCSP is skipped.
Files signed by *your* CA validate as ``Trusted`` (``ca.pem`` is passed as a user trust anchor);
files from someone else validate as ``Valid`` with ``signingCredential.untrusted`` (pass their
``ca.pem`` as ``trust_anchors``).

Why it is opt-in (``radsynth c2pa sign DIR``, :func:`c2pa_sign_file`) and not done by the
writers: a C2PA claim carries a random manifest id (``urn:c2pa:<uuid>``) and ES256 signatures
are randomised, so two signings of the same file differ (measured with c2pa-python 0.38.1 /
c2pa-rs 0.91.3: two ``sign_file`` calls on one PNG gave different bytes). That breaks radsynth's
rule that the same inputs + seed give byte-identical outputs, so default outputs carry the
deterministic marks (PNG iTXt/XMP, NIfTI header + sidecar, DICOM tags) and the Ed25519-signed
SHA256SUMS; C2PA is added on request for sharing with C2PA-aware tools.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError

C2PA_SUBDIR = "c2pa"
SIGNER_KEY_FILE = "signer.key"
CHAIN_FILE = "chain.pem"
CA_FILE = "ca.pem"
PROVENANCE_LABEL = "radsynth.provenance"
ACTIONS_LABELS = ("c2pa.actions", "c2pa.actions.v2")
MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
CERT_DAYS = 3650
#: Validation codes that do not make a manifest invalid (an unknown signer is not tampering).
UNTRUSTED_CODES = frozenset({"signingCredential.untrusted"})


# ----------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class C2paCredentials:
    """Paths of the signing key, the certificate chain (leaf first) and the CA trust anchor."""

    key: Path
    chain: Path
    ca: Path


def c2pa_keys_dir(create: bool = True) -> Path:
    """``config_dir()/keys/c2pa`` (the parent ``keys`` folder is made with mode 0700)."""
    from radsynth.provenance.config_dir import config_dir

    keys = config_dir(create=create) / "keys"  # same folder as radsynth.provenance.signing.keys_dir()
    if create:
        keys.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(keys, 0o700)
        except OSError:  # pragma: no cover
            pass
    return keys / C2PA_SUBDIR


def _make_credentials(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from radsynth.provenance.audit import default_actor

    who = default_actor()[:60]
    start = _dt.datetime.now(_dt.UTC).replace(microsecond=0) - _dt.timedelta(days=1)
    end = start + _dt.timedelta(days=CERT_DAYS)
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "radsynth local C2PA CA"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, who)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "radsynth C2PA signer"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, who)])
    leaf = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    kpem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(folder / SIGNER_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, kpem)
        os.fsync(fd)
    finally:
        os.close(fd)
    (folder / CHAIN_FILE).write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (folder / CA_FILE).write_bytes(ca.public_bytes(pem))


def load_or_create_c2pa_credentials(directory: str | os.PathLike[str] | None = None) -> C2paCredentials:
    """The user's C2PA signing credentials (see the module docstring), made on first use.

    The three files are written into a hidden temporary folder that is then renamed onto
    ``directory`` (default ``config_dir()/keys/c2pa``), so a concurrent first use never sees
    a key without its certificates; the loser of a race uses the winner's folder.
    """
    d = Path(directory) if directory is not None else c2pa_keys_dir()
    if not (d / SIGNER_KEY_FILE).is_file():
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = d.parent / f".{d.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        try:
            _make_credentials(tmp)
            try:
                os.rename(tmp, d)
            except OSError:
                if not (d / SIGNER_KEY_FILE).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    creds = C2paCredentials(d / SIGNER_KEY_FILE, d / CHAIN_FILE, d / CA_FILE)
    for p in (creds.key, creds.chain, creds.ca):
        if not p.is_file():
            raise RadsynthInputError("c2pa credentials", str(d), f"a folder with {SIGNER_KEY_FILE}, {CHAIN_FILE}, "
                                     f"{CA_FILE}", f"{p.name} is missing; move the folder aside to make new ones.")
    return creds


def _own_ca_pem() -> str | None:
    p = c2pa_keys_dir(create=False) / CA_FILE
    try:
        return p.read_text()
    except OSError:
        return None


# ----------------------------------------------------------------------------- manifest


def build_manifest(provenance: dict[str, Any] | None, title: str, mime: str) -> dict[str, Any]:
    """The C2PA manifest definition (JSON-able) for one file made under ``provenance``."""
    from radsynth import __version__
    from radsynth.io import digital_source_type, synthetic_marking

    marking = provenance if (provenance or {}).get("synthetic") is True else synthetic_marking(provenance)
    inner = marking.get("provenance") if isinstance(marking.get("provenance"), dict) else marking
    return {
        "claim_generator_info": [{"name": "radsynth", "version": __version__}],
        "title": title,
        "format": mime,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": digital_source_type(inner),
                 "softwareAgent": {"name": "radsynth", "version": __version__}},
            ]}},
            {"label": PROVENANCE_LABEL, "data": marking},
        ],
    }


def _mime(path: Path) -> str:
    low = path.name.lower()
    for ext, mime in MIME_TYPES.items():
        if low.endswith(ext):
            return mime
    raise RadsynthInputError("path", str(path), "a .png, .jpg or .jpeg file")


def _c2pa_settings(trust_anchors: str | None, thumbnail: bool = False) -> Any:
    import c2pa

    doc: dict[str, Any] = {"builder": {"thumbnail": {"enabled": thumbnail}}}
    if trust_anchors:
        doc["trust"] = {"user_anchors": trust_anchors}
    return c2pa.Context(c2pa.Settings.from_dict(doc))


def c2pa_sign_file(
    path: str | os.PathLike[str],
    dest: str | os.PathLike[str] | None = None,
    *,
    provenance: dict[str, Any] | None = None,
    credentials: C2paCredentials | None = None,
) -> Path:
    """Embed a signed C2PA manifest into a PNG/JPEG; writes ``dest`` (default: ``path`` itself) atomically.

    ``provenance`` defaults to the PNG's own ``radsynth:provenance`` chunk (a JPEG, or a PNG
    without one, needs it passed). Refuses a file that already holds a C2PA manifest.
    Not deterministic (see the module docstring). Returns the written path.
    """
    import c2pa

    from radsynth.io.atomic import atomic_path

    src = Path(path)
    if not src.is_file():
        raise RadsynthInputError("path", str(src), "an existing PNG or JPEG file")
    mime = _mime(src)
    if mime == "image/png":
        from radsynth.io.png import read_png_marking

        try:
            mark = read_png_marking(src)
        except ValueError as exc:
            raise RadsynthInputError("path", str(src), "a readable PNG file", str(exc)) from None
        if mark["c2pa"]:
            raise RadsynthInputError("path", str(src), "a file without a C2PA manifest", "It is already signed.")
        if provenance is None:
            provenance = mark["marking"]
    if provenance is None:
        raise RadsynthInputError("provenance", None, "the file's provenance (a radsynth PNG carries its own)")
    creds = credentials or load_or_create_c2pa_credentials()
    manifest = build_manifest(provenance, src.name, mime)
    info = c2pa.C2paSignerInfo(b"es256", creds.chain.read_bytes(), creds.key.read_bytes(), None)
    out = Path(dest) if dest is not None else src
    try:
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest, _c2pa_settings(None)) as builder:
            with open(src, "rb") as fin, atomic_path(out) as tmp, open(tmp, "w+b") as fout:
                builder.sign(signer, mime, fin, fout)
    except c2pa.C2paError as exc:
        raise RadsynthInputError("path", str(src), "a PNG/JPEG that C2PA can sign",
                                 f"c2pa: {str(exc).splitlines()[0][:200]}") from None
    return out


# ----------------------------------------------------------------------------- read


@dataclass
class C2paReport:
    """What :func:`c2pa_read` found. ``valid``: the manifest and the hash binding check out
    (an unknown signer alone does not make it invalid); ``trusted``: signed under a trust anchor."""

    present: bool
    state: str | None = None
    valid: bool = False
    trusted: bool = False
    claim_generator: str = ""
    digital_source_type: str | None = None
    assertions: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    error: str | None = None


def c2pa_read(path: str | os.PathLike[str], trust_anchors: str | None = None) -> C2paReport:
    """Read and validate the C2PA manifest of a file (never raises on a bad manifest).

    ``trust_anchors``: PEM CA certificate(s) to trust; default: your own radsynth C2PA CA.
    A file without a manifest gives ``present=False``.
    """
    import c2pa

    anchors = trust_anchors if trust_anchors is not None else _own_ca_pem()
    try:
        with c2pa.Reader(str(path), context=_c2pa_settings(anchors)) as reader:
            state = reader.get_validation_state()
            doc = json.loads(reader.json())
    except c2pa.C2paError as exc:
        text = str(exc)
        if "ManifestNotFound" in type(exc).__name__ or "ManifestNotFound" in text or "no JUMBF" in text:
            return C2paReport(present=False)
        return C2paReport(present=True, state="Invalid", error=text.splitlines()[0][:200],
                          failures=[text.splitlines()[0][:200]])
    except (OSError, ValueError) as exc:
        return C2paReport(present=True, state="Invalid", error=str(exc)[:200], failures=[str(exc)[:200]])
    rep = C2paReport(present=True, state=str(state))
    active = doc.get("manifests", {}).get(doc.get("active_manifest") or "", {})
    for a in active.get("assertions", []):
        rep.assertions[a.get("label", "")] = a.get("data")
    gen = active.get("claim_generator_info") or [{}]
    rep.claim_generator = " ".join(str(gen[0].get(k, "")) for k in ("name", "version")).strip()
    for label in ACTIONS_LABELS:
        for act in (rep.assertions.get(label) or {}).get("actions", []):
            if act.get("action") == "c2pa.created":
                rep.digital_source_type = act.get("digitalSourceType")
    statuses = doc.get("validation_status") or []
    rep.failures = [f"{s.get('code')}: {s.get('explanation', '')}" for s in statuses
                    if s.get("code") not in UNTRUSTED_CODES]
    rep.trusted = rep.state == "Trusted"
    rep.valid = rep.state in ("Valid", "Trusted") and not rep.failures
    return rep
