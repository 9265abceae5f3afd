// A watch's StreamBody runs on a strand of the client's io_context, as it runs on a connection's
// strand in the HTTPS server; its chunks (one event line each) land in a queue that next() reads.
#include "apiserver/in_process_client.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace podnet::apiserver {
namespace json = boost::json;
namespace net = boost::asio;

namespace {

class LineQueue final : public ChunkSink {
 public:
  void write(std::string chunk) override {
    std::lock_guard lock(mu_);
    buffer_ += chunk;
    for (size_t nl; (nl = buffer_.find('\n')) != std::string::npos;) {
      if (nl > 0) lines_.push_back(buffer_.substr(0, nl));
      buffer_.erase(0, nl + 1);
    }
    cv_.notify_all();
  }
  void finish() override {
    std::lock_guard lock(mu_);
    finished_ = true;
    cv_.notify_all();
  }
  void cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  // A line, or nullopt at the end of the stream; ECANCELED after cancel().
  Result<std::optional<std::string>> pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return cancelled_ || finished_ || !lines_.empty(); });
    if (cancelled_) return fail("watch", ECANCELED);
    if (lines_.empty()) {
      if (!buffer_.empty()) return fail_msg("watch stream ended inside an event");
      return std::optional<std::string>();
    }
    std::string line = std::move(lines_.front());
    lines_.pop_front();
    return std::optional<std::string>(std::move(line));
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string buffer_;
  std::deque<std::string> lines_;
  bool finished_ = false;
  bool cancelled_ = false;
};

class InProcessWatch final : public k8s::WatchStream {
 public:
  InProcessWatch(net::io_context& io, std::shared_ptr<StreamBody> body)
      : strand_(net::make_strand(io)), body_(std::move(body)), queue_(std::make_shared<LineQueue>()) {
    net::post(strand_, [body = body_, queue = queue_, strand = strand_] { body->start(strand, queue); });
  }
  ~InProcessWatch() override {
    cancel();
    // The body's last user: stopped on its strand, then released there.
    net::post(strand_, [body = std::move(body_)] { body->stop(); });
  }

  Result<std::optional<k8s::WatchEvent>> next() override {
    PODNET_TRY(line, queue_->pop());
    if (!line) return std::optional<k8s::WatchEvent>();
    PODNET_TRY(event, k8s::parse_watch_event(*line));
    return std::optional<k8s::WatchEvent>(std::move(event));
  }
  void cancel() override {
    queue_->cancel();
    net::post(strand_, [body = body_] {
      if (body) body->stop();
    });
  }

 private:
  net::strand<net::io_context::executor_type> strand_;
  std::shared_ptr<StreamBody> body_;
  std::shared_ptr<LineQueue> queue_;
};

const char* patch_media_type(k8s::PatchType type) {
  switch (type) {
    case k8s::PatchType::kMerge:
      return "application/merge-patch+json";
    case k8s::PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case k8s::PatchType::kJson:
      break;
  }
  return "application/json-patch+json";
}

}  // namespace

InProcessClient::InProcessClient(HttpHandler& chain, Identity who, std::string user_agent)
    : chain_(chain),
      who_(std::move(who)),
      user_agent_(std::move(user_agent)),
      work_(net::make_work_guard(io_)),
      thread_([this] { io_.run(); }) {}

InProcessClient::~InProcessClient() {
  work_.reset();
  io_.stop();
  thread_.join();
}

Reply InProcessClient::roundtrip(http::verb method, const std::string& target, std::string body,
                                 std::string_view content_type) {
  Request request;
  request.msg.method(method);
  request.msg.target(target);
  request.msg.version(11);
  request.msg.set(http::field::host, "in-process");
  request.msg.set(http::field::user_agent, user_agent_);
  request.msg.set(http::field::accept, "application/json");
  if (!content_type.empty()) request.msg.set(http::field::content_type, content_type);
  request.msg.body() = std::move(body);
  request.msg.prepare_payload();
  request.identity = who_;
  return chain_.handle(request);
}

Result<json::value> InProcessClient::call(http::verb method, const std::string& target, std::string body,
                                          std::string_view content_type) {
  const std::string what = std::string(http::to_string(method)) + " " + target;
  Reply reply = roundtrip(method, target, std::move(body), content_type);
  if (reply.stream) {
    reply.stream->stop();
    return fail_msg(what + ": the server answered with a stream");
  }
  unsigned status = reply.msg.result_int();
  if (status < 200 || status > 299)
    return std::unexpected(wrap(k8s::status_error(status, reply.msg.body()), what));
  if (reply.msg.body().empty()) return json::value();
  json::error_code ec;
  json::value v = json::parse(reply.msg.body(), ec);
  if (ec) return fail_msg(what + ": bad JSON: " + ec.message());
  return v;
}

Result<json::value> InProcessClient::get(const std::string& path) {
  return call(http::verb::get, path);
}

Result<k8s::ListPage> InProcessClient::list(const std::string& path, size_t limit,
                                            const std::string& continue_token) {
  PODNET_TRY(v, get(k8s::list_target(path, limit, continue_token)));
  return k8s::parse_list_page(v, path);
}

Result<std::unique_ptr<k8s::WatchStream>> InProcessClient::watch(const std::string& path,
                                                                 const std::string& resource_version) {
  Reply reply = roundtrip(http::verb::get, k8s::watch_target(path, resource_version, kWatchTimeoutSeconds));
  unsigned status = reply.msg.result_int();
  if (status != 200 || !reply.stream) {
    if (reply.stream) reply.stream->stop();
    return std::unexpected(wrap(k8s::status_error(status, reply.msg.body()), "watch " + path));
  }
  return std::unique_ptr<k8s::WatchStream>(new InProcessWatch(io_, std::move(reply.stream)));
}

Result<json::value> InProcessClient::create(const std::string& collection, const json::value& object) {
  return call(http::verb::post, collection, json::serialize(object), "application/json");
}

Result<json::value> InProcessClient::update(const std::string& path, const json::value& object) {
  return call(http::verb::put, path, json::serialize(object), "application/json");
}

Result<json::value> InProcessClient::patch(const std::string& path, k8s::PatchType type,
                                           const json::value& patch) {
  return call(http::verb::patch, path, json::serialize(patch), patch_media_type(type));
}

Status InProcessClient::remove(const std::string& path) {
  PODNET_TRY(answer, call(http::verb::delete_, path));
  (void)answer;
  return {};
}

Status InProcessClient::remove(const std::string& path, const json::value& delete_options) {
  PODNET_TRY(answer, call(http::verb::delete_, path, json::serialize(delete_options), "application/json"));
  (void)answer;
  return {};
}

}  // namespace podnet::apiserver
