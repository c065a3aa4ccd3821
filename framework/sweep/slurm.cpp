#include "sweep/slurm.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join (its home since fmt 11)
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "store/run_store.h"
#include "train/launch.h"

namespace dmgn::sweep {
namespace fs = std::filesystem;

namespace {

struct Captured {
  int rc = 0;
  std::string out;  // stdout and stderr together
};

// Runs argv[0] (looked up in PATH) and captures its output; rc 127 when it cannot be run.
Captured capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe(fds) != 0) throw IoError(fmt::format("cannot run {}: pipe: {}", argv[0], std::strerror(errno)));
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) throw IoError(fmt::format("cannot run {}: {}", argv[0], std::strerror(errno)));
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", argv[0].c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(fds[1]);
  Captured c;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) c.out.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  c.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return c;
}

// A word for bash: as is when it is plain, else in single quotes.
std::string sh_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+%@") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// "20261207-160727": store::now_utc() ("2026-12-07T16:07:27Z") as a file-name stamp.
std::string utc_stamp() {
  std::string out;
  for (char c : store::now_utc())
    if (c == 'T') out += '-';
    else if (std::isdigit(static_cast<unsigned char>(c))) out += c;
  return out;
}

fs::path slurm_dir(const fs::path& log_dir) { return log_dir / "slurm"; }
fs::path jobs_file(const fs::path& log_dir) { return slurm_dir(log_dir) / "jobs.tsv"; }
fs::path task_log(const fs::path& log_dir, int index) {
  return slurm_dir(log_dir) / fmt::format("run-{:03d}.log", index);
}

struct JobRecord {
  std::string job;  // the array job id
  int index = 0;
  std::string hash;
};

std::vector<JobRecord> read_jobs(const fs::path& log_dir) {
  std::vector<JobRecord> out;
  std::ifstream in(jobs_file(log_dir));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    JobRecord r;
    if (ss >> r.job >> r.index >> r.hash) out.push_back(r);
  }
  return out;
}

// The tasks of one ArrayTaskId value ("1,3-5%2": 1 3 4 5).
std::vector<std::string> task_ids(const std::string& value) {
  const std::string v = value.substr(0, value.find('%'));
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t dash = item.find('-');
    if (dash == std::string::npos) {
      out.push_back(item);
      continue;
    }
    try {
      const size_t colon = item.find(':');  // a step ("1-9:2")
      const long a = std::stol(item.substr(0, dash));
      const size_t hi_len = colon == std::string::npos ? std::string::npos : colon - dash - 1;
      const long b = std::stol(item.substr(dash + 1, hi_len));
      const long step = colon == std::string::npos ? 1 : std::max(1L, std::stol(item.substr(colon + 1)));
      for (long t = a; t <= b && out.size() < 100000; t += step) out.push_back(std::to_string(t));
    } catch (const std::exception&) {
      out.push_back(item);
    }
  }
  return out;
}

// Slurm's record of every recorded array job: "<array job>_<task>" -> task.
std::map<std::string, SlurmTask> ask_slurm(const std::vector<JobRecord>& jobs) {
  std::map<std::string, SlurmTask> out;
  std::set<std::string> asked;
  for (const auto& j : jobs) {
    if (!asked.insert(j.job).second) continue;
    Captured c;
    try {
      c = capture({"scontrol", "-o", "show", "job", j.job});
    } catch (const std::exception&) {
      continue;
    }
    if (c.rc != 0) continue;  // not known any more (MinJobAge), or no scontrol here
    for (auto& rec : parse_scontrol_jobs(c.out)) {
      SlurmTask t;
      t.job_id = rec["ArrayJobId"] + "_" + rec["ArrayTaskId"];
      t.state = rec["JobState"];
      t.reason = rec["Reason"];
      t.exit_code = rec["ExitCode"];
      try {
        t.restarts = rec.count("Restarts") ? std::stoi(rec["Restarts"]) : 0;
      } catch (const std::exception&) {
        t.restarts = 0;
      }
      out[t.job_id] = t;
    }
  }
  return out;
}

const std::set<std::string> kQueuedStates = {"PENDING",  "RUNNING",   "REQUEUED",  "REQUEUE_HOLD", "REQUEUE_FED",
                                             "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING",
                                             "STAGE_OUT"};

const std::set<std::string> kFailedStates = {"FAILED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL"};

// The training arguments of one run (after `dmgn`), its own store and folders last.
std::vector<std::string> train_args(const SweepRun& run, const fs::path& config, const SlurmOptions& o,
                                    const fs::path& root) {
  std::vector<std::string> a{"train", fs::absolute(config).lexically_normal().string(), "--resume"};
  for (const auto& s : run.sets) a.insert(a.end(), {"--set", s});
  if (o.cpus_per_task > 0) a.insert(a.end(), {"--set", fmt::format("runtime.threads={}", o.cpus_per_task)});
  a.insert(a.end(), {"--set", fmt::format("runtime.store=\"{}\"", (root / "runs.sqlite").string())});
  a.insert(a.end(), {"--set", fmt::format("runtime.out_dir=\"{}\"", (root / "runs").string())});
  return a;
}

