# CPU accounting shared by the benchmark scripts (sourced, not run).
# ticks PID: utime + stime (+ cutime + cstime) of one process, 0 if gone.
ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# pg_ticks: the postmaster $pg_pid (with its reaped children) and every live child.
pg_ticks() {
  local sum t
  sum=$(ticks "$pg_pid")
  for c in $(ps -o pid= --ppid "$pg_pid"); do t=$(ticks "$c"); sum=$((sum + t)); done
  echo "$sum"
}
