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


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    seed_file = sys.argv[1]
    try:
        private_der = subprocess.run(
            ["openssl", "genpkey", "-algorithm", "ed25519", "-outform", "DER"],
            capture_output=True, check=True).stdout
        public_der = subprocess.run(
            ["openssl", "pkey", "-inform", "DER", "-pubout", "-outform", "DER"],
            input=private_der, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"gen-nkey: openssl could not make an Ed25519 key: {e}", file=sys.stderr)
        return 1
    # PKCS#8 and SubjectPublicKeyInfo for Ed25519 end with the 32 raw key bytes.
    seed, public = private_der[-32:], public_der[-32:]
    seed_text = encode(bytes([PREFIX_SEED | (PREFIX_USER >> 5), (PREFIX_USER & 31) << 3]) + seed)
    fd = os.open(seed_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(seed_text + "\n")
    print(encode(bytes([PREFIX_USER]) + public))
    return 0


if __name__ == "__main__":
    sys.exit(main())
