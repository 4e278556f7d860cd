"""Ed25519 signatures over an artifact's manifest (which holds every other file's SHA-256).

The signature file ``manifest.json.sig`` sits next to ``manifest.json`` and holds one line::

    ed25519 <key id> <base64 signature of the exact bytes of manifest.json>

The key id (16 hex digits of the SHA-256 of the raw public key) only makes messages
readable; verification tries every trusted key. Keys are PEM files: the private key PKCS#8
(written with mode 0600), the public key SubjectPublicKeyInfo. The ``cryptography`` package
does the cryptography; it is imported only here, and only when signing or verifying
(``pip install 'scoring-explainers[signing]'``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .._errors import ArtifactError

__all__ = [
    "PRIVATE_KEY",
    "PUBLIC_KEY",
    "SIGNATURE",
    "TrustedKey",
    "generate_keys",
    "key_id",
    "load_private_key",
    "sign_manifest",
    "trusted_keys_from",
    "verify_manifest",
]

SIGNATURE = "manifest.json.sig"
PRIVATE_KEY = "signing.key"
PUBLIC_KEY = "signing.pub"
#: Largest signature file accepted.
MAX_SIGNATURE_BYTES = 4096
#: Largest key file accepted.
MAX_KEY_BYTES = 16384
_SCHEME = "ed25519"

#: A trusted public key: a path to a PEM file, the PEM (or DER) bytes, or a key object.
TrustedKey = str | os.PathLike[str] | bytes | Any


def _crypto() -> SimpleNamespace:
    """The ``cryptography`` modules used here, with a clear error when it is missing."""
    try:
        from cryptography import exceptions
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise ImportError(
            "signing and verifying artifacts needs the 'cryptography' package: "
            "pip install 'scoring-explainers[signing]'"
        ) from exc
    return SimpleNamespace(
        InvalidSignature=exceptions.InvalidSignature,
        Ed25519PrivateKey=ed25519.Ed25519PrivateKey,
        Ed25519PublicKey=ed25519.Ed25519PublicKey,
        serialization=serialization,
    )


def key_id(public_key: Any) -> str:
    """16 hex digits naming an Ed25519 public key (SHA-256 of its 32 raw bytes)."""
    s = _crypto().serialization
    raw = public_key.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keys(directory: str | os.PathLike[str], *, name: str = "signing") -> tuple[Path, Path]:
    """Write a new Ed25519 key pair: ``<name>.key`` (private, mode 0600) and ``<name>.pub``.

    Existing files are never overwritten.

    Returns
    -------
    private_path, public_path : Path
    """
    crypto = _crypto()
    s = crypto.serialization
    key = crypto.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
    public_pem = key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    private_path, public_path = target / f"{name}.key", target / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise FileExistsError(f"{path} already exists; not overwriting a key")
    written: list[Path] = []
    try:
        for path, data, mode in (
            (private_path, private_pem, 0o600),
            (public_path, public_pem, 0o644),
        ):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
            written.append(path)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(path, mode)  # whatever the umask
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return private_path, public_path


def load_private_key(path: str | os.PathLike[str]) -> Any:
    """An Ed25519 private key from a PEM file (unencrypted PKCS#8)."""
    crypto = _crypto()
    data = Path(path).read_bytes()
    try:
        key = crypto.serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, crypto.Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key ({type(key).__name__})")
    return key


def _public_key(data: bytes, source: str) -> Any:
    crypto = _crypto()
    s = crypto.serialization
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = s.load_pem_public_key(data)
        else:
            key = s.load_der_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ArtifactError(source, f"not a PEM or DER public key: {exc}") from exc
    if not isinstance(key, crypto.Ed25519PublicKey):
        raise ArtifactError(source, f"not an Ed25519 public key ({type(key).__name__})")
    return key


def trusted_keys_from(sources: Iterable[TrustedKey]) -> list[Any]:
    """Ed25519 public keys from paths, PEM/DER bytes or key objects.

    Raises
    ------
    ArtifactError
        Naming the key that cannot be read or is not an Ed25519 public key, or when no key
        is given at all (nothing could then be trusted).
    """
    crypto = _crypto()
    keys = []
    for source in sources:
        if isinstance(source, crypto.Ed25519PublicKey):
            keys.append(source)
        elif isinstance(source, bytes):
            keys.append(_public_key(source, "trusted key (bytes)"))
        elif isinstance(source, str | os.PathLike):
            path = Path(source)
            try:
                with path.open("rb") as f:
                    data = f.read(MAX_KEY_BYTES + 1)
            except OSError as exc:
                raise ArtifactError(str(path), f"cannot read the trusted key: {exc}") from exc
            if len(data) > MAX_KEY_BYTES:
                raise ArtifactError(str(path), "too large to be a public key")
            keys.append(_public_key(data, str(path)))
        else:
            raise TypeError(f"a trusted key is a path, bytes or a public key, not {source!r}")
    if not keys:
        raise ArtifactError(SIGNATURE, "no trusted key was given: no signature can be trusted")
    return keys


def sign_manifest(manifest_bytes: bytes, private_key: Any) -> bytes:
    """The contents of ``manifest.json.sig`` for these exact manifest bytes."""
    signature = private_key.sign(manifest_bytes)
    kid = key_id(private_key.public_key())
    return f"{_SCHEME} {kid} {base64.b64encode(signature).decode('ascii')}\n".encode("ascii")


def verify_manifest(manifest_bytes: bytes, signature: bytes, trusted_keys: list[Any]) -> str:
    """Check that ``signature`` (a ``manifest.json.sig``) signs ``manifest_bytes``.

    Parameters
    ----------
    manifest_bytes : bytes
        The exact bytes that will then be parsed.
    signature : bytes
        The signature file's contents.
    trusted_keys : list
        Ed25519 public keys (see :func:`trusted_keys_from`).

    Returns
    -------
    str
        The id of the trusted key that made the signature.

    Raises
    ------
    ArtifactError
        Naming ``manifest.json.sig``: malformed, or not made by any trusted key over these
        bytes (a changed manifest, or a key that is not trusted).
    """
    crypto = _crypto()
    try:
        scheme, claimed, encoded = signature.decode("ascii").split()
        raw = base64.b64decode(encoded, validate=True)
    except (UnicodeDecodeError, ValueError, binascii.Error) as exc:
        raise ArtifactError(
            SIGNATURE, "malformed: expected one line 'ed25519 <key id> <base64 signature>'"
        ) from exc
    if scheme != _SCHEME or len(raw) != 64:
        raise ArtifactError(SIGNATURE, f"not an Ed25519 signature (scheme {scheme!r})")
    for key in trusted_keys:
        try:
            key.verify(raw, manifest_bytes)
        except crypto.InvalidSignature:
            continue
        return key_id(key)
    trusted = ", ".join(key_id(k) for k in trusted_keys)
    if claimed in {key_id(k) for k in trusted_keys}:
        reason = (
            f"does not match manifest.json: the manifest (or the signature) changed after "
            f"key {claimed} signed it"
        )
    else:
        reason = f"names key {claimed}, which is not trusted (trusted: {trusted})"
    raise ArtifactError(SIGNATURE, f"the signature {reason}; refused")