// The config file a run's worker reads (the generated `extends` file where the sweep has layers).
fs::path worker_config(const SweepRun& run, const fs::path& log_dir) {
  if (run.layers.empty()) return run.config;
  const fs::path file = log_dir / "configs" / fmt::format("{:03d}-{}.toml", run.index, run.hash.substr(0, 12));
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  std::ofstream(file) << run.config_text();
  if (!fs::exists(file)) throw IoError(fmt::format("cannot write '{}'", file.string()));
  return file;
}

}  // namespace

std::vector<std::map<std::string, std::string>> parse_scontrol_jobs(const std::string& text) {
  std::vector<std::map<std::string, std::string>> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::map<std::string, std::string> rec;
    std::istringstream words(line);
    std::string w;
    while (words >> w) {
      const size_t eq = w.find('=');
      if (eq != std::string::npos && eq > 0) rec[w.substr(0, eq)] = w.substr(eq + 1);
    }
    if (!rec.count("JobId")) continue;
    if (!rec.count("ArrayJobId") || !rec.count("ArrayTaskId")) {  // not an array job: its own id
      rec["ArrayJobId"] = rec["JobId"];
      rec["ArrayTaskId"] = "";
      out.push_back(rec);
      continue;
    }
    for (const auto& t : task_ids(rec["ArrayTaskId"])) {
      auto one = rec;
      one["ArrayTaskId"] = t;
      out.push_back(one);
    }
  }
  return out;
}

bool SlurmRunStatus::queued() const { return slurm && kQueuedStates.count(slurm->state); }

fs::path slurm_run_root(const fs::path& log_dir, const SweepRun& run) {
  return fs::absolute(log_dir / "runs" / fmt::format("{:03d}-{}", run.index, run.hash.substr(0, 12)))
      .lexically_normal();
}

fs::path sweep_log_dir(const SweepSpec& spec, const std::vector<SweepRun>& runs, const fs::path& given) {
  if (!given.empty()) return fs::absolute(given).lexically_normal();
  fs::path dir = runs.empty() ? fs::path() : fs::path(runs.front().store).parent_path();
  if (dir.empty()) dir = ".";
  return fs::absolute(dir / "sweeps" / spec.name).lexically_normal();
}

std::vector<SlurmRunStatus> slurm_status(const std::vector<SweepRun>& runs, const fs::path& log_dir) {
  // Completed runs' own stores into their main store first (idempotent).
  std::map<std::string, std::unique_ptr<store::RunStore>> mains;
  for (const auto& run : runs) {
    const fs::path own = slurm_run_root(log_dir, run) / "runs.sqlite";
    if (!fs::exists(own)) continue;
    auto& main = mains[run.store];
    if (!main) main = std::make_unique<store::RunStore>(run.store);
    main->gather(own);
  }
  mains.clear();
  const auto in_main = sweep_status(runs);
  std::vector<SweepRun> own_runs = runs;
  for (auto& r : own_runs) r.store = (slurm_run_root(log_dir, r) / "runs.sqlite").string();
  const auto in_own = sweep_status(own_runs);
  const auto jobs = read_jobs(log_dir);
  const auto slurm = jobs.empty() ? std::map<std::string, SlurmTask>{} : ask_slurm(jobs);
  std::vector<SlurmRunStatus> out;
  for (size_t i = 0; i < runs.size(); ++i) {
    SlurmRunStatus s;
    s.status = in_main[i].state == State::done || in_own[i].state == State::not_started ? in_main[i] : in_own[i];
    s.log = task_log(log_dir, runs[i].index);
    for (auto it = jobs.rbegin(); it != jobs.rend(); ++it)
      if (it->index == runs[i].index && it->hash == runs[i].hash) {
        const auto t = slurm.find(fmt::format("{}_{}", it->job, it->index));
        if (t != slurm.end()) {
          s.slurm = t->second;
        } else {
          SlurmTask unknown;
          unknown.job_id = fmt::format("{}_{}", it->job, it->index);
          s.slurm = unknown;  // submitted; Slurm no longer (or not yet) reports it
        }
        break;
      }
    // Slurm saw it fail (not a time limit, a cancel or a preemption: those resume) where the
    // run could not record it (an error before its store row, a node lost, out of memory).
    if (s.slurm && kFailedStates.count(s.slurm->state) && s.status.state != State::done &&
        s.status.state != State::running)
      s.status.state = State::failed;
    out.push_back(std::move(s));
  }
  return out;
}

std::string format_slurm_status(const SweepSpec& spec, const std::vector<SlurmRunStatus>& status) {
  std::vector<RunStatus> plain;
  for (const auto& s : status) plain.push_back(s.status);
  size_t w = 7;
  for (const auto& s : status) w = std::max(w, s.status.run.variant.size());
  std::string out = fmt::format("sweep {} ({}): {} runs: {} (Slurm executor)\n", spec.name, spec.file.string(),
                                status.size(), count_line(plain));
  out += fmt::format("{:>4}  {:<{}}  {:>5}  {:<11}  {:>5}  {:<14}  {:<34}  {}\n", "#", "variant", w, "seed", "store",
                     "run", "slurm job", "slurm state", "test / log");
  for (const auto& s : status) {
    const auto& r = s.status;
    std::string job = "-", state = "not submitted";
    if (s.slurm) {
      job = s.slurm->job_id;
      state = s.slurm->state.empty() ? "(no longer known to Slurm)" : s.slurm->state;
      if (!s.slurm->reason.empty() && s.slurm->reason != "None") state += " (" + s.slurm->reason + ")";
      if (s.slurm->restarts > 0) state += fmt::format(" requeued x{}", s.slurm->restarts);
      if (s.slurm->state == "FAILED" || s.slurm->state == "TIMEOUT" || s.slurm->state == "OUT_OF_MEMORY" ||
          s.slurm->state == "NODE_FAIL")
        state += " exit " + s.slurm->exit_code;
    }
    std::string tail;
    if (r.state == State::done) {
      std::string m;
      for (const auto& t : r.test)
        if (t.name == "psnr") m += fmt::format("{}{} PSNR {:.2f}", m.empty() ? "" : "; ", t.dataset, t.value);
      tail = m;
    } else if (s.slurm) {
      tail = s.log.string();
    }
    out += fmt::format("{:>4}  {:<{}}  {:>5}  {:<11}  {:>5}  {:<14}  {:<34}  {}\n", r.run.index, r.run.variant, w,
                       r.run.seed, state_name(r.state), r.row ? std::to_string(r.row->id) : "-", job, state, tail);
  }
  return out;
}

std::string slurm_script(const SweepSpec& spec, const std::vector<SweepRun>& runs, const SlurmOptions& o,
                         const fs::path& log_dir, const std::string& exe) {
  const int per_node = o.gpus_per_node > 0 ? o.gpus_per_node : std::max(1, spec.nproc);
  std::vector<std::string> ids;
  for (const auto& r : runs) ids.push_back(std::to_string(r.index));
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# Generated by `dmgn sweep {} --executor slurm` at {} UTC: {} run(s) of sweep '{}', one array\n"
                   "# task per run (the task id is the run's index in the sweep). Resubmitting this file by hand\n"
                   "# reruns them: an interrupted one resumes from its latest checkpoint, a completed one trains\n"
                   "# again (`dmgn sweep FILE --executor slurm` submits only what is not completed or queued).\n",
                   spec.file.string(), utc_stamp(), runs.size(), spec.name);
  s += fmt::format("#SBATCH --job-name={}\n", sh_quote("dmgn-" + spec.name));
  s += fmt::format("#SBATCH --array={}{}\n", fmt::join(ids, ","),
                   o.max_concurrent > 0 ? fmt::format("%{}", o.max_concurrent) : "");
  s += fmt::format("#SBATCH --output={}\n", (slurm_dir(log_dir) / "run-%3a.log").string());
  s += "#SBATCH --open-mode=append\n#SBATCH --requeue\n";
  s += fmt::format("#SBATCH --nodes={}\n#SBATCH --ntasks-per-node={}\n", o.nodes, per_node);
  if (o.cpus_per_task > 0) s += fmt::format("#SBATCH --cpus-per-task={}\n", o.cpus_per_task);
  if (o.gpus_per_node > 0) s += fmt::format("#SBATCH --gres=gpu:{}\n", o.gpus_per_node);
  if (!o.partition.empty()) s += fmt::format("#SBATCH --partition={}\n", o.partition);
  if (!o.time_limit.empty()) s += fmt::format("#SBATCH --time={}\n", o.time_limit);
  s += fmt::format("#SBATCH --signal=USR1@{}\n", o.signal_before_s);
  for (const auto& a : o.sbatch_args) s += fmt::format("#SBATCH {}\n", a);
  s += "\nset -u\n";
  s += fmt::format("DMGN={}\n", sh_quote(exe));
  s += "case \"${SLURM_ARRAY_TASK_ID:-}\" in\n";
  for (const auto& r : runs) {
    std::string words;
    for (const auto& a : train_args(r, worker_config(r, log_dir), o, slurm_run_root(log_dir, r)))
      words.append(1, ' ').append(sh_quote(a));
    s += fmt::format("  {})  # {} (config {})\n    RUN=({}) ;;\n", r.index, r.label(), r.hash.substr(0, 12),
                     words.substr(1));
  }
  s += "  *) echo \"dmgn: array task '${SLURM_ARRAY_TASK_ID:-}' is not a run of this script\" >&2; exit 2 ;;\nesac\n";
  s += "echo \"dmgn: $(date -u +%FT%TZ) task ${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID} on $(hostname), "
       "restart ${SLURM_RESTART_COUNT:-0}\"\n";
  s += "# Every rank reads Slurm's variables (rank 0: the first task, on the first node).\n";
  s += "srun --kill-on-bad-exit=1 \"$DMGN\" \"${RUN[@]}\"\nrc=$?\n";
  s += fmt::format(
      "if [ \"$rc\" -eq {0} ]; then  # checkpointed on SIGUSR1 (the time limit is near, or a preemption warning)\n"
      "  if [ \"${{SLURM_RESTART_COUNT:-0}}\" -lt {1} ]; then\n"
      "    echo \"dmgn: checkpointed on SIGUSR1; requeueing (requeue $((${{SLURM_RESTART_COUNT:-0}} + 1)) of {1})\"\n"
      "    scontrol requeue \"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}\" && exit 0\n"
      "    echo \"dmgn: scontrol requeue failed; submit the sweep again to resume\" >&2\n"
      "  else\n"
      "    echo \"dmgn: checkpointed on SIGUSR1 but already requeued {1} time(s): not requeued; submit the sweep "
      "again to resume\" >&2\n"
      "  fi\n"
      "fi\n"
      "exit \"$rc\"\n",
      kExitRequeue, o.max_requeues);
  return s;
}

