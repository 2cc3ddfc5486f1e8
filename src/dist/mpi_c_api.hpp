// OpenMPI's (or MPICH's) C API, without the deprecated C++ bindings its mpi.h otherwise pulls in and
// whose symbols the MPI::MPI_C target does not link. Only under PTQ_HAVE_MPI.
#pragma once
#ifdef PTQ_HAVE_MPI
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif
