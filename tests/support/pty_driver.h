// A terminal for e2e tests of `kubectl exec -it` / `attach -it` (issue 17): a python3 script to
// write to a file and run as `python3 FILE ROWS COLS STEP... -- COMMAND...`. It drives the command
// in a pty of ROWS x COLS as a user would, by events rather than sleeps: each step waits for what
// the previous one should print.
// - SEND=EXPECT: SEND (may be empty) is typed with Enter, then EXPECT must appear within 20 s;
//   "~" before EXPECT types SEND again every 2 s until it appears (a resize that may arrive after
//   the first input).
// - #ROWSxCOLS: the terminal is resized (TIOCSWINSZ on the pty: the kernel sends SIGWINCH to the
//   command, as a terminal emulator's resize does).
// Prints the terminal's transcript, one line per step on stderr, and RESULT=ok or RESULT=fail; the
// command gets SIGTERM at the end, as a user's kill.
#pragma once

namespace podnet::testing {

inline constexpr const char* kPtyDriver = R"PY(
import fcntl, os, select, signal, struct, sys, termios, time
rows, cols = int(sys.argv[1]), int(sys.argv[2])
sep = sys.argv.index("--")
steps, cmd = sys.argv[3:sep], sys.argv[sep + 1:]
m, s = os.openpty()
fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
t0 = time.time()
pid = os.fork()
if pid == 0:
    os.setsid()
    os.close(m)
    fcntl.ioctl(s, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(s, fd)
    os.execvp(cmd[0], cmd)
os.close(s)
out = b""
def wait_for(pat, until):
    global out
    while pat not in out:
        left = until - time.time()
        if left <= 0:
            return False
        if select.select([m], [], [], left)[0]:
            try:
                d = os.read(m, 4096)
            except OSError:
                return False
            if not d:
                return False
            out += d
    return True
ok = True
for step in steps:
    if step.startswith("#"):
        r, c = step[1:].split("x")
        fcntl.ioctl(m, termios.TIOCSWINSZ, struct.pack("HHHH", int(r), int(c), 0, 0))
        print("step %r at %.2fs: resized" % (step, time.time() - t0), file=sys.stderr)
        continue
    send, expect = step.split("=", 1)
    again = expect.startswith("~")
    expect = expect.lstrip("~").encode()
    start = time.time()
    seen = False
    while not seen and time.time() - start < 20:
        if send:
            os.write(m, send.encode() + b"\r")
        seen = wait_for(expect, min(start + 20, time.time() + 2) if again else start + 20)
    print("step %r at %.2fs: %s after %.2fs" % (step, start - t0, "seen" if seen else "NOT SEEN",
          time.time() - start), file=sys.stderr)
    if not seen:
        ok = False
        break
os.kill(pid, signal.SIGTERM)
wait_for(b"\0", time.time() + 1)
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
print("\nRESULT=" + ("ok" if ok else "fail"))
)PY";

}  // namespace podnet::testing
