#!/usr/bin/env bash
# Validates the deployment files without a Docker engine (none runs on the project's machines):
# `docker-compose config` (Debian's docker-compose) resolves and schema-checks the compose file,
# dockerfile-utils (npm; the linter behind VS Code's Dockerfile support) lints the Dockerfile, and
# tools/ci/check-deploy.py checks the project's rules and runs what runs here. Installs what is
# missing; fails loudly when it cannot.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v docker-compose >/dev/null; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
linter=.cache/ci-tools/node_modules/.bin/dockerfile-utils
if [ ! -x "$linter" ]; then
  mkdir -p .cache/ci-tools
  (cd .cache/ci-tools && npm install --no-save --no-audit --no-fund --prefix . dockerfile-utils@0.16.3 >/dev/null)
fi

resolved=$(mktemp)
trap 'rm -f "$resolved"' EXIT
# Every profile (the GPU replica included), as the engine would read it.
docker-compose -f docker-compose.yml --profile gpu config > "$resolved"
echo "check-deploy: docker-compose config: docker-compose.yml is valid"
"$linter" lint Dockerfile
echo "check-deploy: dockerfile-utils lint: Dockerfile has no errors"
/usr/bin/python3 tools/ci/check-deploy.py "$resolved"
