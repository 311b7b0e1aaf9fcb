#!/bin/sh
# One HTTP/1.0 exchange on stdin/stdout: GET /health, GET /version, anything else 404.
read -r method target _proto || exit 0
cr=$(printf '\r')
proxied=false
while IFS= read -r header; do
  header=${header%"$cr"}
  [ -z "$header" ] && break
  case "$header" in [Xx]-[Ff]orwarded-[Ff]or:*) proxied=true ;; esac
done
path=${target%%\?*}

respond() {
  printf 'HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nX-App-Version: %s\r\nConnection: close\r\n\r\n%s\n' \
    "$1" "$(( ${#2} + 1 ))" "$APP_VERSION" "$2"
}

if [ "$method" != "GET" ] && [ "$method" != "HEAD" ]; then
  respond "405 Method Not Allowed" "method not allowed"
  exit 0
fi
if [ "$FAIL_PROXIED" = "true" ] && [ "$proxied" = "true" ]; then
  respond "500 Internal Server Error" "failing behind the proxy"
  exit 0
fi
case "$path" in
  /health | /health/)
    if [ "$HEALTHY" = "true" ]; then respond "200 OK" "ok"; else respond "500 Internal Server Error" "unhealthy"; fi ;;
  /version) respond "200 OK" "$APP_VERSION" ;;
  /) respond "200 OK" "gamepulse $APP_VERSION ($APP_REVISION)" ;;
  *) respond "404 Not Found" "not found" ;;
esac
