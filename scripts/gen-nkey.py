#!/usr/bin/env python3
"""Generates a NATS user nkey: writes its seed to SEED_FILE (mode 0600) and prints its
public key (U...), the value a server's `authorization { users: [{nkey: ...}] }` lists.

    scripts/gen-nkey.py STATE/secure/device.nk     # prints U...

The key pair is Ed25519, made by openssl; the encoding is NATS's (base32 of a prefix
byte, the key and a CRC-16/XMODEM, unpadded), as nsc and nk write it. For development
clusters: production keys belong to your operator tooling (nsc).
"""
import base64
import os
import subprocess
import sys

import tempfile

PREFIX_OPERATOR = 14 << 3  # 'O'
PREFIX_ACCOUNT = 0  # 'A'
PREFIX_USER = 20 << 3  # 'U'
PREFIX_SEED = 18 << 3  # 'S'


def crc16_xmodem(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def encode(raw: bytes) -> str:
    crc = crc16_xmodem(raw)
    return base64.b32encode(raw + bytes([crc & 0xFF, crc >> 8])).decode().rstrip("=")


class KeyPair:
    """An Ed25519 key pair of one NATS role (operator, account or user)."""

    def __init__(self, prefix: int):
        self.prefix = prefix
        self.private_der = _openssl(["genpkey", "-algorithm", "ed25519", "-outform", "DER"])
        public_der = _openssl(["pkey", "-inform", "DER", "-pubout", "-outform", "DER"],
                              self.private_der)
        # PKCS#8 and SubjectPublicKeyInfo for Ed25519 end with the 32 raw key bytes.
        self.public_key = encode(bytes([prefix]) + public_der[-32:])
        self.seed = encode(bytes([PREFIX_SEED | (prefix >> 5), (prefix & 31) << 3]) +
                           self.private_der[-32:])

    def sign(self, data: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            key, message = os.path.join(tmp, "key.der"), os.path.join(tmp, "message")
            with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(self.private_der)
            with open(message, "wb") as f:
                f.write(data)
            return _openssl(["pkeyutl", "-sign", "-rawin", "-keyform", "DER", "-inkey", key,
                             "-in", message])


def _openssl(args, stdin: bytes = b"") -> bytes:
    return subprocess.run(["openssl"] + args, input=stdin, capture_output=True,
                          check=True).stdout


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        key = KeyPair(PREFIX_USER)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"gen-nkey: openssl could not make an Ed25519 key: {e}", file=sys.stderr)
        return 1
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.seed + "\n")
    print(key.public_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
