// Slurm, the parts that need no cluster: host lists, a worker's environment under srun, the
// generated batch script, scontrol's records, and gathering per-run stores into one. The
// cluster itself (a real one-node Slurm started by the test) is tests/python/check_slurm.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "core/hostlist.h"
#include "store/run_store.h"
#include "sweep/slurm.h"
#include "sweep/spec.h"
#include "test_util.h"
#include "train/distributed.h"

namespace fs = std::filesystem;

namespace {

std::string slurm_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const dmgn::Error& e) {
    return e.what();
  }
  return "<no error>";
}

dmgn::train::DistEnv env_of(const std::map<std::string, std::string>& vars) {
  return dmgn::train::dist_env_from([&](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

}  // namespace

TEST(SlurmHostlist, ExpandsRangesPaddingListsAndProducts) {
  using V = std::vector<std::string>;
  EXPECT_EQ(dmgn::expand_hostlist("vm"), V{"vm"});
  EXPECT_EQ(dmgn::expand_hostlist("gpu[01-04,07]"), (V{"gpu01", "gpu02", "gpu03", "gpu04", "gpu07"}));
  EXPECT_EQ(dmgn::expand_hostlist("a[8-11],login1,b[3]"), (V{"a8", "a9", "a10", "a11", "login1", "b3"}));
  EXPECT_EQ(dmgn::expand_hostlist("n[098-101]"), (V{"n098", "n099", "n100", "n101"}));
  EXPECT_EQ(dmgn::expand_hostlist("r[1-2]n[1-2]"), (V{"r1n1", "r1n2", "r2n1", "r2n2"}));
  EXPECT_EQ(dmgn::first_host("gpu[01-04,07],cpu[1-9999999]"), "gpu01");
  EXPECT_EQ(dmgn::first_host("login1,gpu[01-04]"), "login1");
  EXPECT_NE(slurm_error([] { dmgn::expand_hostlist("gpu[01-04"); }).find("'[' without ']'"), std::string::npos);
  EXPECT_NE(slurm_error([] { dmgn::expand_hostlist("gpu[4-1]"); }).find("runs backwards"), std::string::npos);
  EXPECT_NE(slurm_error([] { dmgn::expand_hostlist("gpu[a-b]"); }).find("not a number"), std::string::npos);
  EXPECT_NE(slurm_error([] { dmgn::expand_hostlist("a,,b"); }).find("empty host"), std::string::npos);
}

TEST(SlurmEnvironment, SrunTasksAreRanksTorchrunWinsBatchStepIsOneWorker) {
  // A task of a 4-task step over two nodes: rank, local rank, rank 0's host and a port of the job.
  auto e = env_of({{"SLURM_STEP_NUM_TASKS", "4"},
                   {"SLURM_PROCID", "3"},
                   {"SLURM_LOCALID", "1"},
                   {"SLURM_NODEID", "1"},
                   {"SLURM_STEP_TASKS_PER_NODE", "2(x2)"},
                   {"SLURM_STEP_NODELIST", "gpu[07-08]"},
                   {"SLURM_JOB_ID", "123456"}});
  EXPECT_EQ(e.launcher, "slurm");
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "gpu07");
  EXPECT_EQ(e.master_port, 15000 + 123456 % 20000);
  // Uneven tasks per node, and MASTER_PORT / MASTER_ADDR given.
  e = env_of({{"SLURM_STEP_NUM_TASKS", "5"}, {"SLURM_PROCID", "4"}, {"SLURM_NODEID", "2"},
              {"SLURM_STEP_TASKS_PER_NODE", "2(x2),1"}, {"SLURM_STEP_NODELIST", "n[1-3]"},
              {"MASTER_PORT", "29999"}, {"MASTER_ADDR", "10.0.0.1"}});
  EXPECT_EQ(e.local_world_size, 1);
  EXPECT_EQ(e.master_port, 29999);
  EXPECT_EQ(e.master_addr, "10.0.0.1");
  // The batch script (no step): one worker whatever SLURM_NTASKS says.
  e = env_of({{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "0"}, {"SLURM_JOB_NODELIST", "n[1-2]"}});
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.launcher, "none");
  // torchrun's variables win over Slurm's (torchrun inside an allocation).
  e = env_of({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_PORT", "29500"}, {"SLURM_STEP_NUM_TASKS", "1"}});
  EXPECT_EQ(e.launcher, "torchrun");
  EXPECT_EQ(e.rank, 1);
  // Errors name the variable.
  EXPECT_NE(slurm_error([] { env_of({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "2"}}); })
                .find("SLURM_PROCID=2"),
            std::string::npos);
  EXPECT_NE(slurm_error([] {
              env_of({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_PROCID", "0"}, {"SLURM_STEP_NODELIST", "n1"}});
            }).find("SLURM_JOB_ID"),
            std::string::npos);
  EXPECT_NE(slurm_error([] {
              env_of({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_STEP_TASKS_PER_NODE", "2x"}, {"SLURM_JOB_ID", "1"},
                      {"SLURM_STEP_NODELIST", "n1"}});
            }).find("SLURM_STEP_TASKS_PER_NODE"),
            std::string::npos);
  EXPECT_NE(slurm_error([] {
              env_of({{"SLURM_STEP_NUM_TASKS", "2"}, {"SLURM_STEP_TASKS_PER_NODE", "2(x1)junk"},
                      {"SLURM_JOB_ID", "1"}, {"SLURM_STEP_NODELIST", "n1"}});
            }).find("SLURM_STEP_TASKS_PER_NODE"),
            std::string::npos);
}

TEST(SlurmScontrol, RecordsWithArrayRangesExpandPerTask) {
  const std::string text =
      "JobId=3 ArrayJobId=3 ArrayTaskId=3,5-6%1 ArrayTaskThrottle=1 JobName=x JobState=PENDING "
      "Reason=JobArrayTaskLimit Restarts=0 ExitCode=0:0\n"
      "JobId=4 ArrayJobId=3 ArrayTaskId=1 JobState=PENDING Reason=BeginTime Restarts=1 ExitCode=0:0\n"
      "JobId=9 JobName=plain JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0\n";
  const auto recs = dmgn::sweep::parse_scontrol_jobs(text);
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[0].at("ArrayTaskId"), "3");
  EXPECT_EQ(recs[1].at("ArrayTaskId"), "5");
  EXPECT_EQ(recs[2].at("ArrayTaskId"), "6");
  EXPECT_EQ(recs[2].at("Reason"), "JobArrayTaskLimit");
  EXPECT_EQ(recs[3].at("Restarts"), "1");
  EXPECT_EQ(recs[4].at("ArrayJobId"), "9");
  EXPECT_EQ(recs[4].at("JobState"), "FAILED");
}

TEST(SlurmScript, OneArrayTaskPerRunWithItsOwnStoreAndTheRequeueOnSignal) {
  const fs::path dir = dmgn::testing::scratch("slurm_script");
  std::string sets = "set = [\n";
  for (const auto& s : dmgn::testing::tiny_run(dir)) sets += "  '" + s + "',\n";
  sets += "]\n";
  std::ofstream(dir / "s.toml") << "[sweep]\nname = \"tiny\"\nseeds = [0, 1]\nconfig = '"
                                << (fs::path(DMGN_SOURCE_DIR) / "experiments/quickstart.toml").string() << "'\n"
                                << sets;
  const auto spec = dmgn::sweep::load_sweep(dir / "s.toml");
  const auto runs = dmgn::sweep::expand(spec);
  dmgn::sweep::SlurmOptions o;
  o.partition = "debug";
  o.time_limit = "1:00:00";
  o.nodes = 2;
  o.gpus_per_node = 4;
  o.cpus_per_task = 8;
  o.max_concurrent = 3;
  o.sbatch_args = {"--account=lab"};
  const std::string s = dmgn::sweep::slurm_script(spec, runs, o, dir / "logs", "/opt/dmgn");
  for (const char* line : {"#SBATCH --array=1,2%3\n", "#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=4\n",
                           "#SBATCH --gres=gpu:4\n", "#SBATCH --cpus-per-task=8\n", "#SBATCH --partition=debug\n",
                           "#SBATCH --time=1:00:00\n", "#SBATCH --signal=USR1@300\n", "#SBATCH --requeue\n",
                           "#SBATCH --account=lab\n", "DMGN=/opt/dmgn\n", "srun --kill-on-bad-exit=1",
                           "scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"",
                           "if [ \"$rc\" -eq 4 ]", "-lt 3 ]"})
    EXPECT_NE(s.find(line), std::string::npos) << line << "\n" << s;
  // Each run trains with its own store and folders, set after every other override (they win).
  for (const auto& r : runs) {
    const auto root = dmgn::sweep::slurm_run_root(dir / "logs", r);
    const size_t begin = s.find(std::to_string(r.index) + ")  # ");
    ASSERT_NE(begin, std::string::npos) << s;
    const std::string line = s.substr(begin, s.find(";;", begin) - begin);
    const std::string tail = "--set 'runtime.store=\"" + (root / "runs.sqlite").string() +
                             "\"' --set 'runtime.out_dir=\"" + (root / "runs").string() + "\"')";
    EXPECT_EQ(line.substr(line.rfind("--set", line.rfind("--set") - 1)), tail + " ") << line;
    EXPECT_NE(line.find("train " + r.config.string() + " --resume"), std::string::npos) << line;
  }
}

TEST(SlurmGather, CompletedRunsOnceByIdentityConflictsRefusedWithBothFiles) {
  using namespace dmgn::store;
  const fs::path dir = dmgn::testing::scratch("slurm_gather");
  const fs::path own = dir / "own" / "runs.sqlite", main = dir / "main" / "runs.sqlite";
  int64_t done = 0;
  {
    RunStore s(own);
    RunInfo info;
    info.config_hash = "abc123abc123abc1";
    info.name = "tiny";
    info.experiment = "table1";
    info.variant = "DMGN";
    info.config_text = "[model]\n";
    info.run_dir = (dir / "own" / "runs" / "00001-abc123abc123-0badf00d").string();
    info.provenance = {{"steps", "4"}};
    done = s.begin_run(info);
    s.log_metrics({{done, 2, "train", "", "loss", 0.25, ""}, {done, 4, "test", "builtin", "psnr", 21.5, "real20"},
                   {done, 4, "test", "builtin", "ssim", std::nan(""), "real20"}});
    s.add_artifact(done, "run_dir", info.run_dir);
    Evaluation e;
    e.run_id = done;
    e.step = 4;
    e.dataset = "builtin";
    e.preset = "real20";
    e.samples = 2;
    e.psnr = 21.5;
    e.origin = "train";
    s.log_evaluation(e, {{"a.png", 21.0, 0.8, 14.0, 0.7, ""}, {"b.png", 22.0, 0.9, 15.0, 0.75, ""}});
    s.finish_run(done, "completed");
    info.run_dir += "-2";
    s.begin_run(info);  // still running: stays in its own store
  }
  RunStore m(main);
  auto r = m.gather(own);
  ASSERT_EQ(r.gathered.size(), 1u);
  EXPECT_EQ(r.unfinished, 1);
  r = m.gather(own);  // again: nothing new
  EXPECT_TRUE(r.gathered.empty());
  EXPECT_EQ(r.already, 1);
  ASSERT_EQ(m.runs().size(), 1u);
  const RunStore src(own, RunStore::Access::read_only);
  const auto a = *src.run(done), b = m.runs().front();
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.provenance, b.provenance);
  const auto ma = src.metrics(a.id), mb = m.metrics(b.id);
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    EXPECT_EQ(ma[i].name, mb[i].name);
    EXPECT_TRUE(ma[i].value == mb[i].value || (std::isnan(ma[i].value) && std::isnan(mb[i].value)));
  }
  ASSERT_EQ(m.evaluations(b.id).size(), 1u);
  EXPECT_EQ(m.eval_images(m.evaluations(b.id)[0].id).size(), 2u);
  // The same identity with other content: refused, both files named.
  {
    RunStore s(own);
    s.log_metric({done, 5, "train", "", "loss", 0.125, ""});
  }
  const std::string err = slurm_error([&] { m.gather(own); });
  EXPECT_NE(err.find(main.string()), std::string::npos) << err;
  EXPECT_NE(err.find(own.string()), std::string::npos) << err;
  EXPECT_NE(err.find("other content"), std::string::npos) << err;
  EXPECT_EQ(m.runs().size(), 1u);
  EXPECT_NE(slurm_error([&] { m.gather(main); }).find("into itself"), std::string::npos);
}
