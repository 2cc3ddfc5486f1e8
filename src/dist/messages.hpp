// Messages between ranks: byte buffers sent point to point, so that every wait names the rank it
// waits for. Collectives are built from them in a fixed rank order (gather: the root receives rank
// 1, 2, ... in turn), which keeps reductions deterministic and a missing rank identifiable.
// Every wait polls with a timeout (PTQ_MPI_TIMEOUT seconds, default 3600: a rank may legitimately
// spend long on a large layer) and fails naming this rank, the rank waited for and the step; MPI
// errors (returned, not fatal) fail the same way. In a world of one, nothing is sent.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ptq::dist {

using Bytes = std::vector<char>;

void send(int to, const Bytes& data);
Bytes recv(int from);

// Every rank returns the root's buffer (the root sends it to each rank in turn).
Bytes broadcast(const Bytes& data, int root = 0);
// The root returns every rank's buffer, indexed by rank (received in rank order); other ranks an
// empty list.
// `timeout_seconds` > 0 replaces PTQ_MPI_TIMEOUT for this call (a sweep waits for whole runs).
std::vector<Bytes> gather(const Bytes& data, int root = 0, double timeout_seconds = 0);
// All ranks have reached this point (a gather and a broadcast of nothing).
void barrier();

// Seconds a wait may last before it fails.
double wait_timeout_seconds();
// Bytes this rank has sent and received so far (for the measurements in experiments/results).
int64_t bytes_sent();
int64_t bytes_received();
// Seconds this rank spent waiting for messages to complete (transfer time plus waiting for ranks
// still computing). With PTQ_DIST_STATS=1 every rank prints the three figures when it ends.
double seconds_waited();

}  // namespace ptq::dist
