#include "node/http_bind.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

#include "core/error.h"

namespace banyan {

namespace {

// Debian ships cpp-httplib 0.11 as a compiled library that listens with a backlog of 5: a burst of clients opening
// connections at once (64 chats starting together) overflows the accept queue, and some network stacks answer the
// overflow with a reset. listen() on a socket that already listens only changes its backlog, so raise it after the
// bind. The kernel caps it at net.core.somaxconn.
constexpr int kListenBacklog = 1024;

int socket_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return -1;
}

bool is_listening(int fd) {
  int accepting = 0;
  socklen_t len = sizeof(accepting);
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && accepting != 0;
}

}  // namespace

int bind_http_server(httplib::Server& http, const std::string& host, int port, std::string_view what) {
  // httplib creates one socket per resolved address until one binds; remember them to find the listening one.
  auto created = std::make_shared<std::vector<int>>();
  http.set_socket_options([created](socket_t sock) {
    httplib::default_socket_options(sock);
    created->push_back(sock);
  });
  int bound = port;
  if (port == 0) {
    bound = http.bind_to_any_port(host);
    BANYAN_CHECK(bound > 0, "{}: cannot bind {}:<any port>", what, host);
  } else {
    BANYAN_CHECK(http.bind_to_port(host, port), "{}: cannot bind {}:{} (in use or not allowed?)", what, host, port);
  }
  bool raised = false;
  for (int fd : *created) {
    if (!is_listening(fd) || socket_port(fd) != bound) continue;
    BANYAN_CHECK(::listen(fd, kListenBacklog) == 0, "{}: cannot set the listen backlog of {}:{}", what, host, bound);
    raised = true;
  }
  BANYAN_CHECK(raised, "{}: bound {}:{} but found no listening socket to set its backlog", what, host, bound);
  return bound;
}

}  // namespace banyan
