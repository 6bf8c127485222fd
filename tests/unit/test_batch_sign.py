"""C2PA Content Credentials on batch outputs, read back and verified against a CA the test makes."""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from batch_tree import PHOTOS, build_batch_tree  # noqa: E402

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is not installed (pip install c2pa-python)")
pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="the shared test photos are absent")


def make_chain(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and an end-entity signing certificate (C2PA refuses a self-signed leaf): (chain, key, ca)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Colorstudio tests")])

    def usage(**on):
        keys = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{k: on.get(k, False) for k in keys})

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def cert(subject, issuer, public, signer, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(usage(key_cert_sign=ca, crl_sign=ca, digital_signature=not ca), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
        if not ca:
            b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                 .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                                critical=False))
        return b.sign(signer, hashes.SHA256())

    ca = cert(name("Test CA"), name("Test CA"), ca_key.public_key(), ca_key, True)
    leaf = cert(name("Test signer"), ca.subject, key.public_key(), ca_key, False)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    (folder / "chain.pem").write_bytes(pem(leaf) + pem(ca))
    (folder / "ca.pem").write_bytes(pem(ca))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "chain.pem", folder / "key.pem", folder / "ca.pem"


def test_signed_outputs_carry_content_credentials_that_verify(tmp_path):
    from colorstudio.core.batch import BatchSettings, run_batch
    from colorstudio.core.xmp import SYNTHETIC, read_xmp
    tree = build_batch_tree(tmp_path, autosave=tmp_path / "autosave")
    chain, key, ca = make_chain(tmp_path)
    records = []
    run_batch(tree["src"], tmp_path / "out", BatchSettings(mode="hints", autosave=str(tmp_path / "autosave"),
                                                           sign=(str(chain), str(key))),
              recursive=True, on_record=records.append)
    done = {r["source"] for r in records if r["status"] == "done"}
    assert done == set(tree["documented"]), [r for r in records if r["status"] == "failed"]
    settings = c2pa.Settings.from_dict({"verify": {"verify_trust": True}, "trust": {"trust_anchors": ca.read_text()}})
    context = c2pa.Context(settings)
    for rel in ("rotated.jpg", "edited.png", "nested/deep16.tif"):
        with c2pa.Reader(str(tmp_path / "out" / rel), context=context) as reader:
            assert reader.get_validation_state() == "Trusted", (rel, reader.json())
            store = json.loads(reader.json())
        manifest = store["manifests"][store["active_manifest"]]
        actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
        assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
        assert actions[1]["digitalSourceType"] == SYNTHETIC
        assert actions[1]["softwareAgent"]["name"] == "Colorstudio"
        (ingredient,) = manifest["ingredients"]
        assert ingredient["relationship"] == "parentOf" and ingredient["title"] == Path(rel).name
    # Without our CA the same file is signed but not trusted: the check above can fail.
    with c2pa.Reader(str(tmp_path / "out" / "edited.png")) as reader:
        assert reader.get_validation_state() != "Trusted"
    # The XMP provenance is still there beside the credentials.
    from PIL import Image
    xmp = Image.open(tmp_path / "out" / "rotated.jpg").info["xmp"]
    assert read_xmp(xmp)["derived_from"]["filePath"] == "rotated.jpg"
    assert not list((tmp_path / "out").rglob(".*.part"))


def test_an_unusable_key_is_refused_before_any_photo(tmp_path):
    from colorstudio.core.batch import BatchError, BatchSettings, run_batch
    tree = build_batch_tree(tmp_path, autosave=tmp_path / "autosave")
    chain, key, ca = make_chain(tmp_path)
    key.write_text("not a key")
    with pytest.raises(BatchError, match="signing key"):
        run_batch(tree["src"], tmp_path / "out", BatchSettings(mode="hints", sign=(str(chain), str(key))))
    assert not (tmp_path / "out").exists()
