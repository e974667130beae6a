#!/usr/bin/env bash
# check-sigsafe.sh - prove that code meant to run inside signal handlers
# (agent/signal/, built as libpyrite_sigsafe.a) references nothing that is
# not async-signal-safe.
#
# Usage: check-sigsafe.sh ARCHIVE_OR_OBJECT...
#
# Every undefined symbol of every object must either be defined (globally)
# by another object given on the command line / inside the same archive, or
# be on the ALLOW-list below.  Anything else is printed with the object that
# references it and the script exits 1.  Exit 2 means the check could not
# run (bad usage, unreadable input, nm failure).
#
# To allow a new symbol: add it to ALLOW with a comment saying why it is
# async-signal-safe (POSIX list, or "a bare syscall wrapper in glibc" etc.).
# Being convenient is not a reason.  Runs as a POST_BUILD step of
# pyrite_sigsafe and as the build.sigsafe_* tests.
set -euo pipefail

# ---------------------------------------------------------------------------
# ALLOW-list: undefined symbols agent/signal may reference.
ALLOW=(
  clock_gettime     # POSIX.1 async-signal-safe; glibc reads the vDSO or makes the syscall
  syscall           # glibc's raw syscall trampoline: registers in, errno out, nothing else
  __errno_location  # returns &errno (initial-exec TLS); no allocation, no locks
  memcpy            # async-signal-safe since POSIX.1-2016; pure memory operation
  memset            # async-signal-safe since POSIX.1-2016; pure memory operation
  memmove           # async-signal-safe since POSIX.1-2016; pure memory operation
  mmap              # bare syscall wrapper in glibc (AS-Safe per glibc manual); used by ring init
  munmap            # bare syscall wrapper in glibc (AS-Safe per glibc manual); used by ring destroy
  getpid            # POSIX.1 async-signal-safe
  gettid            # bare syscall wrapper (glibc >= 2.30)
  timer_getoverrun  # POSIX.1 async-signal-safe
  _GLOBAL_OFFSET_TABLE_  # linker-provided table for PIC code, not a function
  sigaction         # POSIX.1 async-signal-safe; only pyr_sampler_install calls it
  sigemptyset       # POSIX.1 async-signal-safe; pure mask manipulation
  sigaddset         # POSIX.1 async-signal-safe; pure mask manipulation
  sigdelset         # POSIX.1 async-signal-safe; pure mask manipulation
  sigfillset        # POSIX.1 async-signal-safe; pure mask manipulation
  sigprocmask       # POSIX.1 async-signal-safe; one rt_sigprocmask syscall (guard.c, on a caught fault)
  # Crash guard (agent/signal/guard.c).  sigsetjmp is a macro for
  # __sigsetjmp; guard.c always passes savemask=0, so it only stores
  # registers (glibc manual: AS-Safe), no syscall, no lock.  siglongjmp is
  # on the POSIX.1-2017 async-signal-safe list; it only restores registers
  # (no mask: none was saved) and is how guard.c leaves its SIGSEGV handler.
  __sigsetjmp
  siglongjmp
)
# Prefixes of sanitizer runtime entry points, so ASan/UBSan/TSan builds pass.
# The sanitizer runtimes are designed to be called from signal handlers.
ALLOW_PREFIXES=(
  __asan_
  __ubsan_
  __tsan_
  __sanitizer_
)
# Not allowed on purpose (the error message repeats this):
#  malloc/calloc/realloc/free  heap lock; deadlocks if the signal interrupts malloc
#  pthread_mutex/cond/rwlock   a lock the interrupted thread may already hold
#  stdio (printf, fopen, ...)  stream locks and buffers
#  curl_*                      allocates, locks, does I/O
#  dl* (dlopen, dlsym, ...)    loader lock
#  __tls_get_addr              general-dynamic TLS: first access allocates the
#                              thread's TLS block with malloc
#  syslog                      locks and stdio
# ---------------------------------------------------------------------------

NM=${NM:-nm}

