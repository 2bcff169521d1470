#!/usr/bin/env bash
# Lints the Containerfile without a container engine (none is available in CI):
#   - every COPY source (without --from) exists in the build context, and is not excluded by
#     .dockerignore;
#   - every stage named in COPY --from / FROM exists, for every VARIANT (cpu, cuda);
#   - the final stage runs as a non-root USER, has a HEALTHCHECK, the models VOLUME and an
#     ENTRYPOINT of `agent`;
#   - the build uses `cargo build --release --locked`; apt installs skip recommends and clean up;
#   - hadolint, when installed, finds no errors.
#
#   bash scripts/check-containerfile.sh [CONTAINERFILE] [CONTEXT_DIR]
# Exit status 0 when clean, 1 with one line per problem otherwise.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
file="${1:-$root/Containerfile}"
context="${2:-$(dirname "$file")}"
variants=(cpu cuda)
problems=0

fail() {
  echo "check-containerfile: $file:$1: $2" >&2
  problems=$((problems + 1))
}

[ -f "$file" ] || { echo "check-containerfile: no such file: $file" >&2; exit 1; }

# Logical lines: comments dropped, backslash continuations joined; "LINENO<TAB>TEXT".
logical=$(awk '
  /^[[:space:]]*#/ { next }
  {
    line = $0
    if (buf == "") start = NR
    if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, "", line); buf = buf line " "; next }
    buf = buf line
    if (buf ~ /[^[:space:]]/) print start "\t" buf
    buf = ""
  }' "$file")

# Global ARG defaults (before the first FROM), for ${VAR} in FROM lines.
declare -A arg_default=()
stages=()
last_from_line=0
seen_from=0
while IFS=$'\t' read -r lineno text; do
  instr=$(awk '{print toupper($1)}' <<<"$text")
  rest=$(sed -E 's/^[[:space:]]*[A-Za-z]+[[:space:]]*//' <<<"$text")
  case "$instr" in
    ARG)
      if [ "$seen_from" = 0 ] && [[ "$rest" == *=* ]]; then
        arg_default["${rest%%=*}"]="${rest#*=}"
      fi
      ;;
    FROM)
      seen_from=1
      last_from_line=$lineno
      name=$(sed -nE 's/.*[[:space:]][Aa][Ss][[:space:]]+([A-Za-z0-9_.-]+)[[:space:]]*$/\1/p' <<<"$rest")
      [ -n "$name" ] && stages+=("$name")
      ;;
  esac
done <<<"$logical"

