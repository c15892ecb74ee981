# Process bookkeeping shared by tools/run and tools/stop (sourced, not run).
#
# tools/run records every process it starts in $RUN_DATA_DIR/run.pids, one line each:
#   <name> <pid> <start time>
# where the start time is field 22 of /proc/<pid>/stat (clock ticks since boot). A pid with
# another start time is a different process that reused the number, and is never signalled.
# Services are listed in the order they started; they are stopped in the reverse order (the order
# service, the kitchen, SecantusDB, PostgreSQL), so that nothing outlives what it depends on.

# The start time of process $1, or a failure if there is none.
proc_start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086 # split the fields after the command name
  set -- $stat
  printf '%s\n' "${20}"
}

# Whether process $1 is still the one that started at $2, and not a zombie.
proc_is() {
  local stat expected=$2
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  [ "$1" != Z ] && [ "${20}" = "$expected" ]
}

# Appends process $2 named $1 to the pid file $3.
record_pid() {
  local start
  start=$(proc_start_time "$2") || return 0
  printf '%s %s %s\n' "$1" "$2" "$start" >>"$3"
}

# Stops process <pid> (<name>, started at <start>) with <signal>, waits up to <timeout> seconds,
# then SIGKILLs it (and waits up to 5 s more). Prints what happened and how long it took.
#   stop_process <name> <pid> <start> <signal> <timeout>
stop_process() {
  local name=$1 pid=$2 start=$3 signal=$4 timeout=$5 began now elapsed used=$4
  if ! proc_is "$pid" "$start"; then
    printf '[stop] %s (pid %s) is not running (or the pid is another process now)\n' "$name" "$pid" >&2
    return 0
  fi
  began=$(date +%s%N)
  kill -s "$signal" "$pid" 2>/dev/null || true
  local deadline=$(( began + timeout * 1000000000 ))
  while proc_is "$pid" "$start"; do
    now=$(date +%s%N)
    if [ "$now" -ge "$deadline" ]; then
      printf '[stop] %s (pid %s) did not stop within %s s: SIGKILL\n' "$name" "$pid" "$timeout" >&2
      kill -s KILL "$pid" 2>/dev/null || true
      used="$signal, then KILL"
      local kill_deadline=$(( now + 5000000000 ))
      while proc_is "$pid" "$start" && [ "$(date +%s%N)" -lt "$kill_deadline" ]; do sleep 0.05; done
      break
    fi
    sleep 0.05
  done
  elapsed=$(( ($(date +%s%N) - began) / 1000000 ))
  if proc_is "$pid" "$start"; then
    printf '[stop] %s (pid %s) is still running after SIGKILL\n' "$name" "$pid" >&2
    return 1
  fi
  printf '[stop] %s (pid %s) stopped in %d.%03d s (%s)\n' "$name" "$pid" \
    $(( elapsed / 1000 )) $(( elapsed % 1000 )) "$used" >&2
}

# The signal that stops service $1 cleanly: PostgreSQL's fast shutdown is SIGINT (its SIGTERM
# waits for every client to disconnect); everything else takes SIGTERM.
stop_signal() {
  case "$1" in
    postgres) echo INT ;;
    *) echo TERM ;;
  esac
}

# Stops every service listed in pid file $1 (not the run script), last started first, each within
# $2 seconds. Fails if one could not be stopped.
stop_services() {
  local pidfile=$1 timeout=$2 status=0 name pid start
  [ -f "$pidfile" ] || return 0
  while read -r name pid start; do
    [ "$name" = run ] && continue
    stop_process "$name" "$pid" "$start" "$(stop_signal "$name")" "$timeout" || status=1
  done < <(tac "$pidfile")
  return "$status"
}

# Whether any process listed in pid file $1 is still running; prints the first one found.
any_running() {
  local name pid start
  [ -f "$1" ] || return 1
  while read -r name pid start; do
    if proc_is "$pid" "$start"; then
      printf '%s (pid %s)\n' "$name" "$pid"
      return 0
    fi
  done <"$1"
  return 1
}
