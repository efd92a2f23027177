#!/usr/bin/env python3
"""Issues a throwaway NATS operator, account and users for the credentials test, the
way nsc would (JWT v2 claims signed with Ed25519 nkeys), into OUTDIR:

  operator.jwt      the operator (trusted by the test's server)
  resolver.conf     `resolver: MEMORY` with the accounts preloaded, and the system account
  user.creds        a user of the account PRICING (JWT and seed)
  stranger.creds    a user signed by an account the server does not know

    tests/integration/make_creds.py OUTDIR
"""
import base64
import hashlib
import importlib.util
import json
import os
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "gen_nkey", os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "gen-nkey.py"))
nkeys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nkeys)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(issuer: "nkeys.KeyPair", subject: str, name: str, nats: dict) -> str:
    claims = {"iat": int(time.time()), "iss": issuer.public_key, "name": name, "sub": subject,
              "nats": nats}
    digest = hashlib.new("sha512_256", json.dumps(claims, sort_keys=True).encode()).digest()
    claims["jti"] = base64.b32encode(digest).decode().rstrip("=")
    header = b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = issuer.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64url(signature)}"


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
             "wildcards": True, "conn": -1, "leaf": -1}
JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


def account(operator, key, name, jetstream):
    limits = dict(UNLIMITED, **(JETSTREAM if jetstream else {}))
    return jwt(operator, key.public_key, name,
               {"limits": limits, "default_permissions": {"pub": {}, "sub": {}},
                "type": "account", "version": 2})


def creds(account_key, name) -> str:
    user = nkeys.KeyPair(nkeys.PREFIX_USER)
    token = jwt(account_key, user.public_key, name,
                {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user",
                 "version": 2})
    return ("-----BEGIN NATS USER JWT-----\n" + token + "\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n\n"
            "-----BEGIN USER NKEY SEED-----\n" + user.seed + "\n------END USER NKEY SEED------\n")


def write(path, text, mode=0o644):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as f:
        f.write(text)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    operator = nkeys.KeyPair(nkeys.PREFIX_OPERATOR)
    system = nkeys.KeyPair(nkeys.PREFIX_ACCOUNT)
    pricing = nkeys.KeyPair(nkeys.PREFIX_ACCOUNT)
    stranger = nkeys.KeyPair(nkeys.PREFIX_ACCOUNT)  # never preloaded
    write(os.path.join(out, "operator.jwt"),
          jwt(operator, operator.public_key, "pricing-test-operator",
              {"type": "operator", "version": 2}) + "\n")
    write(os.path.join(out, "resolver.conf"),
          "system_account: " + system.public_key + "\n"
          "resolver: MEMORY\n"
          "resolver_preload: {\n"
          f"  {system.public_key}: \"{account(operator, system, 'SYS', False)}\"\n"
          f"  {pricing.public_key}: \"{account(operator, pricing, 'PRICING', True)}\"\n"
          "}\n")
    write(os.path.join(out, "user.creds"), creds(pricing, "pricing-user"), 0o600)
    write(os.path.join(out, "stranger.creds"), creds(stranger, "stranger"), 0o600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
