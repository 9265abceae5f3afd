#include "runtime/spawn.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace podnet::runtime {
namespace {

struct Trampoline {
  int (*child)(void*);
  void* arg;
  sigset_t mask;  // the caller's, restored in the child after the handlers are reset
};

int trampoline(void* p) {
  auto* t = static_cast<Trampoline*>(p);
  // A handler of the parent must not run here, on memory the parent shares: reset them (the table
  // is the child's own copy without CLONE_SIGHAND) before signals are let in again.
  for (int s = 1; s < NSIG; ++s) {
    struct sigaction old {};
    if (::sigaction(s, nullptr, &old) != 0) continue;
    if (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN) continue;
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(s, &dfl, nullptr);
  }
  ::sigprocmask(SIG_SETMASK, &t->mask, nullptr);
  ::_exit(t->child(t->arg));
}

}  // namespace

pid_t spawn_vfork(int (*child)(void*), void* arg) {
  // The child runs only a few syscalls before execve; 64 KiB is plenty and costs nothing unused.
  constexpr size_t kStack = 64 * 1024;
  alignas(64) char stack[kStack];
  Trampoline t{child, arg, {}};
  sigset_t all;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &t.mask);
  pid_t pid = ::clone(trampoline, stack + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &t);
  int err = errno;
  ::pthread_sigmask(SIG_SETMASK, &t.mask, nullptr);
  errno = err;
  return pid;
}

}  // namespace podnet::runtime
