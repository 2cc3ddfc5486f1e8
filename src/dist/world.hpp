// The MPI world ptq runs in. Launched by mpirun (or any launcher that sets OpenMPI's, PMIx's or
// Hydra's rank variables) ptq is one rank of N; run plainly it is a world of one and never touches
// MPI, so the same binary needs no launcher and a build without MPI behaves the same.
//
// Faults: every rank records the step it is in (set_step). A rank that fails prints its error
// naming its rank and step and ends the whole job (MPI_Abort); a rank stopped by the launcher
// because another rank died says which step it was in, runs the registered cleanups (removing its
// staging directories) and exits. Waits on other ranks time out (src/dist/messages.hpp).
#pragma once
#include <functional>
#include <string>

namespace ptq::dist {

// RAII: initialises MPI when launched by an MPI launcher, finalises it at the end.
class World {
 public:
  World(int* argc, char*** argv);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;
};

int rank();
int size();
bool is_root();  // rank 0: the rank that writes outputs and prints results (other ranks' stdout is /dev/null)

// What this rank is doing ("calibrate layer 3 stage 1"), named by every error and timeout. Also the
// test hook: PTQ_FAULT=dist:rank<R>:<step> makes rank R fail on entering that step (":kill"
// appended: die by SIGKILL, as a crashed node would; ":hang": stop answering without dying).
void set_step(const std::string& step);
std::string step();
// "rank R, step 'S'" (empty in a world of one), and as a message prefix "rank R, step 'S': ".
std::string where();
std::string where_prefix();

// Ends the whole job after this rank failed: MPI_Abort in a world of several, a plain return of
// `code` in a world of one.
int abort_job(int code);

// Work to undo if the launcher stops this rank (a staging directory to remove). The id unregisters.
int on_stop(std::function<void()> cleanup);
void cancel_on_stop(int id);

}  // namespace ptq::dist
