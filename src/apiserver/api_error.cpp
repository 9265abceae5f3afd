// Storage failures as API errors, with kube-apiserver's wording.
#include "apiserver/api_error.h"

namespace podnet::apiserver {

ApiError from_store(const storage::StoreError& e, const std::string& group, const std::string& resource,
                    const std::string& name) {
  using storage::Errc;
  switch (e.code) {
    case Errc::kNotFound:
      return not_found(group, resource, name);
    case Errc::kAlreadyExists:
      return already_exists(group, resource, name);
    case Errc::kConflict:
      return conflict(group, resource, name,
                      "the object has been modified; please apply your changes to the latest version and "
                      "try again");
    case Errc::kCompacted:
      return expired("too old resource version: " + e.message);
    case Errc::kFutureRevision:
      return {504, "Timeout", "Too large resource version: " + e.message};
    case Errc::kInvalidArgument:
      return bad_request(e.message);
    default:
      return internal_error(e.str());
  }
}

}  // namespace podnet::apiserver
