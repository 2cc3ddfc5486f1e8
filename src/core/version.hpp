// Which ptq this is, for provenance: the version from CMake's project() (PTQ_VERSION) and the
// commit the binary was built from, taken at build time (cmake/git_commit.cmake), with "-dirty"
// when the tree had uncommitted changes.
#pragma once

namespace ptq {

const char* git_commit();

}  // namespace ptq
