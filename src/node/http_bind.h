// Binding an httplib server to host:port (0 = any free port), shared by the node server and the router.
#pragma once
#include <string>
#include <string_view>

namespace httplib {
class Server;
}

namespace banyan {

// Returns the bound port; throws banyan::Error naming `what` (e.g. "serve", "route") and the address on failure.
int bind_http_server(httplib::Server& http, const std::string& host, int port, std::string_view what);

}  // namespace banyan
