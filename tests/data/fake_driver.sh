#!/bin/sh
# A scripted device automation for tests of `certify --driver`: it speaks driver protocol v1
# without any device behind it. Every instruction line is appended to $FAKE_DRIVER_LOG.
# $1 says how it misbehaves on the instruction with id $2 (default 2, the first step):
#   ok           answers every instruction with ok and a plausible screen
#   bad-json     answers that instruction with a line that is not JSON
#   wrong-id     answers it with another id
#   silent       does not answer it (the harness must time out)
#   unsupported  declares `choose_pin` unsupported in hello (and answers such a step with
#                error kind `unsupported`)
#   undeclared   answers every `choose_pin` step with error kind `unsupported` without
#                having declared it in hello
#   exit         exits instead of answering it
mode=${1:-ok}
target=${2:-2}
while IFS= read -r line; do
  [ -n "$FAKE_DRIVER_LOG" ] && printf '%s\n' "$line" >> "$FAKE_DRIVER_LOG"
  id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
  case "$line" in
    *'"op":"shutdown"'*) printf '{"id":%s,"ok":true}\n' "$id"; exit 0 ;;
  esac
  if [ "$id" = "$target" ]; then
    case "$mode" in
      bad-json) echo 'this is not json'; continue ;;
      wrong-id) printf '{"id":%s,"ok":true}\n' "$((id + 100))"; continue ;;
      silent) continue ;;
      exit) exit 3 ;;
    esac
  fi
  case "$line" in
    *'"op":"hello"'*)
      if [ "$mode" = unsupported ]; then
        printf '{"id":%s,"ok":true,"device":"fake driver 1.0","unsupported":["choose_pin"]}\n' "$id"
      else
        printf '{"id":%s,"ok":true,"device":"fake driver 1.0"}\n' "$id"
      fi ;;
    *'"action":"choose_pin"'*)
      if [ "$mode" = unsupported ] || [ "$mode" = undeclared ]; then
        printf '{"id":%s,"ok":false,"error":{"kind":"unsupported","message":"no PIN pad"}}\n' "$id"
      else
        printf '{"id":%s,"ok":true,"shown":{"screen":"pin_entry","pin_offered":true}}\n' "$id"
      fi ;;
    *'"action":"consent_mode"'*)
      printf '{"id":%s,"ok":true,"shown":{"screen":"result","qualification":"valid","messages":["006"]}}\n' "$id" ;;
    *) printf '{"id":%s,"ok":true,"shown":{"screen":"place_card"}}\n' "$id" ;;
  esac
done
