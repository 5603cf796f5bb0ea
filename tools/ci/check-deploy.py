#!/usr/bin/env python3
"""Checks the deployment files (Dockerfile, .dockerignore, docker-compose.yml, models/models.json)
against the rules of issue #18 and the server's own code, then runs what can run without a Docker
engine: the image's native-binary pruning on a copy of node_modules, the server with the shipped
models file (paths mapped to freshly built demo models), and the image's health-check script
against it. Called by tools/ci/check-deploy.sh after `docker-compose config` and the Dockerfile
linter; reads the compose file as `docker-compose config` resolved it (argument 1, YAML).
Prints one line per problem and exits 1 if there is any."""
import fnmatch
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE = os.path.join(ROOT, "node_modules", ".bin", "node")
problems = []


def problem(text):
    problems.append(text)
    print(f"check-deploy: {text}", file=sys.stderr)


# ---- Dockerfile -------------------------------------------------------------------------------
def parse_dockerfile(text):
    """Stages as {name, base, lines}; continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    stages = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            stages.append({"base": m.group(1), "name": m.group(2), "lines": []})
        elif stages:
            stages[-1]["lines"].append(line)
    return stages


dockerfile = open(os.path.join(ROOT, "Dockerfile")).read()
stages = parse_dockerfile(dockerfile)
by_name = {s["name"]: s for s in stages if s["name"]}
args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", dockerfile, re.M))

code_lines = "\n".join(l for l in re.sub(r"\\\n", " ", dockerfile).splitlines() if not l.strip().startswith("#"))
if re.search(r"chown\s+-R", code_lines):
    problem("Dockerfile: `chown -R` duplicates what it changes into a new layer; copy with the right owner instead")
if re.search(r"^ARG\s+ORT_INSTALL", dockerfile, re.M):
    problem("Dockerfile: ORT_INSTALL build argument: a CUDA provider on the CPU image serves on CPU silently")
if not stages or stages[-1]["name"] != "cpu":
    problem("Dockerfile: the last stage (the default target) must be `cpu`")
for name, provider, base_arg in (("cpu", "skip", "NODE_IMAGE"), ("cuda", "cuda12", "CUDA_IMAGE")):
    stage = by_name.get(name)
    if not stage:
        problem(f"Dockerfile: no `{name}` target")
        continue
    body = "\n".join(stage["lines"])
    if stage["base"] != "${%s}" % base_arg:
        problem(f"Dockerfile: target {name} must start FROM ${{{base_arg}}}, not {stage['base']}")
    if name == "cuda" and "cuda" not in args.get("CUDA_IMAGE", ""):
        problem("Dockerfile: CUDA_IMAGE is not a CUDA base image")
    if name == "cpu" and "cuda" in args.get("NODE_IMAGE", ""):
        problem("Dockerfile: the CPU target is on a CUDA image")
    if not re.search(r"^HEALTHCHECK\s+.*CMD", body, re.M):
        problem(f"Dockerfile: target {name} has no HEALTHCHECK")
    if not re.search(r"^USER\s+(?!root\b|0\b)\S+", body, re.M):
        problem(f"Dockerfile: target {name} runs as root")
    if "SQUARE_HOST=0.0.0.0" not in body:
        problem(f"Dockerfile: target {name} must set SQUARE_HOST=0.0.0.0 (a container listens on its external interface)")
    m = re.search(r"^COPY\s+--from=(\S+)\s+/app/node_modules", body, re.M)
    deps = by_name.get(m.group(1)) if m else None
    if not deps:
        problem(f"Dockerfile: target {name} copies no node_modules from a dependencies stage")
    else:
        deps_body = "\n".join(deps["lines"])
        if f"ONNXRUNTIME_NODE_INSTALL={provider}" not in deps_body:
            problem(f"Dockerfile: target {name} takes node_modules from {deps['name']}, which does not install ONNX Runtime's `{provider}` binaries")
        if "prune-native" not in deps_body:
            problem(f"Dockerfile: {deps['name']} does not prune other platforms' native binaries")
    if "COPY --from=build /src/demo-models ./models/demo" not in body or not re.search(r"^WORKDIR\s+/app$", body, re.M):
        problem(f"Dockerfile: target {name} must hold the demo models at /app/models/demo (models/models.json points there)")

# Every COPY source from the context exists and is not excluded by .dockerignore.
ignore = [l.strip() for l in open(os.path.join(ROOT, ".dockerignore")) if l.strip() and not l.startswith("#")]


def ignored(path):
    out = False
    for pattern in ignore:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        parts = path.split("/")
        hit = any(fnmatch.fnmatch("/".join(parts[: i + 1]), pat) or fnmatch.fnmatch("/".join(parts[: i + 1]), pat.replace("**/", "")) for i in range(len(parts)))
        if hit:
            out = not negate
    return out


for required in (".git", "node_modules", ".cache", "models", "dist"):
    if not ignored(required):
        problem(f".dockerignore: {required} would enter the build context")
for stage in stages:
    for line in stage["lines"]:
        m = re.match(r"COPY\s+(?!--from)(?:--\S+\s+)*(.+)", line)
        if not m:
            continue
        for src in m.group(1).split()[:-1]:
            if not os.path.exists(os.path.join(ROOT, src)):
                problem(f"Dockerfile: COPY {src}: no such file in the repository")
            elif ignored(src.rstrip("/")):
                problem(f"Dockerfile: COPY {src}: excluded by .dockerignore")

# ---- docker-compose.yml (as `docker-compose config` resolved it) --------------------------------
compose = yaml.safe_load(open(sys.argv[1]))
services = compose["services"]
commands = {}
for name, svc in services.items():
    if svc.get("restart") not in ("always", "unless-stopped", "on-failure"):
        problem(f"compose: {name} has no restart policy")
    if not svc.get("healthcheck", {}).get("test"):
        problem(f"compose: {name} has no health check")
    for dep, how in (svc.get("depends_on") or {}).items():
        if (how or {}).get("condition") != "service_healthy":
            problem(f"compose: {name} depends on {dep} without condition: service_healthy")
        if not services.get(dep, {}).get("healthcheck"):
            problem(f"compose: {name} waits for {dep}'s health, which has no health check")
    env = svc.get("environment") or {}
    if "NODE_ID" in env or any(c in ("--node-id",) for c in (svc.get("command") or [])):
        problem(f"compose: {name} sets a fixed node id (breaks --scale)")
    image = svc.get("image", "")
    if image.startswith("nats"):
        if any(c in ("-js", "--jetstream") for c in svc.get("command") or []):
            problem("compose: NATS runs JetStream, which nothing uses")
        if svc.get("ports"):
            problem("compose: NATS is published outside the compose network without authentication")
    if image.startswith("redis"):
        if svc.get("ports"):
            problem("compose: Redis is published outside the compose network")
        if "--appendonly" not in (svc.get("command") or []):
            problem("compose: Redis without AOF persistence")
    if svc.get("build"):
        commands[name] = svc.get("command") or []
        for p in svc.get("ports") or []:
            if not str(p.get("host_ip", "") if isinstance(p, dict) else p).startswith("127.0.0.1"):
                problem(f"compose: {name} publishes {p} beyond this host while auth is off by default")
        for v in svc.get("volumes") or []:
            source = v.get("source") if isinstance(v, dict) else v.split(":")[0]
            target = v.get("target") if isinstance(v, dict) else v.split(":")[1]
            if target == "/models" and os.path.realpath(source) != os.path.join(ROOT, "models"):
                problem(f"compose: {name} mounts {source} at /models, not ./models")
        cmd = svc.get("command") or []
        if "--models" in cmd:
            path = cmd[cmd.index("--models") + 1]
            if not path.startswith("/models/"):
                problem(f"compose: {name} reads a models file outside the /models mount: {path}")
            local = os.path.join(ROOT, "models", path[len("/models/"):])
            if not os.path.isfile(local):
                problem(f"compose: {name} reads {path}, and {local} does not exist")
            elif subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", local]).returncode == 0:
                problem(f"compose: {local} is git-ignored: a clone would not have it")
if not any("models" in (c[c.index("--roles") + 1] if "--roles" in c else "models") for c in commands.values()):
    problem("compose: no node serves models")

# The serve commands and the shipped models file, against the server's own parsers.
env = dict(os.environ, SQUARE_FROM_SOURCE="1")
r = subprocess.run([NODE, "--import", "tsx", "tools/ci/check-deploy-cli.ts", json.dumps(commands), "models/models.json"], cwd=ROOT, env=env, capture_output=True, text=True)
sys.stdout.write(r.stdout)
if r.returncode != 0:
    problem(f"serve commands or models file: {r.stderr.strip()}")

# ---- run what runs here ------------------------------------------------------------------------
work = tempfile.mkdtemp(prefix="check-deploy-")
server = None
try:
    # The image's pruning, on a copy of the two packages it prunes.
    nm = os.path.join(work, "node_modules")
    for pkg in ("onnxruntime-node", "tokenizers"):
        shutil.copytree(os.path.join(ROOT, "node_modules", pkg), os.path.join(nm, pkg), symlinks=True)
    r = subprocess.run(["sh", "tools/docker/prune-native.sh", nm, "amd64"], cwd=ROOT, capture_output=True, text=True)
    print(r.stdout.strip())
    if r.returncode != 0:
        problem(f"prune-native: {r.stderr.strip()}")
    left = sorted(os.listdir(os.path.join(nm, "tokenizers")))
    if [f for f in left if f.endswith(".node")] != ["tokenizers.linux-x64-gnu.node"]:
        problem(f"prune-native left {left}")

    # The shipped models file, its paths mapped from the image's /app/models/demo to demo models built now.
    demo = os.path.join(work, "demo")
    subprocess.run([NODE, "bin/square-inference.js", "fixtures", "--out", demo], cwd=ROOT, env=env, check=True, capture_output=True)
    shipped = json.load(open(os.path.join(ROOT, "models", "models.json")))
    for m in shipped["models"]:
        m["path"] = m["path"].replace("/app/models/demo", demo)
    models_file = os.path.join(work, "models.json")
    json.dump(shipped, open(models_file, "w"))
    log_path = os.path.join(work, "server.log")
    log = open(log_path, "w")
    # An explicit port: the health check reads it from the server's command line, as in the image.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = str(probe.getsockname()[1])
    server = subprocess.Popen([NODE, "bin/square-inference.js", "serve", "--port", free_port, "--models", models_file, "--cache-dir", os.path.join(work, "cache")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    port = None
    for _ in range(600):
        text = open(log_path).read()
        m = re.search(r"node \S+ ready on http://127\.0\.0\.1:(\d+)", text)
        if m:
            port = m.group(1)
            break
        if server.poll() is not None:
            break
        time.sleep(0.1)
    if not port:
        problem(f"the server did not start with the shipped models file:\n{open(log_path).read()[-3000:]}")
    else:
        listed = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main/models", timeout=10))
        ids = sorted(m["id"] for m in listed)
        if ids != sorted(m["id"] for m in shipped["models"]):
            problem(f"the shipped models file serves {ids}")
        hc = lambda pid: subprocess.run([NODE, "tools/docker/healthcheck.mjs"], cwd=ROOT, env=dict(os.environ, SQUARE_HEALTHCHECK_PID=str(pid), PORT="1"), capture_output=True, text=True)
        ok = hc(server.pid)
        if ok.returncode != 0:
            problem(f"the image's health check fails against a running gateway: {ok.stderr.strip()}")
        server.terminate()
        server.wait(timeout=30)
        down = hc(os.getpid())  # this process: no --roles flag, default roles include gateway; PORT=1 answers nothing
        if down.returncode == 0:
            problem("the image's health check passes with no gateway listening")
        print(f"check-deploy: the server started with the shipped models file ({len(ids)} models) and the health check passed against it")
finally:
    if server and server.poll() is None:
        server.kill()
    shutil.rmtree(work, ignore_errors=True)

if problems:
    print(f"check-deploy: {len(problems)} problem(s)", file=sys.stderr)
    sys.exit(1)
print("check-deploy: Dockerfile, .dockerignore, docker-compose.yml and models/models.json pass")