SlurmSubmission submit_slurm(const SweepSpec& spec, const SlurmOptions& o) {
  if (o.nodes < 1) throw ConfigError(fmt::format("--nodes must be >= 1 (got {})", o.nodes));
  if (o.nodes > 1 && o.gpus_per_node == 0 && spec.nproc <= 1)
    throw ConfigError("--nodes > 1 needs ranks on every node: give --gpus-per-node or a sweep nproc > 1");
  const auto runs = expand(spec, o.extra_sets);
  const fs::path log_dir = sweep_log_dir(spec, runs, o.log_dir);
  const auto status = slurm_status(runs, log_dir);
  SlurmSubmission sub;
  std::vector<SweepRun> to_submit;
  for (const auto& s : status) {
    if (s.status.state == State::done) {
      ++sub.done;
    } else if (s.queued()) {
      ++sub.queued;
    } else if (s.status.state == State::failed && !o.retry_failed) {
      ++sub.failed_kept;
    } else {
      to_submit.push_back(s.status.run);
      sub.indices.push_back(s.status.run.index);
    }
  }
  if (to_submit.empty()) return sub;
  std::error_code ec;
  fs::create_directories(slurm_dir(log_dir), ec);
  if (ec) throw IoError(fmt::format("cannot create '{}': {}", slurm_dir(log_dir).string(), ec.message()));
  sub.script = slurm_dir(log_dir) / fmt::format("submit-{}.sbatch", utc_stamp());
  for (int n = 2; fs::exists(sub.script); ++n)
    sub.script = slurm_dir(log_dir) / fmt::format("submit-{}-{}.sbatch", utc_stamp(), n);
  {
    std::ofstream out(sub.script);
    out << slurm_script(spec, to_submit, o, log_dir, train::self_executable());
    if (!out) throw IoError(fmt::format("cannot write '{}'", sub.script.string()));
  }
  fs::permissions(sub.script, fs::perms::owner_exec, fs::perm_options::add, ec);
  if (o.dry_run) return sub;
  const Captured c = capture({"sbatch", "--parsable", sub.script.string()});
  std::string out = c.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (c.rc != 0 || out.empty())
    throw IoError(fmt::format("sbatch {} failed (exit {}): {}", sub.script.string(), c.rc,
                              out.empty() ? "no output" : out));
  const std::string last = out.substr(out.find_last_of('\n') == std::string::npos ? 0 : out.find_last_of('\n') + 1);
  sub.job_id = last.substr(0, last.find(';'));  // "<id>[;<cluster>]"
  const bool fresh = !fs::exists(jobs_file(log_dir));
  std::ofstream rec(jobs_file(log_dir), std::ios::app);
  if (fresh) rec << "# array job id, run index (array task id), config hash: written by dmgn sweep --executor slurm\n";
  for (const auto& r : to_submit) rec << sub.job_id << '\t' << r.index << '\t' << r.hash << '\n';
  if (!rec) throw IoError(fmt::format("cannot append to '{}'", jobs_file(log_dir).string()));
  return sub;
}

}  // namespace dmgn::sweep
