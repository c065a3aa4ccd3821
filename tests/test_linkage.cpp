// Which shared object the binary's std:: symbols bind to (framework/CMakeLists.txt: libstdc++
// first among the needed libraries, because the CUDA wheel's libtorch.so exports a broken copy
// of some of them).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"

namespace {

std::string object_of(const void* address) {
  Dl_info info{};
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return info.dli_fname;
}

}  // namespace

TEST(Build, StdSymbolsResolveToLibstdcxx) {
  namespace fs = std::filesystem;
  const auto remove_all = static_cast<std::uintmax_t (*)(const fs::path&)>(&fs::remove_all);
  const auto create_directories = static_cast<bool (*)(const fs::path&)>(&fs::create_directories);
  for (const void* f : {reinterpret_cast<const void*>(remove_all), reinterpret_cast<const void*>(create_directories)})
    EXPECT_NE(object_of(f).find("libstdc++"), std::string::npos) << "bound to " << object_of(f);
  // What crashed when bound to libtorch.so's copy: removing a folder with folders and files.
  const fs::path dir = dmgn::testing::scratch("linkage");
  fs::create_directories(dir / "a" / "b");
  std::ofstream(dir / "a" / "b" / "f.txt") << "x";
  std::ofstream(dir / "g.txt") << "y";
  EXPECT_EQ(fs::remove_all(dir), 5u);  // dir, a, b and two files
  EXPECT_FALSE(fs::exists(dir));
}
