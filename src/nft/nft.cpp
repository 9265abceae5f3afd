#include "nft/nft.h"

#include <dlfcn.h>
#include <nftables/libnftables.h>

#include <cerrno>
#include <string>
#include <utility>

namespace podnet::nft {

// libnftables and its five dependencies are loaded on first use rather than at exec: podnet-cni
// needs them only for hostPort and masquerade, and mapping them costs every ADD and DEL ~0.5 ms.
struct Nft::Api {
  decltype(&nft_ctx_new) ctx_new;
  decltype(&nft_ctx_free) ctx_free;
  decltype(&nft_ctx_buffer_output) buffer_output;
  decltype(&nft_ctx_buffer_error) buffer_error;
  decltype(&nft_ctx_get_output_buffer) get_output_buffer;
  decltype(&nft_ctx_get_error_buffer) get_error_buffer;
  decltype(&nft_ctx_output_get_flags) output_get_flags;
  decltype(&nft_ctx_output_set_flags) output_set_flags;
  decltype(&nft_run_cmd_from_buffer) run_cmd_from_buffer;
  // errno as libnftables sets it. In a static binary (podnet-cni) the library runs on the C library
  // dlopen loads for it, whose errno is not ours; in a dynamic one this is our own errno.
  int* (*errno_location)();

  // The handle stays open for the life of the process (dlclose of libnftables is not safe while
  // its libraries keep static state); dlopen of a loaded library is only a reference count.
  static Result<Api> load() {
    void* h = ::dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return fail_msg(std::string("load libnftables: ") + ::dlerror());
    Api api{};
    bool ok = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, name));
      ok = ok && fn != nullptr;
    };
    sym(api.ctx_new, "nft_ctx_new");
    sym(api.ctx_free, "nft_ctx_free");
    sym(api.buffer_output, "nft_ctx_buffer_output");
    sym(api.buffer_error, "nft_ctx_buffer_error");
    sym(api.get_output_buffer, "nft_ctx_get_output_buffer");
    sym(api.get_error_buffer, "nft_ctx_get_error_buffer");
    sym(api.output_get_flags, "nft_ctx_output_get_flags");
    sym(api.output_set_flags, "nft_ctx_output_set_flags");
    sym(api.run_cmd_from_buffer, "nft_run_cmd_from_buffer");
    sym(api.errno_location, "__errno_location");
    if (!ok) return fail_msg("load libnftables: a symbol is missing");
    return api;
  }
};

namespace {

// libnftables rewinds its buffers when they are read: take a copy and trim the trailing newline so
// the message fits in an Error context.
std::string take(const char* buf) {
  std::string s = buf ? buf : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs one buffer and returns nft's output; the error carries nft's message.
Result<std::string> exec(const Nft::Api& api, nft_ctx* ctx, std::string_view commands) {
  if (ctx == nullptr) return fail_msg("nftables context is closed");
  std::string buf(commands);  // libnftables wants a NUL-terminated string
  *api.errno_location() = 0;
  int rc = api.run_cmd_from_buffer(ctx, buf.c_str());
  int err = *api.errno_location();
  std::string out = api.get_output_buffer(ctx);
  std::string msg = take(api.get_error_buffer(ctx));
  if (rc == 0) return out;
  // errno is only meaningful when the kernel refused the batch ("Could not process rule: ..."); a
  // syntax or evaluation error leaves whatever errno the parser happened to set.
  int code = msg.find("Could not process rule") != std::string::npos ? err : 0;
  return fail("nft: " + (msg.empty() ? std::string("failed") : msg), code);
}

}  // namespace

Result<Nft> Nft::open() {
  PODNET_TRY(api, Api::load());
  auto shared = std::make_shared<const Api>(api);
  nft_ctx* ctx = api.ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return fail_msg("create nftables context");
  // Buffered so that nothing is printed on the plugin's stdout (which carries the CNI result) and
  // so errors can be returned to the caller.
  if (api.buffer_output(ctx) != 0 || api.buffer_error(ctx) != 0) {
    api.ctx_free(ctx);
    return fail_msg("buffer nftables output");
  }
  return Nft(std::move(shared), ctx);
}

Nft::Nft(Nft&& o) noexcept : api_(std::move(o.api_)), ctx_(std::exchange(o.ctx_, nullptr)) {}

Nft& Nft::operator=(Nft&& o) noexcept {
  if (this != &o) {
    if (ctx_) api_->ctx_free(ctx_);
    api_ = std::move(o.api_);
    ctx_ = std::exchange(o.ctx_, nullptr);
  }
  return *this;
}

Nft::~Nft() {
  if (ctx_) api_->ctx_free(ctx_);
}

Status Nft::run(std::string_view commands) {
  auto r = exec(*api_, ctx_, commands);
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::string> Nft::query(std::string_view command, bool json) {
  if (ctx_ == nullptr) return fail_msg("nftables context is closed");
  unsigned flags = api_->output_get_flags(ctx_);
  if (json) api_->output_set_flags(ctx_, flags | NFT_CTX_OUTPUT_JSON);
  auto r = exec(*api_, ctx_, command);
  api_->output_set_flags(ctx_, flags);
  return r;
}

}  // namespace podnet::nft
