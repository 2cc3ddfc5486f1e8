#include "dist/messages.hpp"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "dist/mpi_c_api.hpp"

#include "core/error.hpp"
#include "dist/world.hpp"

namespace ptq::dist {

namespace {

int64_t g_sent = 0, g_received = 0;
double g_timeout_override = 0;  // > 0 inside a call given its own timeout
double g_waited = 0;
constexpr int kTag = 7215;
// MPI counts are ints: large buffers go in pieces of at most 1 GiB.
constexpr int64_t kPiece = int64_t(1) << 30;

// main() prefixes every error with this rank and its step.
[[noreturn]] void fail_with(const std::string& what) { fail("MPI", what); }

#ifdef PTQ_HAVE_MPI
void check(int rc, const std::string& what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail_with(what + ": MPI error: " + std::string(text, len));
}

// Polls until the request completes, sleeping between polls so a waiting rank leaves the core to
// the ranks still computing (mpirun --oversubscribe on few cores).
void wait(MPI_Request& req, int peer, const char* verb) {
  const auto t0 = std::chrono::steady_clock::now();
  const double timeout = wait_timeout_seconds();
  auto pause = std::chrono::microseconds(20);
  for (;;) {
    int done = 0;
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), std::string(verb) + " rank " + std::to_string(peer));
    if (done) {
      g_waited += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return;
    }
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (waited > timeout) {
      MPI_Cancel(&req);
      fail_with(std::string("no answer from rank ") + std::to_string(peer) + " within " + std::to_string(int(timeout)) +
                " s while trying to " + verb + " it (PTQ_MPI_TIMEOUT); it died, hangs or is far behind");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
}

void send_raw(int to, const void* p, int64_t n) {
  const char* c = static_cast<const char*>(p);
  for (int64_t off = 0; off < n || (n == 0 && off == 0); off += kPiece) {
    const int m = static_cast<int>(std::min(kPiece, n - off));
    MPI_Request req;
    check(MPI_Isend(c + off, m, MPI_BYTE, to, kTag, MPI_COMM_WORLD, &req), "send to rank " + std::to_string(to));
    wait(req, to, "send to");
    if (n == 0) break;
  }
}

void recv_raw(int from, void* p, int64_t n) {
  char* c = static_cast<char*>(p);
  for (int64_t off = 0; off < n || (n == 0 && off == 0); off += kPiece) {
    const int m = static_cast<int>(std::min(kPiece, n - off));
    MPI_Request req;
    check(MPI_Irecv(c + off, m, MPI_BYTE, from, kTag, MPI_COMM_WORLD, &req), "receive from rank " + std::to_string(from));
    wait(req, from, "receive from");
    if (n == 0) break;
  }
}
#endif

}  // namespace

double wait_timeout_seconds() {
  if (g_timeout_override > 0) return g_timeout_override;
  const char* env = std::getenv("PTQ_MPI_TIMEOUT");
  const double t = env ? std::atof(env) : 0;
  return t > 0 ? t : 3600;
}

int64_t bytes_sent() { return g_sent; }
int64_t bytes_received() { return g_received; }
double seconds_waited() { return g_waited; }

void send(int to, const Bytes& data) {
#ifdef PTQ_HAVE_MPI
  if (size() <= 1) return;
  const uint64_t n = data.size();
  send_raw(to, &n, sizeof n);
  if (n > 0) send_raw(to, data.data(), static_cast<int64_t>(n));
  g_sent += static_cast<int64_t>(n + sizeof n);
#else
  (void)to, (void)data;
#endif
}

Bytes recv(int from) {
#ifdef PTQ_HAVE_MPI
  if (size() <= 1) return {};
  uint64_t n = 0;
  recv_raw(from, &n, sizeof n);
  Bytes data(n);
  if (n > 0) recv_raw(from, data.data(), static_cast<int64_t>(n));
  g_received += static_cast<int64_t>(n + sizeof n);
  return data;
#else
  (void)from;
  return {};
#endif
}

Bytes broadcast(const Bytes& data, int root) {
  if (size() <= 1) return data;
  if (rank() != root) return recv(root);
  for (int r = 0; r < size(); ++r) {
    if (r != root) send(r, data);
  }
  return data;
}

std::vector<Bytes> gather(const Bytes& data, int root, double timeout_seconds) {
  if (size() <= 1) return {data};
  struct Override {
    double saved = g_timeout_override;
    explicit Override(double t) { if (t > 0) g_timeout_override = t; }
    ~Override() { g_timeout_override = saved; }
  } override_timeout(timeout_seconds);
  if (rank() != root) {
    send(root, data);
    return {};
  }
  std::vector<Bytes> all(size());
  all[root] = data;
  for (int r = 0; r < size(); ++r) {
    if (r != root) all[r] = recv(r);
  }
  return all;
}

void barrier() {
  gather({});
  broadcast({});
}

}  // namespace ptq::dist
