#pragma once
// Slurm's compressed host lists ("gpu[01-04,07],login1", as in SLURM_JOB_NODELIST and
// SLURM_STEP_NODELIST) expanded into host names, in Slurm's order. A bracket holds
// comma-separated numbers and ranges whose zero padding is kept ("[08-11]" gives 08 09 10 11);
// several brackets in one name expand as a product ("r[1-2]n[1-2]": r1n1 r1n2 r2n1 r2n2).
// Errors: ConfigError naming the list and what is wrong in it (unbalanced bracket, a range
// that runs backwards, an empty item).
#include <string>
#include <vector>

namespace dmgn {

std::vector<std::string> expand_hostlist(const std::string& list);

// The first host of the list, without expanding the rest (a list of thousands of nodes).
std::string first_host(const std::string& list);

}  // namespace dmgn
