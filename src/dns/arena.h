// A bump allocator behind libknot's knot_mm_t: one query's packets and RR sets come from it and
// are all released by reset(), so answering does not call malloc. Oversized requests fall back to
// the heap, still released by reset(). Not thread-safe: one per serving thread.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <vector>

#include "dns/knot.h"

namespace podnet::dns {

class Arena {
 public:
  explicit Arena(size_t size = 256 * 1024) : buf_(new std::byte[size]), size_(size) {
    mm_.ctx = this;
    mm_.alloc = &Arena::alloc_cb;
    mm_.free = &Arena::free_cb;
  }
  ~Arena() { reset(); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  knot_mm_t* mm() { return &mm_; }
  void reset() {
    used_ = 0;
    for (void* p : heap_) std::free(p);
    heap_.clear();
  }

 private:
  static void* alloc_cb(void* ctx, size_t len) { return static_cast<Arena*>(ctx)->alloc(len); }
  static void free_cb(void*) {}  // everything goes at reset()
  void* alloc(size_t len) {
    size_t aligned = (len + 15) & ~size_t{15};
    if (aligned <= size_ - used_) {
      void* p = buf_.get() + used_;
      used_ += aligned;
      return p;
    }
    void* p = std::malloc(len);
    if (p) heap_.push_back(p);
    return p;
  }

  knot_mm_t mm_{};  // first member is irrelevant: knot passes mm_.ctx
  std::unique_ptr<std::byte[]> buf_;
  size_t size_;
  size_t used_ = 0;
  std::vector<void*> heap_;
};

}  // namespace podnet::dns
