// The API server's names for the server transport's request and reply types (src/http/types.h),
// which nearly every file of the API server uses.
#pragma once

#include "http/types.h"

namespace podnet::apiserver {

namespace http = boost::beast::http;

using Identity = podnet::http::Identity;
using Request = podnet::http::Request;
using ChunkSink = podnet::http::ChunkSink;
using StreamBody = podnet::http::StreamBody;
using Reply = podnet::http::Reply;
using HttpHandler = podnet::http::Handler;

}  // namespace podnet::apiserver
