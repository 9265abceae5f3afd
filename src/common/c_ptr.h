// unique_ptr for C library objects: CPtr<rtnl_link, rtnl_link_put> frees with the library's own
// function. One definition for libnl, OpenSSL, libnftnl and the rest.
#pragma once

#include <memory>

namespace podnet {

template <auto FreeFn>
struct CFree {
  template <class T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};

template <class T, auto FreeFn>
using CPtr = std::unique_ptr<T, CFree<FreeFn>>;

}  // namespace podnet
