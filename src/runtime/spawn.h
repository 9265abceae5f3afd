// Starting a child that only prepares a few things and execs, without copying the caller's address
// space: clone(CLONE_VM | CLONE_VFORK), as posix_spawn does, but with room for setns() etc. first.
#pragma once

#include <sys/types.h>

namespace podnet::runtime {

// Runs child(arg) in a new process that shares this one's memory until it execs or exits; the
// calling thread is suspended until then, so what `arg` points to stays valid. The child may only
// use async-signal-safe calls, must not return normally except with its exit code (it then
// _exits), and starts with the caller's signal mask and every caught signal reset to SIG_DFL.
// Returns the child's pid, or -1 with errno set, like fork(); async-signal-safe itself, so a
// forked shim may use it too.
// A fork() would copy the page tables of a large multi-threaded agent and make its every later
// write take a copy-on-write fault, once per pod start.
pid_t spawn_vfork(int (*child)(void*), void* arg);

}  // namespace podnet::runtime
