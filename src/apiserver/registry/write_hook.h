// Per-kind logic that runs inside ObjectStore's writes: defaults, validation and allocations that
// must be decided with the stored object in hand (Service IPs and ports, Pod checks).
#pragma once

#include <boost/json/object.hpp>
#include <memory>

#include "apiserver/api_error.h"

namespace podnet::apiserver {

// What a hook holds while the store write is in flight. Destroyed without commit() (the write
// failed: conflict, name taken, I/O), it gives back what it took; commit() makes it final.
class WriteTxn {
 public:
  virtual ~WriteTxn() = default;
  virtual void commit() = 0;
};

class WriteHook {
 public:
  virtual ~WriteHook() = default;
  // Before a create (`old` null) or update: may change `obj` (defaults, allocated values) or
  // refuse it. The returned transaction (may be null) is committed once the write is stored.
  virtual ApiResult<std::unique_ptr<WriteTxn>> before_write(const boost::json::object* old,
                                                            boost::json::object& obj) = 0;
  // After a delete is stored, with the object as it was last stored.
  virtual void after_delete(const boost::json::object& removed) = 0;
};

}  // namespace podnet::apiserver
