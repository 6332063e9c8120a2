#!/usr/bin/env bash
# scripts/check-layers.sh [SRC_DIR] - the include rules of src/README.md, checked
# by `make test`:
#   - protocol/, store/, agent/, auth/ and base/ include no h2o header;
#   - every project include is spelled from src/ ("base/strbuf.h"), never
#     relative ("../base/strbuf.h") or bare ("strbuf.h");
#   - each folder includes only the folders below it:
#       base     -> base
#       loop     -> base, loop          (implements base/loop.h over h2o)
#       auth     -> base, auth
#       protocol -> base, protocol
#       store    -> base, store
#       agent    -> base, protocol, store, agent
#       corpus   -> base, store, corpus  (`chatkitd ingest`, called by main.c)
#       http     -> everything above
#   - the environment is read only through src/base/env.h: no getenv()
#     outside src/base/env.c, and every variable named in a string literal
#     ("CHATKITD_...", "OPENAI_...", "DATABASE_URL") has a row in env.c's table.
# Prints every violation and exits 1 when there is one.
set -uo pipefail
src=${1:-$(cd "$(dirname "$0")/.." && pwd)/src}
cd "$src" || exit 2
declare -A allowed=(
  [base]="base"
  [loop]="base loop"
  [auth]="base auth"
  [protocol]="base protocol"
  [store]="base store"
  [agent]="base protocol store agent"
  [corpus]="base store corpus"
  [http]="base loop auth protocol store agent http"
)
bad=0
for dir in */; do
  dir=${dir%/}
  [ -n "${allowed[$dir]+x}" ] || { echo "check-layers: src/$dir is not in the layer table (scripts/check-layers.sh, src/README.md)"; bad=1; continue; }
  for f in "$dir"/*.[ch]; do
    [ -e "$f" ] || continue
    while IFS=: read -r line inc; do
      case "$dir" in
        loop|http) ;;
        *) if [[ $inc =~ ^\<h2o ]]; then echo "src/$f:$line: $dir/ must not include h2o ($inc)"; bad=1; fi ;;
      esac
      [[ $inc =~ ^\"(.*)\"$ ]] || continue
      path=${BASH_REMATCH[1]}
      if [[ $path != */* || $path == ../* || $path == ./* ]]; then
        echo "src/$f:$line: include \"$path\" is not spelled from src/"; bad=1; continue
      fi
      top=${path%%/*}
      [ "$top" = gen ] && continue
      if [[ " ${allowed[$dir]} " != *" $top "* ]]; then
        echo "src/$f:$line: $dir/ may not include $top/ ($path)"; bad=1
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include' "$f" | sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*/\1:/')
  done
done
while IFS=: read -r f line _; do
  case "$f" in base/env.c|base/env.h) continue ;; esac
  echo "src/$f:$line: reads the environment directly; use base/env.h (and add a row to src/base/env.c)"; bad=1
done < <(grep -rn --include='*.[ch]' -E '\b(secure_)?getenv[[:space:]]*\(' . | sed 's#^\./##')
if [ -f base/env.c ]; then
  for name in $(grep -rhoE --include='*.[ch]' '"(CHATKITD_[A-Z0-9_]+|OPENAI_[A-Z0-9_]+|DATABASE_URL)"' . | tr -d '"' | sort -u); do
    grep -q "{\"$name\"," base/env.c || { echo "check-layers: $name is read but has no row in src/base/env.c"; bad=1; }
  done
fi
[ $bad = 0 ] && echo "check-layers: ok"
exit $bad
