// The composition root's glue between the API server and the controllers: the controllers'
// ObjectClient over the API server's object layer (in-process, no HTTPS). Neither side includes the
// other; only this module (and cli/server.cpp, which wires it) knows both.
#pragma once

#include <memory>
#include <string>

#include "apiserver/registry/object_store.h"
#include "apiserver/registry/resources.h"
#include "controllers/object_client.h"

namespace podnet::controlplane {

// ObjectClient over the API server's object layer, for controllers in the server's process.
class StoreObjectClient final : public controllers::ObjectClient {
 public:
  StoreObjectClient(apiserver::ObjectStore& objects, apiserver::ResourceType type)
      : objects_(objects), type_(std::move(type)) {}

  const apiserver::ResourceType& type() const { return type_; }
  const std::string& resource() const override { return type_.plural; }
  controllers::ApiResult<controllers::ObjectList> list() override;
  controllers::ApiResult<std::unique_ptr<controllers::ObjectStream>> watch(int64_t from_revision) override;
  controllers::ApiResult<boost::json::value> get(const std::string& ns, const std::string& name) override;
  controllers::ApiResult<boost::json::value> create(const std::string& ns,
                                                    boost::json::value object) override;
  controllers::ApiResult<boost::json::value> update(const std::string& ns, const std::string& name,
                                                    boost::json::value object) override;
  controllers::ApiResult<boost::json::value> update_status(const std::string& ns, const std::string& name,
                                                           boost::json::value object) override;
  controllers::ApiResult<boost::json::value> patch(const std::string& ns, const std::string& name,
                                                   const boost::json::value& merge_patch) override;
  controllers::ApiResult<boost::json::value> remove(const std::string& ns, const std::string& name) override;
  controllers::ApiResult<boost::json::value> force_delete(const std::string& ns, const std::string& name,
                                                          const std::string& uid) override;
  controllers::ApiResult<boost::json::value> bind(const std::string& ns, const std::string& name,
                                                  const std::string& node,
                                                  const std::string& timestamp) override;

 private:
  apiserver::ObjectStore& objects_;
  apiserver::ResourceType type_;
};

// The factory ControllerManager::start takes: a StoreObjectClient per core/v1 or group/v1 resource
// of `registry`. Both must outlive every client it makes.
controllers::ObjectClientFactory object_clients(apiserver::ObjectStore& objects,
                                                const apiserver::ResourceRegistry& registry);

}  // namespace podnet::controlplane
