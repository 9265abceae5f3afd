#include "http/tls_context.h"

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

#include "common/tls_policy.h"

namespace podnet::http {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;

Result<std::unique_ptr<ssl::context>> server_tls_context(const ServerTls& tls) {
  try {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                     ec);
    if (auto policy = apply_tls_policy(ctx->native_handle()); !policy) return std::unexpected(policy.error());
    if (!ec) ctx->use_certificate_chain(net::buffer(tls.cert_pem), ec);
    if (ec) return fail_msg("TLS serving certificate: " + ec.message());
    ctx->use_private_key(net::buffer(tls.key_pem), ssl::context::pem, ec);
    if (ec) return fail_msg("TLS serving key: " + ec.message());
    if (tls.require_client_certificate && tls.client_ca_pem.empty()) return fail_msg("TLS: no client CA");
    if (!tls.client_ca_pem.empty()) ctx->add_certificate_authority(net::buffer(tls.client_ca_pem), ec);
    if (ec) return fail_msg("TLS client CA: " + ec.message());
    // Without fail_if_no_peer_cert anonymous clients get in; the handler decides (kube's 401).
    ctx->set_verify_mode(tls.require_client_certificate ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                                                        : ssl::verify_peer,
                         ec);
    if (ec) return fail_msg("TLS verify mode: " + ec.message());
    // Session resumption with client certificates needs a context id (OpenSSL refuses it without).
    static constexpr unsigned char kSessionContext[] = "podnet-http";
    SSL_CTX_set_session_id_context(ctx->native_handle(), kSessionContext, sizeof kSessionContext - 1);
    return ctx;
  } catch (const std::exception& e) {  // ssl::context's constructor throws when OpenSSL cannot
    return fail_msg(std::string("TLS context: ") + e.what());
  }
}

}  // namespace podnet::http
