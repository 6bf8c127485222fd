"""C2PA Content Credentials for batch outputs (``--sign CERT KEY``), through c2pa-python.

Each output gets a manifest saying it is an edit of its source: the source photo as the
``parentOf`` ingredient, the actions ``c2pa.opened`` (that ingredient) and ``c2pa.edited``
with the IPTC digital source type and Colorstudio as the software agent. CERT is the
signing certificate chain (PEM: the end-entity certificate first, then its issuers; C2PA
refuses a self-signed leaf), KEY its private key (PEM; EC P-256/P-384/P-521, RSA or
Ed25519). Signing works offline: no time stamp authority is contacted.
"""
from __future__ import annotations

import json
from pathlib import Path

from .plan import BatchError

_MIME = {"png": "image/png", "tiff": "image/tiff", "jpeg": "image/jpeg"}


_SOURCE_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".jfif": "image/jpeg",
                ".png": "image/png", ".tif": "image/tiff", ".tiff": "image/tiff", ".webp": "image/webp",
                ".bmp": "image/bmp", ".gif": "image/gif"}


def _source_mime(path) -> str:
    return _SOURCE_MIME.get(Path(path).suffix.lower(), "application/octet-stream")


def _require():
    try:
        import c2pa
    except ImportError:
        raise BatchError("--sign needs the c2pa-python library: pip install c2pa-python") from None
    return c2pa


def _algorithm(key_pem: bytes) -> bytes:
    """The C2PA signing algorithm for a private key (from the key itself)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise BatchError(f"the signing key cannot be read as an unencrypted PEM private key ({exc})") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: b"es256", 384: b"es384", 521: b"es512"}.get(key.curve.key_size, b"es256")
    if isinstance(key, rsa.RSAPrivateKey):
        return b"ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return b"ed25519"
    raise BatchError("the signing key must be an EC, RSA or Ed25519 private key")


def _read(sign: tuple) -> tuple[bytes, bytes]:
    cert, key = (Path(p) for p in sign)
    try:
        return cert.read_bytes(), key.read_bytes()
    except OSError as exc:
        raise BatchError(f"could not read {exc.filename}: {exc.strerror}") from None


def check_signing(sign: tuple) -> None:
    """Refuse (BatchError) before any photo when the library, the certificate or the key is unusable."""
    c2pa = _require()
    cert, key = _read(sign)
    if b"BEGIN CERTIFICATE" not in cert:
        raise BatchError(f"{sign[0]} holds no PEM certificate; give the signing certificate chain")
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=_algorithm(key), sign_cert=cert, private_key=key,
                                                      ta_url=None))
    signer.close()


def sign_file(unsigned: Path, out: Path, fmt: str, sign: tuple, *, engine: str, trained: bool,
              source_name: str, source_sha256: str, source_path: str) -> None:
    """Write ``unsigned`` with a C2PA manifest to ``out``, atomically."""
    from ... import __version__
    from ..atomic import atomic_path
    from ..xmp import digital_source_type
    c2pa = _require()
    cert, key = _read(sign)
    agent = {"name": "Colorstudio", "version": __version__}
    manifest = {
        "claim_generator_info": [agent],
        "title": out.name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["source"]}},
            {"action": "c2pa.edited", "digitalSourceType": digital_source_type(trained), "softwareAgent": agent,
             "description": f"colorized with the {engine} engine; the tones are the source photo's"},
        ]}}],
    }
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=_algorithm(key), sign_cert=cert, private_key=key,
                                                      ta_url=None))
    try:
        with c2pa.Builder(json.dumps(manifest)) as builder:
            ingredient = {"title": source_name, "relationship": "parentOf", "label": "source",
                          "description": f"sha256 {source_sha256}"}
            with open(source_path, "rb") as stream:  # read-only, as every source
                builder.add_ingredient(json.dumps(ingredient), _source_mime(source_path), stream)
            with atomic_path(out) as tmp, open(unsigned, "rb") as src, open(tmp, "wb") as dst:
                builder.sign(signer, _MIME[fmt], src, dst)
    except c2pa.C2paError as exc:
        raise BatchError(f"could not sign {out.name}: {exc}") from None
    finally:
        signer.close()
