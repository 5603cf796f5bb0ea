#!/usr/bin/env bash
# Makes sure the services the tests use answer on 127.0.0.1: Redis (6379) and NATS with
# JetStream (4222). Installs Debian's packages when missing, then starts what is not running.
# Also installs numpy for Debian's python3 (the .npy test reads our arrays back with numpy.load).
# Every step fails the run when it cannot do its job (set -e): nothing is skipped quietly.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
wait_for() {
  for _ in $(seq 1 50); do answers "$1" && return 0; sleep 0.2; done
  echo "ensure-services: nothing answers on port $1" >&2; return 1
}

if ! answers 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for 6379
fi

if ! answers 4222; then
  command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  mkdir -p /var/lib/nats-server
  nats=$(command -v nats-server || echo /usr/sbin/nats-server)
  nohup "$nats" -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server >/var/log/nats-server.log 2>&1 &
  wait_for 4222
fi

# The .npy test reads our arrays back with numpy: a missing numpy fails the run here, loudly.
if ! /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  apt_install python3 python3-numpy
  /usr/bin/python3 -c "import numpy" || { echo "ensure-services: numpy is still missing for /usr/bin/python3" >&2; exit 1; }
fi
echo "ensure-services: redis 127.0.0.1:6379 and nats 127.0.0.1:4222 answer"