if [[ $# -lt 1 ]]; then
  echo "usage: $0 ARCHIVE_OR_OBJECT..." >&2
  exit 2
fi
if ! command -v "$NM" >/dev/null 2>&1; then
  echo "check-sigsafe: '$NM' not found" >&2
  exit 2
fi
for f in "$@"; do
  if [[ ! -r $f ]]; then
    echo "check-sigsafe: cannot read '$f'" >&2
    exit 2
  fi
done

# nm -A -P prints one symbol per line as
#   "archive.a[member.o]: name type [value size]"  (archive members)
#   "file.o: name type [value size]"                (plain objects)
# Run nm outside a pipeline so its failure is not masked, and keep its
# stderr apart ("no symbols" notes must not be parsed as symbols).
errf=$(mktemp)
trap 'rm -f "$errf"' EXIT
if ! defined_out=$("$NM" -A -P --defined-only "$@" 2>"$errf"); then
  echo "check-sigsafe: $NM --defined-only failed:" >&2
  cat "$errf" >&2
  exit 2
fi
if ! undef_out=$("$NM" -A -P -u "$@" 2>"$errf"); then
  echo "check-sigsafe: $NM -u failed:" >&2
  cat "$errf" >&2
  exit 2
fi

# Globally defined symbols of all inputs.  Lower-case types are local to
# their object (except i = ifunc, u = unique global) and cannot satisfy a
# reference from another object.
declare -A DEFINED=()
while IFS= read -r line; do
  [[ -z $line ]] && continue
  loc=${line%: *}
  read -r sym type _ <<<"${line#"$loc": }"
  case $type in
    [A-TV-Z] | i | u) DEFINED[$sym]=1 ;;
  esac
done <<<"$defined_out"

declare -A ALLOWED=()
for s in "${ALLOW[@]}"; do ALLOWED[$s]=1; done

is_allowed() {
  local sym=$1 p
  [[ -n ${ALLOWED[$sym]+x} ]] && return 0
  for p in "${ALLOW_PREFIXES[@]}"; do
    [[ $sym == "$p"* ]] && return 0
  done
  return 1
}

# A short reason for well-known offenders, to make the failure actionable.
why() {
  case $1 in
    malloc | calloc | realloc | free | posix_memalign | aligned_alloc | memalign | valloc | strdup | strndup)
      echo "heap allocation" ;;
    pthread_mutex_* | pthread_cond_* | pthread_rwlock_* | pthread_spin_*)
      echo "lock" ;;
    printf | fprintf | sprintf | snprintf | vfprintf | vsnprintf | puts | fputs | fputc | putc | putchar | fwrite | fread | fopen | fclose | fflush | fdopen | perror | __printf_chk | __fprintf_chk | __snprintf_chk | __vsnprintf_chk | __sprintf_chk)
      echo "stdio" ;;
    curl_*) echo "libcurl" ;;
    dlopen | dlsym | dlclose | dlerror | dladdr | dlvsym | dl_iterate_phdr)
      echo "dynamic loader" ;;
    __tls_get_addr) echo "general-dynamic TLS (may malloc); use initial-exec TLS" ;;
    syslog | vsyslog | openlog) echo "syslog" ;;
    __stack_chk_fail) echo "stack protector; build with -fno-stack-protector" ;;
    *) echo "not on the allow-list" ;;
  esac
}

bad=0
while IFS= read -r line; do
  [[ -z $line ]] && continue
  loc=${line%: *}
  read -r sym _ <<<"${line#"$loc": }"
  [[ -z $sym ]] && continue
  [[ -n ${DEFINED[$sym]+x} ]] && continue
  is_allowed "$sym" && continue
  if [[ $loc =~ ^(.*)\[(.*)\]$ ]]; then
    where="${BASH_REMATCH[2]} (in ${BASH_REMATCH[1]})"
  else
    where=$loc
  fi
  echo "check-sigsafe: FORBIDDEN: $sym referenced by $where: $(why "$sym")" >&2
  bad=1
done <<<"$undef_out"

if [[ $bad -ne 0 ]]; then
  cat >&2 <<'EOF'
check-sigsafe: code under agent/signal/ runs inside signal handlers and may
only call async-signal-safe functions (see the ALLOW-list at the top of
scripts/check-sigsafe.sh).  Forbidden in particular:
  - malloc/calloc/realloc/free (and anything that allocates)
  - pthread_mutex_*, pthread_cond_*, pthread_rwlock_* (any lock)
  - stdio (printf, fprintf, fopen, ...)
  - libcurl (curl_*)
  - the dynamic loader (dlopen, dlsym, dladdr, ...)
  - __tls_get_addr (general-dynamic TLS: its first access mallocs)
  - syslog
Move the work out of the handler (e.g. to the aggregator thread), or, if the
symbol really is async-signal-safe, add it to ALLOW with a justification.
EOF
  exit 1
fi
exit 0
