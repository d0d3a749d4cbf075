#!/usr/bin/env python3
"""Verifies a kgents-gate attestation (a DSSE envelope) with an OpenSSH public key, independently
of kgents-gate: only Python's standard library and the `cryptography` package.

    python3 scripts/dsse-verify.py reports/kgents-gate-attestation.json release.pub

`release.pub` is one OpenSSH public key line (`ssh-ed25519 AAAA...`, `ecdsa-sha2-nistp256 ...`),
e.g. the key part of an allowed_signers line. On success the in-toto Statement is printed as JSON
on stdout and the exit code is 0; otherwise the reason goes to stderr and the exit code is 1.
"""

import base64
import binascii
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

STATEMENT_V1 = "https://in-toto.io/Statement/v1"


def pae(payload_type: bytes, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


def b64(s: str) -> bytes:
    try:
        return base64.b64decode(s, validate=True)
    except binascii.Error:
        return base64.urlsafe_b64decode(s)


def verify(key, message: bytes, sig: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            digest = {"secp256r1": hashes.SHA256(), "secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}.get(
                key.curve.name
            )
            if digest is None:
                return False
            key.verify(sig, message, ec.ECDSA(digest))
        else:
            return False
        return True
    except InvalidSignature:
        return False


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: dsse-verify.py ENVELOPE.json PUBLIC_KEY.pub", file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        envelope = json.load(f)
    with open(sys.argv[2], "rb") as f:
        key = load_ssh_public_key(f.read().strip())
    payload = b64(envelope["payload"])
    message = pae(envelope["payloadType"].encode(), payload)
    if not any(verify(key, message, b64(s["sig"])) for s in envelope.get("signatures", [])):
        print("no signature of the envelope verifies with this key", file=sys.stderr)
        return 1
    statement = json.loads(payload)
    if statement.get("_type") != STATEMENT_V1:
        print(f"the payload is not an in-toto Statement v1: _type={statement.get('_type')!r}", file=sys.stderr)
        return 1
    for field in ("subject", "predicateType", "predicate"):
        if field not in statement:
            print(f"the statement has no {field}", file=sys.stderr)
            return 1
    for s in statement["subject"]:
        if not isinstance(s.get("digest"), dict) or not s["digest"]:
            print(f"subject {s.get('name')!r} has no digest", file=sys.stderr)
            return 1
    json.dump(statement, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
