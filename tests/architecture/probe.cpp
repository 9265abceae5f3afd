// Built only by the ArchitectureProbe test, which passes when this file does NOT compile: a target
// that links podnet_k8s (floor 1) must not see the API server's headers (floor 2).
#include "apiserver/registry/resources.h"
#include "k8s/names.h"
