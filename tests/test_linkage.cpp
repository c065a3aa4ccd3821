// Which shared object the binary's std:: symbols bind to (framework/CMakeLists.txt: libstdc++
// first among the needed libraries, because the CUDA wheel's libtorch.so exports a broken copy
// of some of them).
#include <gtest/gtest.h>
#include <link.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

// The shared objects of the process in the dynamic linker's global search order (the binary,
// then its needed libraries breadth first), as dl_iterate_phdr reports them.
std::vector<std::string> search_order() {
  std::vector<std::string> names;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        static_cast<std::vector<std::string>*>(data)->push_back(info->dlpi_name ? info->dlpi_name : "");
        return 0;
      },
      &names);
  return names;
}

size_t first_with(const std::vector<std::string>& names, const std::string& part) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i].find(part) != std::string::npos) return i;
  return names.size();
}

}  // namespace

TEST(Build, StdSymbolsResolveToLibstdcxx) {
  namespace fs = std::filesystem;
  // A symbol binds to the first object in the search order that defines it, so libstdc++ must
  // come before any of LibTorch's libraries. The order is checked rather than the address of
  // std::filesystem::remove_all: in a non-PIE binary that address is the binary's own PLT stub.
  const auto names = search_order();
  const size_t stdcxx = first_with(names, "libstdc++"), torch = first_with(names, "libtorch");
  std::string order;
  for (const auto& n : names) order += "\n  " + (n.empty() ? std::string("(the binary)") : n);
  ASSERT_LT(stdcxx, names.size()) << "libstdc++ is not loaded?" << order;
  ASSERT_LT(torch, names.size()) << "no libtorch* loaded?" << order;
  EXPECT_LT(stdcxx, torch) << "libstdc++ is searched after LibTorch:" << order;
  // What crashed when bound to libtorch.so's copy: removing a folder with folders and files.
  const fs::path dir = dmgn::testing::scratch("linkage");
  fs::create_directories(dir / "a" / "b");
  std::ofstream(dir / "a" / "b" / "f.txt") << "x";
  std::ofstream(dir / "g.txt") << "y";
  EXPECT_EQ(fs::remove_all(dir), 5u);  // dir, a, b and two files
  EXPECT_FALSE(fs::exists(dir));
}
