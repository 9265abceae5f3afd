// Word-at-a-time scans: a /12 has a million offsets, and a nearly full range must not cost a
// million bit tests per allocation.
#include "apiserver/registry/range_bitmap.h"

#include <algorithm>
#include <bit>

namespace podnet::apiserver {

size_t static_band_size(size_t size, size_t min_size, size_t divisor, size_t max_size) {
  if (size <= min_size) return 0;
  return std::min(std::max(min_size, size / divisor), max_size);
}

RangeBitmap::RangeBitmap(size_t size, size_t static_band)
    : size_(size), static_band_(std::min(static_band, size)), words_((size + 63) / 64, 0) {}

bool RangeBitmap::has(size_t offset) const {
  return offset < size_ && (words_[offset / 64] >> (offset % 64) & 1) != 0;
}

bool RangeBitmap::allocate(size_t offset) {
  if (offset >= size_ || has(offset)) return false;
  words_[offset / 64] |= uint64_t{1} << (offset % 64);
  ++used_;
  return true;
}

void RangeBitmap::release(size_t offset) {
  if (!has(offset)) return;
  words_[offset / 64] &= ~(uint64_t{1} << (offset % 64));
  --used_;
}

// The first free offset in [start, end), then in [begin, start).
std::optional<size_t> RangeBitmap::scan(size_t begin, size_t end, size_t start) {
  auto first_free = [&](size_t from, size_t to) -> std::optional<size_t> {
    size_t i = from;
    while (i < to) {
      uint64_t free_bits = ~words_[i / 64] >> (i % 64);
      if (free_bits == 0) {
        i = (i / 64 + 1) * 64;
        continue;
      }
      size_t found = i + static_cast<size_t>(std::countr_zero(free_bits));
      return found < to ? std::optional(found) : std::nullopt;
    }
    return std::nullopt;
  };
  if (auto f = first_free(start, end)) return f;
  return first_free(begin, start);
}

std::optional<size_t> RangeBitmap::allocate_next(std::mt19937_64& random) {
  if (used_ >= size_) return std::nullopt;
  std::optional<size_t> found;
  if (static_band_ < size_) {
    size_t start = static_band_ + random() % (size_ - static_band_);
    found = scan(static_band_, size_, start);
  }
  if (!found && static_band_ > 0) found = scan(0, static_band_, random() % static_band_);
  if (found) allocate(*found);
  return found;
}

}  // namespace podnet::apiserver
