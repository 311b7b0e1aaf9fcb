#!/bin/sh
# The server: busybox nc forks /app/handler.sh for each connection. With EXIT_AFTER=N it stops
# N seconds after it started (a release that dies once it is live).
if [ "${EXIT_AFTER:-0}" != 0 ]; then
  /bin/nc -ll -p 8080 -e /app/handler.sh &
  server=$!
  sleep "$EXIT_AFTER"
  kill "$server"
  exit 3
fi
exec /bin/nc -ll -p 8080 -e /app/handler.sh
