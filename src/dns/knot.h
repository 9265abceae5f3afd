// libknot's headers declare C functions without extern "C": include them only through here.
#pragma once

extern "C" {
#include <libknot/libknot.h>
}
