#!/usr/bin/env python3
"""Validates deploy/docker-compose-nats.yml without a Docker engine: the file must parse
with `docker-compose config`, every bind-mounted file and build context must exist, and
every file the Dockerfile copies must exist."""
import os, subprocess, sys, yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
compose = os.path.join(root, "deploy", "docker-compose-nats.yml")
# As scripts/start-nats-cluster.sh --docker runs it: every version from versions.env.
versions = os.path.join(root, "versions.env")
env = dict(os.environ, NATS_SYSTEM_PASSWORD="compose-check")
out = subprocess.run(["docker-compose", "--env-file", versions, "-f", compose, "config"],
                     capture_output=True, text=True, env=env)
if out.returncode != 0:
    sys.exit("docker-compose config failed:\n" + out.stderr)
config = yaml.safe_load(out.stdout)
problems = []
for name, svc in config["services"].items():
    for vol in svc.get("volumes", []):
        # docker-compose 1.x renders short syntax as "source:target[:mode]", named
        # volumes without a path; the long syntax is a mapping.
        if isinstance(vol, dict):
            source = vol.get("source") if vol.get("type") == "bind" else None
        else:
            source = vol.split(":")[0] if vol.startswith(("/", ".")) else None
        if source is not None and not os.path.exists(source):
            problems.append(f"{name}: mounted file missing: {source}")
    build = svc.get("build")
    if build:
        ctx = build["context"]
        dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
        if not os.path.isdir(ctx):
            problems.append(f"{name}: build context missing: {ctx}")
        if not os.path.isfile(dockerfile):
            problems.append(f"{name}: Dockerfile missing: {dockerfile}")
        else:
            for line in open(dockerfile):
                parts = line.split()
                if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
                    for src in parts[1:-1]:
                        if not os.path.exists(os.path.join(ctx, src)):
                            problems.append(f"{name}: Dockerfile copies a missing path: {src}")
pins = dict(line.strip().split("=", 1) for line in open(versions)
            if "=" in line and not line.lstrip().startswith("#"))
for name in ["nats-1", "nats-2", "nats-3"]:
    image = config["services"][name]["image"]
    if image != f"nats:{pins['NATS_SERVER_VERSION']}-alpine":
        problems.append(f"{name}: image {image} is not the pinned nats-server {pins['NATS_SERVER_VERSION']}")
    env = config["services"][name]["environment"]
    if env.get("NATS_SYNC_INTERVAL") != pins["NATS_SYNC_INTERVAL_DEFAULT"]:
        problems.append(f"{name}: NATS_SYNC_INTERVAL {env.get('NATS_SYNC_INTERVAL')} is not versions.env's")
services = sorted(config["services"])
for needed in ["nats-1", "nats-2", "nats-3", "nats-box", "processor", "generator"]:
    if needed not in services:
        problems.append(f"service {needed} missing")
if problems:
    sys.exit("\n".join(problems))
print(f"compose file valid: {len(services)} services ({', '.join(services)}), every mounted file present")
