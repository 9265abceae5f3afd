// podnet-shim: the parent of one container, exec'd by the agent for each container start
// (src/runtime/shim.h has its command line and what it does).
#include <unistd.h>

#include "runtime/shim.h"

int main(int argc, char** argv) {
  podnet::runtime::shim_main(argc, argv, environ);
}
