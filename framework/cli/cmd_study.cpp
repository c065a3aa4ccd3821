// dmgn study create|serve|list|status|export, and dmgn report table4 --study NAME: a blind human
// evaluation (DMGN Table IV) served as a local web page, its votes in the store.
#include <fmt/format.h>

#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "report/format.h"
#include "report/render_table.h"
#include "report/table4.h"
#include "store/run_store.h"
#include "store/study_store.h"
#include "study/create.h"
#ifdef DMGN_WITH_STUDY_SERVER
#include "study/api.h"
#include "web/server.h"
#endif

namespace dmgn::cli {
namespace fs = std::filesystem;

namespace {

store::StudyStore open_studies(const std::string& file, bool write) {
  if (!fs::exists(file)) throw IoError(fmt::format("store {}: no such file", file));
  return store::StudyStore(file, write ? store::StudyStore::Access::read_write : store::StudyStore::Access::read_only);
}

void add_create(CLI::App* study) {
  auto* c = study->add_subcommand("create", "Draw a study's samples, render every method's outputs once, record it in the store");
  auto o = std::make_shared<study::CreateOptions>();
  auto dir = std::make_shared<std::string>();
  c->add_option("name", o->name, "Study name (letters, digits, _ - .)")->required();
  c->add_option("--methods", o->methods,
                "Methods, comma-separated, each [NAME=]SPEC: run:ID (a run's latest checkpoint), folder:PATH (another "
                "method's saved outputs, paired by file stem), input")
      ->delimiter(',')
      ->required();
  c->add_option("--dataset", o->dataset, "Dataset (default: the data source config's first data.test)");
  c->add_option("--samples", o->samples, "Samples to draw")->check(at_least(1));
  c->add_option("--seed", o->seed, "Seed of the draw");
  add_output_options(c);
  c->add_option("--dir", *dir, "Study folder (default: <store folder>/studies/NAME)");
  c->add_option("--config", o->config, "Config that opens the dataset (default: the first run method's)");
  c->add_option("--set", o->sets, "Override on --config (repeatable)");
  c->callback([o, dir] {
    o->store = store_path();
    o->dir = *dir;
    o->git_revision = git_revision();
    const auto s = study::create_study(*o);
    say(fmt::format("study '{}' (id {}): {} samples of {}, {} methods, {} images in {}", s.name, s.id, s.samples.size(),
                    s.dataset, s.methods.size(), s.images.size() + s.samples.size(), s.dir));
    for (const auto& m : s.methods)
      say(fmt::format("  {} = {}{}", m.name, m.kind,
                      m.kind == "run" ? fmt::format(" {} (step {})", m.run_id, m.step)
                                      : m.source.empty() ? "" : " " + m.source));
    say(fmt::format("serve it: dmgn study serve {} --store {}", shell_command({s.name}), shell_command({o->store.string()})));
  });
}

void add_serve(CLI::App* study) {
  auto* c = study->add_subcommand("serve", "Serve a study's voting page (Ctrl-C stops; votes are stored as they are cast)");
  struct Args {
    std::string name, host = "127.0.0.1";
    int port = 8080;
  };
  auto a = std::make_shared<Args>();
  c->add_option("name", a->name, "Study name")->required();
  add_output_options(c);
  c->add_option("--host", a->host, "Address to listen on: 127.0.0.1 (this machine only) or 0.0.0.0 (a lab network)");
  c->add_option("--port", a->port, "Port (0: any free one)")->check(CLI::Range(0, 65535));
  c->callback([a] {
#ifdef DMGN_WITH_STUDY_SERVER
    auto studies = open_studies(store_path(), true);
    study::Api api(studies, a->name);
    api.on_event = [](const std::string& line) { say(line); };
    web::Server server([&api](const web::Request& r) { return api.handle(r); });
    const int port = server.bind(a->host, a->port);
    const auto& s = api.study();
    say(fmt::format("serving study '{}' ({} samples, {} methods) on {}:{}", s.name, s.samples.size(), s.methods.size(),
                    a->host, port));
    const auto link = page_link(a->host, port, s.token);
    say("link for subjects: " + link.url);
    if (!link.hint.empty()) say(link.hint);
    say("Ctrl-C stops the server; every vote is already stored.");
    server.serve(/*handle_signals=*/true);
    say("stopped");
#else
    no_page_server();
#endif
  });
}

void add_list_status(CLI::App* study) {
  auto* l = study->add_subcommand("list", "Studies of the store: samples, methods, subjects, votes");
  add_output_options(l);
  l->callback([] {
    const auto studies = open_studies(store_path(), false);
    const auto all = studies.list();
    if (all.empty()) say(fmt::format("no studies in {}", store_path()));
    for (const auto& info : all) {
      const auto s = studies.get(info.name);
      const auto subjects = studies.subjects(s.id);
      const auto done = std::count_if(subjects.begin(), subjects.end(), [](const auto& x) { return x.finished(); });
      say(fmt::format("{}  dataset {}  {} samples  {} methods  {} subjects ({} finished)  {} votes  created {}", s.name,
                      s.dataset, s.samples.size(), s.methods.size(), subjects.size(), done, studies.votes(s.id).size(),
                      s.created_at));
    }
  });
  auto* st = study->add_subcommand("status", "One study's subjects and their progress");
  auto name = std::make_shared<std::string>();
  st->add_option("name", *name, "Study name")->required();
  add_output_options(st);
  st->callback([name] {
    const auto studies = open_studies(store_path(), false);
    const auto s = studies.get(*name);
    std::map<int64_t, int64_t> counts, changed;
    for (const auto& v : studies.votes(s.id)) ++counts[v.subject_id], changed[v.subject_id] += v.revisions;
    say(fmt::format("study '{}': dataset {}, {} samples, methods: {}", s.name, s.dataset, s.samples.size(), [&] {
      std::string m;
      for (const auto& x : s.methods) m += (m.empty() ? "" : ", ") + x.name;
      return m;
    }()));
    const auto subjects = studies.subjects(s.id);
    if (subjects.empty()) say("no subjects yet");
    for (const auto& x : subjects)
      say(fmt::format("  {:<24} {:>4} of {} voted  {:>3} changed  {}", x.name, counts[x.id], s.samples.size(), changed[x.id],
                      x.finished() ? "finished " + x.finished_at : "started " + x.started_at));
  });
}

void add_export(CLI::App* study) {
  auto* c = study->add_subcommand("export", "Every vote of a study, one row each (CSV by default), for analysis elsewhere");
  struct Args {
    std::string name, format = "csv", out;
  };
  auto a = std::make_shared<Args>();
  c->add_option("name", a->name, "Study name")->required();
  add_output_options(c);
  c->add_option("--format", a->format, "csv | markdown | latex")
      ->check(CLI::IsMember({"markdown", "md", "csv", "latex", "tex"}));
  c->add_option("--out", a->out, "Write to this file instead of stdout");
  c->callback([a] {
    const auto studies = open_studies(store_path(), false);
    const auto s = studies.get(a->name);
    std::map<int64_t, std::string> finished;
    for (const auto& x : studies.subjects(s.id)) finished[x.id] = x.finished_at;
    report::Grid g;
    g.id = "study_" + s.name;
    g.title = fmt::format("Votes of study '{}'", s.name);
    g.header = {"subject", "finished_at", "sample", "sample_id", "method", "shown_order", "cast_at", "revisions"};
    for (const auto& v : studies.votes(s.id)) {
      std::string shown;
      for (size_t pos = 0, next = 0; pos <= v.shown_order.size(); pos = next + 1) {
        next = v.shown_order.find(',', pos);
        if (next == std::string::npos) next = v.shown_order.size();
        shown += (shown.empty() ? "" : " | ") + s.methods.at(std::stoul(v.shown_order.substr(pos, next - pos))).name;
      }
      g.rows.push_back({v.subject, finished[v.subject_id], std::to_string(v.sample + 1),
                        s.samples.at(static_cast<size_t>(v.sample)).sample, s.methods.at(static_cast<size_t>(v.method)).name,
                        shown, v.cast_at, std::to_string(v.revisions)});
    }
    g.notes.push_back(fmt::format("study '{}': dataset {}, {} samples (seed {}), shown_order = the methods as shown "
                                  "left to right (A, B, ...); sample = presentation position (1-based)",
                                  s.name, s.dataset, s.samples.size(), s.seed));
    emit_report(report::render_grid(g, report::parse_format(a->format)), a->out);
  });
}

}  // namespace

void add_study(CLI::App& app) {
  auto* cmd = app.add_subcommand("study", "Blind human evaluation (Table IV): create a study, serve its voting page");
  cmd->require_subcommand(1);
  add_create(cmd);
  add_serve(cmd);
  add_list_status(cmd);
  add_export(cmd);
}

void add_study_table(CLI::App* report, const std::string& id, const std::string& help) {
  auto* c = report->add_subcommand(id, help);
  struct Args {
    std::string format = "markdown", out;
    report::Table4Options o;
    bool no_record = false;
  };
  auto a = std::make_shared<Args>();
  a->o.table = id;
  c->add_option("--study", a->o.study, "The study (dmgn study list)")->required();
  add_output_options(c);
  c->add_option("--format", a->format, "markdown | csv | latex")
      ->check(CLI::IsMember({"markdown", "md", "csv", "latex", "tex"}));
  c->add_option("--out", a->out, "Write to this file instead of stdout");
  c->add_option("--paper-dir", a->o.paper_dir, "Paper numbers folder (default: the table's system's paper/ folder)");
  c->add_flag("--include-unfinished", a->o.include_unfinished, "Also count subjects who have not finished");
  c->add_option("--resamples", a->o.resamples, "Bootstrap resamples of the subjects")
      ->check(within(0, 10000000, "every resample is drawn and kept to find the interval"));
  c->add_option("--seed", a->o.seed, "Bootstrap seed");
  c->add_flag("--no-record", a->no_record, "Do not record the report in the store");
  c->callback([a] {
    const auto studies = open_studies(store_path(), false);
    const auto t = report::build_table4(studies, a->o);
    emit_report(report::render_grid(t.grid, report::parse_format(a->format)), a->out);
    if (a->no_record) return;
    bool record = true;
    store::RunStore runs = open_report_store(store_path(), record);
    if (!record) return;
    store::ReportRecord rec;
    rec.report = a->o.table;
    rec.runs = t.runs;
    rec.provenance = t.grid.title;
    for (const auto& n : t.grid.notes) rec.provenance += "\n" + n;
    rec.git_revision = git_revision();
    const auto id = runs.log_report(rec);
    log::info(fmt::format("recorded as report {} in {} (`dmgn reports --report table4` lists it)", id, runs.path().string()));
  });
}

}  // namespace dmgn::cli
