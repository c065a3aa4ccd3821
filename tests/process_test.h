#pragma once
// The fixture of tests that start dmgn children (proc_util.h): the registries filled, and one
// torch thread in the test process (the children take the cores).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "proc_util.h"
#include "train/builtins.h"

namespace dmgn::testing {

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dmgn::register_builtins();
    torch::set_num_threads(1);
  }
};

}  // namespace dmgn::testing