has_stage() {
  local s
  for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

# Expands ${VAR}/$VAR with global ARG defaults, VARIANT set to $1.
expand() {
  local variant="$1" text="$2" var value
  for var in "${!arg_default[@]}"; do
    value="${arg_default[$var]}"
    [ "$var" = VARIANT ] && value="$variant"
    text="${text//\$\{$var\}/$value}"
    text="${text//\$$var/$value}"
  done
  [[ "$text" == *'${VARIANT}'* ]] && text="${text//\$\{VARIANT\}/$variant}"
  printf '%s' "$text"
}

ignored_by_dockerignore() {
  local path="$1" pat
  [ -f "$context/.dockerignore" ] || return 1
  while IFS= read -r pat; do
    pat="${pat%%#*}"; pat="${pat%/}"; pat="${pat## }"; pat="${pat%% }"
    [ -z "$pat" ] && continue
    [[ "$pat" == '!'* ]] && continue
    # shellcheck disable=SC2053
    if [[ "$path" == $pat || "$path" == $pat/* ]]; then return 0; fi
  done <"$context/.dockerignore"
  return 1
}

final_user="" final_health=0 final_volume=0 final_entry="" cargo_locked=0 in_final=0
stage_index=0
while IFS=$'\t' read -r lineno text; do
  instr=$(awk '{print toupper($1)}' <<<"$text")
  rest=$(sed -E 's/^[[:space:]]*[A-Za-z]+[[:space:]]*//' <<<"$text")
  case "$instr" in
    FROM)
      stage_index=$((stage_index + 1))
      [ "$lineno" = "$last_from_line" ] && in_final=1
      image=$(awk '{for (i = 1; i <= NF; i++) if ($i !~ /^--/) { print $i; exit }}' <<<"$rest")
      for v in "${variants[@]}"; do
        ref=$(expand "$v" "$image")
        # A reference with a registry, tag or digest is an external image; else a stage.
        if [[ "$ref" != */* && "$ref" != *:* && "$ref" != *@* ]] && ! has_stage "$ref"; then
          fail "$lineno" "FROM $image: no stage named '$ref' (VARIANT=$v)"
        fi
      done
      ;;
    COPY | ADD)
      if [ "$instr" = ADD ] && [[ "$rest" == *http://* || "$rest" == *https://* ]]; then
        fail "$lineno" "ADD from a URL: fetch in a RUN step with a checksum instead"
      fi
      from=$(sed -nE 's/.*--from=([^[:space:]]+).*/\1/p' <<<"$rest")
      args=$(sed -E 's/--[a-z-]+=[^[:space:]]+//g' <<<"$rest")
      read -r -a words <<<"$args"
      if [ -n "$from" ]; then
        for v in "${variants[@]}"; do
          ref=$(expand "$v" "$from")
          if [[ "$ref" != */* && "$ref" != *:* ]] && ! has_stage "$ref"; then
            fail "$lineno" "COPY --from=$from: no stage named '$ref' (VARIANT=$v)"
          fi
        done
      elif [ "${#words[@]}" -lt 2 ]; then
        fail "$lineno" "$instr needs a source and a destination"
      else
        for src in "${words[@]:0:${#words[@]}-1}"; do
          src="${src#./}"
          if [ "$src" = "." ]; then
            [ -f "$context/.dockerignore" ] || fail "$lineno" "COPY . without a .dockerignore would send target/ (GBs) to the builder"
            grep -qE '^/?target/?$' "$context/.dockerignore" 2>/dev/null \
              || fail "$lineno" "COPY . but .dockerignore does not exclude target/"
            continue
          fi
          # shellcheck disable=SC2086
          if ! compgen -G "$context/$src" >/dev/null; then
            fail "$lineno" "COPY source '$src' does not exist in $context"
          elif ignored_by_dockerignore "$src"; then
            fail "$lineno" "COPY source '$src' is excluded by .dockerignore"
          fi
        done
      fi
      ;;
    RUN)
      if [[ "$rest" == *"cargo build"* ]]; then
        [[ "$rest" == *--release* && "$rest" == *--locked* ]] && cargo_locked=1 \
          || fail "$lineno" "cargo build without --release --locked"
      fi
      if [[ "$rest" == *"apt-get install"* ]]; then
        [[ "$rest" == *--no-install-recommends* ]] || fail "$lineno" "apt-get install without --no-install-recommends"
        [[ "$rest" == *"rm -rf /var/lib/apt/lists"* ]] || fail "$lineno" "apt-get install without removing /var/lib/apt/lists"
      fi
      ;;
    USER) [ "$in_final" = 1 ] && final_user="$rest" ;;
    HEALTHCHECK) [ "$in_final" = 1 ] && [[ "$rest" != NONE* ]] && final_health=1 ;;
    VOLUME) [ "$in_final" = 1 ] && [[ "$rest" == */var/lib/enclave/models* ]] && final_volume=1 ;;
    ENTRYPOINT) [ "$in_final" = 1 ] && final_entry="$rest" ;;
  esac
done <<<"$logical"

[ "$stage_index" -ge 2 ] || fail 1 "expected a multi-stage build (builder + runtime)"
[ "$cargo_locked" = 1 ] || fail 1 "no 'cargo build --release --locked' step"
case "${final_user%%:*}" in
  "") fail "$last_from_line" "final stage has no USER: it would run as root" ;;
  root | 0) fail "$last_from_line" "final stage runs as root (USER $final_user)" ;;
esac
[ "$final_health" = 1 ] || fail "$last_from_line" "final stage has no HEALTHCHECK"
[ "$final_volume" = 1 ] || fail "$last_from_line" "final stage has no VOLUME for /var/lib/enclave/models"
[[ "$final_entry" == *agent* ]] || fail "$last_from_line" "final stage ENTRYPOINT is not the agent binary"

if command -v hadolint >/dev/null 2>&1; then
  hadolint --failure-threshold error "$file" || fail 0 "hadolint reported errors"
fi

if [ "$problems" -gt 0 ]; then
  echo "check-containerfile: $problems problem(s) in $file" >&2
  exit 1
fi
echo "check-containerfile: $file OK (${#stages[@]} stages, variants: ${variants[*]})"
