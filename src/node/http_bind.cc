#include "node/http_bind.h"

#include <httplib.h>

#include "core/error.h"

namespace banyan {

int bind_http_server(httplib::Server& http, const std::string& host, int port, std::string_view what) {
  if (port == 0) {
    const int bound = http.bind_to_any_port(host);
    BANYAN_CHECK(bound > 0, "{}: cannot bind {}:<any port>", what, host);
    return bound;
  }
  BANYAN_CHECK(http.bind_to_port(host, port), "{}: cannot bind {}:{} (in use or not allowed?)", what, host, port);
  return port;
}

}  // namespace banyan
