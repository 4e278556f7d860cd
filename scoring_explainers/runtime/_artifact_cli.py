"""``python -m scoring_explainers.artifact``: sign artifacts and check their signatures.

    keygen --out DIR [--name signing]     write DIR/signing.key (private, mode 0600) and
                                          DIR/signing.pub (public), Ed25519, PEM
    sign ARTIFACT --key PRIVATE           write ARTIFACT/manifest.json.sig, a signature of
                                          the manifest's exact bytes (the manifest holds
                                          every other file's SHA-256); the artifact's files
                                          are checked against their hashes first
    verify ARTIFACT --public-key PUB ...  check the signature against the trusted key(s) and
                                          every file against its hash

Exit status: 0 done / verified, 1 refused or failed (the reason on stderr), 2 usage error.
Needs the ``cryptography`` package (the ``signing`` extra).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .._errors import ArtifactError
from ._artifact import read_verified
from ._artifact_manifest import MANIFEST
from ._signing import SIGNATURE, generate_keys, key_id, load_private_key, sign_manifest

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scoring_explainers.artifact",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="write a new Ed25519 key pair")
    keygen.add_argument("--out", required=True, type=Path, help="directory for the keys")
    keygen.add_argument("--name", default="signing", help="file name stem (default: signing)")
    sign = commands.add_parser("sign", help="sign an artifact's manifest")
    sign.add_argument("artifact", type=Path)
    sign.add_argument("--key", required=True, type=Path, help="private key (PEM)")
    verify = commands.add_parser("verify", help="check an artifact's signature and hashes")
    verify.add_argument("artifact", type=Path)
    verify.add_argument(
        "--public-key",
        required=True,
        action="append",
        type=Path,
        help="trusted public key (PEM); may be given several times",
    )
    return parser


def _keygen(args: argparse.Namespace) -> str:
    if not args.name or os.sep in args.name:
        raise ValueError(f"--name must be a plain file name stem, not {args.name!r}")
    private, public = generate_keys(args.out, name=args.name)
    kid = key_id(load_private_key(private).public_key())
    return (
        f"wrote {private} (private, mode 0600: keep it where artifacts are signed) and "
        f"{public} (public: give it to the services); key id {kid}"
    )


def _sign(args: argparse.Namespace) -> str:
    key = load_private_key(args.key)
    # only an artifact whose files match its manifest; the bytes checked are the bytes signed
    verified = read_verified(args.artifact)
    signature = sign_manifest(verified.manifest_bytes, key)
    fd, temporary = tempfile.mkstemp(prefix=f".{SIGNATURE}.", dir=args.artifact)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(signature)
        os.chmod(temporary, 0o644)
        os.replace(temporary, args.artifact / SIGNATURE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return f"signed {args.artifact / MANIFEST} with key {key_id(key.public_key())}"


def _verify(args: argparse.Namespace) -> str:
    verified = read_verified(args.artifact, trusted_keys=args.public_key)
    return (
        f"OK: {args.artifact} is signed by trusted key {verified.signed_by}; manifest.json "
        f"and its files ({', '.join(sorted(verified.files))}) match"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    command = {"keygen": _keygen, "sign": _sign, "verify": _verify}[args.command]
    try:
        message = command(args)
    except (ArtifactError, ImportError, OSError, ValueError) as exc:
        refused = args.command == "verify" and isinstance(exc, ArtifactError)
        print(f"{args.command} {'refused' if refused else 'failed'}: {exc}", file=sys.stderr)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
