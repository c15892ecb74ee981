#!/usr/bin/env bash
# Starts a local HTTP remote cache for Bazel (nginx with WebDAV, on a free loopback port),
# installing nginx and curl when missing, proves it stores and serves a blob, and prints its
# address. nginx keeps running after this script; its pid is in $dir/nginx.pid
# (stop: kill "$(cat "$dir/nginx.pid")").
#
# Usage: local_remote_cache.sh DIR   (DIR holds the cache's data, config and logs)
set -euo pipefail
dir=${1:?usage: local_remote_cache.sh DIR}

if [ ! -x /usr/sbin/nginx ] || ! command -v curl >/dev/null 2>&1; then
  echo "installing nginx (the local remote cache) and curl" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Keep the package from starting its default site on port 80.
  policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    policy_created=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nginx curl ca-certificates >/dev/null
  [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# nginx's workers (www-data) must reach the data: keep it outside /root.
mkdir -p "$dir/data" "$dir/tmp"
chown -R www-data "$dir/data" "$dir/tmp"
for _ in 1 2 3 4 5 6 7 8 9 10; do
  port=$(( 20000 + RANDOM % 20000 ))
  cat >"$dir/nginx.conf" <<CONF
daemon off;
user www-data;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $dir/tmp;
  server {
    listen 127.0.0.1:$port;
    location / {
      root $dir/data;
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 0;
      dav_access user:rw group:rw all:r;
    }
  }
}
CONF
  /usr/sbin/nginx -c "$dir/nginx.conf" -e "$dir/error.log" </dev/null >/dev/null 2>&1 &
  nginx_pid=$!
  for _ in $(seq 1 50); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
      curl -fsS -X PUT --data-binary ping "http://127.0.0.1:$port/cas/selftest" >/dev/null
      [ "$(curl -fsS "http://127.0.0.1:$port/cas/selftest")" = ping ] || break
      echo "http://127.0.0.1:$port"
      exit 0
    fi
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
done
echo "could not start the local remote cache (nginx)" >&2
cat "$dir/error.log" >&2 || true
exit 1
