#include "dist/world.hpp"

#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "dist/mpi_c_api.hpp"

#include "core/error.hpp"
#include "dist/messages.hpp"
#include "io/staged_directory.hpp"

namespace ptq::dist {

namespace {

int g_rank = 0, g_size = 1;
bool g_mpi = false;

// The step, also as a fixed buffer the signal handler can read without allocating.
std::mutex g_step_mutex;
std::string g_step = "start";
char g_stop_message[512] = "ptq: stopped by the MPI launcher\n";
std::atomic<size_t> g_stop_message_len{std::strlen(g_stop_message)};

std::mutex g_cleanup_mutex;
std::map<int, std::function<void()>> g_cleanups;
int g_next_cleanup = 0;
sem_t g_stop_sem;

bool launched_by_mpi() {
  if (std::getenv("PTQ_NO_MPI")) return false;  // a child process of a rank (a sweep point)
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"}) {
    if (std::getenv(v)) return true;
  }
  return false;
}

void update_stop_message() {
  const std::string m = "ptq: rank " + std::to_string(g_rank) + " stopped by the MPI launcher during step '" + g_step +
                        "' (another rank failed or the job was cancelled; the launcher names the rank)\n";
  const size_t n = std::min(m.size(), sizeof(g_stop_message) - 1);
  g_stop_message_len = 0;
  std::memcpy(g_stop_message, m.data(), n);
  g_stop_message_len = n;
}

// SIGTERM from the launcher: hand over to the stop thread (a handler may only post a semaphore).
void on_sigterm(int) { sem_post(&g_stop_sem); }

void stop_thread() {
  while (sem_wait(&g_stop_sem) != 0) {
  }
  const size_t n = g_stop_message_len;
  if (::write(2, g_stop_message, n) < 0) {
  }
  {
    std::lock_guard<std::mutex> lock(g_cleanup_mutex);
    for (auto& [id, f] : g_cleanups) {
      try {
        f();
      } catch (...) {
      }
    }
  }
  _exit(143);
}

}  // namespace

World::World(int* argc, char*** argv) {
#ifdef PTQ_HAVE_MPI
  if (!launched_by_mpi()) return;
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw Error("MPI: initialisation failed");
  }
  g_mpi = true;
  // Errors come back as return codes, which messages.cpp turns into ptq::Error naming rank and step.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  update_stop_message();
  // Results are printed once, by rank 0; the others' errors still reach stderr.
  if (g_rank > 0 && !std::freopen("/dev/null", "w", stdout)) throw Error("MPI: rank " + std::to_string(g_rank) + ": cannot silence stdout");
  if (g_size > 1) {
    sem_init(&g_stop_sem, 0, 0);
    std::thread(stop_thread).detach();
    struct sigaction sa {};
    sa.sa_handler = on_sigterm;
    sigaction(SIGTERM, &sa, nullptr);
  }
#else
  (void)argc, (void)argv;
#endif
}

World::~World() {
#ifdef PTQ_HAVE_MPI
  if (!g_mpi) return;
  if (std::getenv("PTQ_DIST_STATS")) {
    std::fprintf(stderr, "ptq: rank %d of %d: sent %lld bytes, received %lld bytes, waited %.3f s\n", g_rank, g_size,
                 static_cast<long long>(bytes_sent()), static_cast<long long>(bytes_received()), seconds_waited());
  }
  MPI_Finalize();
#endif
}

int rank() { return g_rank; }
int size() { return g_size; }
bool is_root() { return g_rank == 0; }

void set_step(const std::string& s) {
  {
    std::lock_guard<std::mutex> lock(g_step_mutex);
    g_step = s;
    update_stop_message();
  }
  if (g_size > 1 || std::getenv("PTQ_FAULT")) {
    const std::string point = "dist:rank" + std::to_string(g_rank) + ":" + s;
    if (io::fault_point((point + ":hang").c_str())) {
      for (;;) pause();  // a rank stuck without dying: the others' waits must time out
    }
    if (io::fault_point(point.c_str()) || io::fault_point((point + ":kill").c_str())) {
      fail("PTQ_FAULT", "fault injected on entering this step");
    }
  }
}

std::string step() {
  std::lock_guard<std::mutex> lock(g_step_mutex);
  return g_step;
}

std::string where() {
  if (g_size <= 1) return "";
  return "rank " + std::to_string(g_rank) + ", step '" + step() + "'";
}

std::string where_prefix() {
  const std::string w = where();
  return w.empty() ? w : w + ": ";
}

int abort_job(int code) {
#ifdef PTQ_HAVE_MPI
  if (g_mpi && g_size > 1) {
    std::cerr.flush();
    MPI_Abort(MPI_COMM_WORLD, code);
  }
#endif
  return code;
}

int on_stop(std::function<void()> cleanup) {
  std::lock_guard<std::mutex> lock(g_cleanup_mutex);
  g_cleanups[g_next_cleanup] = std::move(cleanup);
  return g_next_cleanup++;
}

void cancel_on_stop(int id) {
  std::lock_guard<std::mutex> lock(g_cleanup_mutex);
  g_cleanups.erase(id);
}

}  // namespace ptq::dist
