#include "common/error.h"

#include <cstring>

namespace podnet {

std::string Error::message() const {
  if (code == 0) return context;
  return context + ": " + std::strerror(code);
}

}  // namespace podnet
