#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] - builds the libFuzzer targets of tests/fuzz/ with
# clang (-fsanitize=fuzzer,address,undefined) into build-fuzz/ and runs each
# for SECONDS (default: $FUZZ_SECONDS, else 60) on its seed corpus
# tests/fuzz/<target>/ (with the dictionary tests/fuzz/<target>.dict if any).  New interesting inputs go to build-fuzz/corpus/<target>/
# (the checked-in seeds stay as they are); a crash leaves its input in
# build-fuzz/crashes/<target>/ - add it to tests/fuzz/<target>/ as a
# regression seed once fixed.  `FUZZ_TARGETS="jwt cors"` runs a subset.
# Prints executions and crashes per target; exits 1 if any target crashed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-${FUZZ_SECONDS:-60}}
out="$root/build-fuzz"
cc=${FUZZ_CC:-clang}
flags="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$root/src"
libs="$(pkg-config --cflags --libs jansson libjwt openssl) -lpthread -lm"

# target -> the src/ files it needs
declare -A sources=(
  [protocol]="src/protocol/*.c src/base/strbuf.c"
  [multipart]="src/http/multipart.c"
  [upstream_sse]="src/agent/upstream_sse.c"
  [jwt]="src/auth/jwt.c src/auth/jwks.c src/base/setting_list.c src/base/base64.c src/base/log.c"
  [jwks]="src/auth/jwks.c src/base/setting_list.c src/base/base64.c src/base/log.c"
  [cors]="src/auth/cors.c src/base/setting_list.c"
)
targets=${FUZZ_TARGETS:-"protocol multipart upstream_sse jwt jwks cors"}

mkdir -p "$out"
failed=0
summary=()
for t in $targets; do
  bin="$out/fuzz_$t"
  # shellcheck disable=SC2086  # the source globs must expand
  if ! (cd "$root" && $cc $flags tests/fuzz/fuzz_$t.c ${sources[$t]} $libs -o "$bin"); then
    echo "fuzz: cannot build $t"; failed=1; summary+=("$t: BUILD FAILED"); continue
  fi
  mkdir -p "$out/corpus/$t" "$out/crashes/$t" "$root/tests/fuzz/$t"
  log="$out/fuzz_$t.log"
  dict=()
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  echo "== fuzz $t for ${seconds}s"
  "$bin" "$out/corpus/$t" "$root/tests/fuzz/$t" -max_total_time="$seconds" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/crashes/$t/" "${dict[@]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  crashes=$(find "$out/crashes/$t" -type f | wc -l)
  line="$t: ${execs:-?} executions, ${cov:-cov: ?}, corpus $(find "$out/corpus/$t" -type f | wc -l) files, exit $rc, $crashes crash file(s)"
  echo "$line"
  summary+=("$line")
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    grep -m 5 -E 'ERROR|SUMMARY|runtime error' "$log"
  fi
done
echo "== fuzz summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit $failed
