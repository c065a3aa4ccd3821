// The per-component config schema (core/schema.h): each component's keys come from its own
// fragment, a config holds only what it selects, and a new component's keys leave every existing
// config's hash unchanged.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "core/schema.h"
#include "models/model.h"
#include "test_util.h"
#include "train/builtins.h"

namespace {

namespace fs = std::filesystem;
using dmgn::Config;
using dmgn::ConfigError;
using dmgn::testing::error_of;

// Every config file under experiments/ by path, with its hash.
std::map<std::string, std::string> experiment_hashes() {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(DMGN_SOURCE_DIR) / "experiments"))
    if (e.path().extension() == ".toml") {
      try {
        out[e.path().string()] = Config::load(e.path()).hash();
      } catch (const ConfigError&) {  // a preset meant to be extended (names a dataset it does not declare)
      }
    }
  out["<defaults>"] = Config::defaults().hash();
  return out;
}

// Leaves of a fragment's table, dotted; entries of open tables (those with a "*" template in
// the catalog) other than the template are left out: the template documents their keys.
void leaves(const toml::table& t, const toml::table& known, const std::string& prefix, std::vector<std::string>& out) {
  const bool open = known.get("*") != nullptr;
  for (auto&& [k, v] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (open && k.str() != "*") continue;
    const toml::node* kn = known.get(k);
    if (v.is_table()) leaves(*v.as_table(), kn && kn->is_table() ? *kn->as_table() : toml::table{}, key, out);
    else out.push_back(key);
  }
}

// Every experiment file loads on its own, unless its opening comment says it is a mixin (a file
// meant to be listed after another in `extends`): a broken config cannot pass as a mixin.
TEST(Schema, EveryExperimentLoadsOrSaysItIsAMixin) {
  std::vector<std::string> broken;
  size_t loaded = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(DMGN_SOURCE_DIR) / "experiments")) {
    if (e.path().extension() != ".toml") continue;
    try {
      Config::load(e.path());
      ++loaded;
    } catch (const ConfigError& err) {
      std::ifstream in(e.path());
      std::string line, head;
      while (std::getline(in, line) && line.rfind("#", 0) == 0) head += line + "\n";
      if (head.find("mixin") == std::string::npos) broken.push_back(e.path().string() + ": " + err.what());
    }
  }
  EXPECT_GT(loaded, 50u);
  EXPECT_TRUE(broken.empty()) << ::testing::PrintToString(broken);
}

TEST(Schema, EveryKeyOfEveryFragmentHasItsOwnerAndTheReasonForItsDefault) {
  const auto cat = dmgn::schema::catalog();
  std::set<std::string> kinds;
  std::vector<std::string> missing;
  for (const auto& f : cat->fragments()) {
    EXPECT_FALSE(f->kind.empty()) << f->origin;
    EXPECT_FALSE(f->name.empty()) << f->origin;
    kinds.insert(f->kind);
    std::vector<std::string> keys;
    leaves(f->table, cat->all_keys(), "", keys);
    for (const auto& k : keys)
      if (!f->reasons.count(k)) missing.push_back(f->origin + ": " + k);
  }
  EXPECT_TRUE(missing.empty()) << "keys without a reason (a comment after the key): "
                               << ::testing::PrintToString(missing);
  for (const char* k : {"core", "model", "recipe", "loss", "synth", "dataset"}) EXPECT_TRUE(kinds.count(k)) << k;
  // The reasons are the comments, continuation lines included.
  const auto dmgn_model = cat->owners("model.refine.ndm.normalise");
  ASSERT_EQ(dmgn_model.size(), 1u);
  EXPECT_EQ(dmgn_model[0]->label(), "model 'dmgn'");
  EXPECT_NE(dmgn_model[0]->reasons.at("model.refine.ndm.normalise").find("(official), per \"sample\", or \"none\""),
            std::string::npos)
      << dmgn_model[0]->reasons.at("model.refine.ndm.normalise");
}

TEST(Schema, AConfigHoldsTheCoreAndTheComponentsItSelects) {
  const Config d = Config::defaults();
  EXPECT_EQ(d.components(), (std::vector<std::string>{"core 'core'", "dataset 'builtin'", "loss 'adversarial'",
                                                      "loss 'perceptual'", "model 'dmgn'", "recipe 'dmgn'"}));
  EXPECT_TRUE(d.has("model.refine.ndm.alpha"));
  EXPECT_TRUE(d.has("loss.terms.l1_r.weight"));     // the DMGN model's objective
  EXPECT_TRUE(d.has("loss.perceptual.taps"));       // selected by its terms
  EXPECT_TRUE(d.has("discriminator.ndf"));          // the dmgn recipe's critic
  EXPECT_FALSE(d.has("synth.haze"));                // the built-in data synthesise reflections
  EXPECT_EQ(d.canonical().find("[synth."), std::string::npos);
  // Selecting the haze synthesis brings its table; a config that does not, refuses its keys,
  // naming the component, its selector and the selector's value here.
  EXPECT_TRUE(Config::defaults({"data.builtin.synth=haze"}).has("synth.haze.beta"));
  const std::string msg = error_of<ConfigError>([] { Config::defaults({"synth.haze.beta=[1.0, 2.0]"}); });
  EXPECT_NE(msg.find("config key 'synth.haze.beta' (set at --set synth.haze.beta=[1.0, 2.0]) belongs to synth 'haze'"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("data.builtin.synth = \"reflection_zhang2018\""), std::string::npos) << msg;
  // Without a perceptual term the perceptual loss's table goes too (a fixed point of selections).
  const Config no_p = Config::defaults({"loss.terms.p_r.loss=l1", "loss.terms.p_c.loss=l1", "loss.terms.p_n.loss=l1"});
  EXPECT_FALSE(no_p.has("loss.perceptual"));
  // set() resolves again: the new value may select other components.
  Config c = Config::defaults();
  c.set("data.builtin.synth=rain");
  EXPECT_TRUE(c.has("synth.rain.layers"));
  c.set("synth.rain.layers=[1, 2]");
  EXPECT_EQ(c.get_ints("synth.rain.layers"), (std::vector<int64_t>{1, 2}));
  EXPECT_THROW(c.set("data.builtin.synth=haze"), ConfigError);  // synth.rain.layers was set by hand
  EXPECT_EQ(c.get_string("data.builtin.synth"), "rain");         // unchanged after the refusal
}

TEST(Schema, AddingAModelsKeysLeavesEveryExistingConfigHashUnchanged) {
  dmgn::register_builtins();
  const auto before = experiment_hashes();
  ASSERT_GT(before.size(), 20u);
  // A new model: its own fragment with keys in [model], its own table and its own loss terms.
  dmgn::schema::add(R"(
[schema]
kind = "model"
name = "toy_schema_test"
selected_by = ["model.name"]
[schema.rules]
"model.toy.width" = ">= 1"

[model]
iterations = 3        # steps of the toy's recurrence
[model.toy]
width = 16            # channels of the toy
[loss.terms.toy_l1]
loss = "l1"
output = "background"
target = "background"
weight = 1.0
)",
                    "test/toy.schema.toml");
  dmgn::models::models().add("toy_schema_test", "a model that exists for the schema test",
                             [](const Config&) -> dmgn::models::ModelPtr { throw ConfigError("not built here"); });
  EXPECT_EQ(experiment_hashes(), before);

  // A config selecting it holds its keys and not DMGN's.
  const Config toy = Config::defaults({"model.name=toy_schema_test", "model.toy.width=8"});
  EXPECT_EQ(toy.get_int("model.toy.width"), 8);
  EXPECT_EQ(toy.get_int("model.iterations"), 3);
  EXPECT_FALSE(toy.has("model.widths"));
  EXPECT_FALSE(toy.has("loss.terms.l1_r"));
  EXPECT_TRUE(toy.has("loss.terms.toy_l1.weight"));
  EXPECT_FALSE(toy.has("loss.perceptual"));  // no term of the toy names it
  EXPECT_NE(toy.hash(), Config::defaults().hash());
  // Its rules apply; its keys are refused under DMGN, DMGN's under it.
  EXPECT_NE(error_of<ConfigError>([] { Config::defaults({"model.name=toy_schema_test", "model.toy.width=0"}); })
                .find("must be >= 1"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] { Config::defaults({"model.toy.width=8"}); })
                .find("belongs to model 'toy_schema_test'"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] { Config::defaults({"model.name=toy_schema_test", "model.cell=plain"}); })
                .find("belongs to model 'dmgn'"),
            std::string::npos);
}

TEST(Schema, StoredTextsOfOlderSchemasLoadWithoutTheKeysTheyNoLongerSelect) {
  // Canonical texts written before per-component schemas hold every table; older ones keys
  // since renamed. Reports and --resume read them: such keys are dropped, the rest kept.
  const Config now = Config::defaults({"optim.lr=0.0005"});
  const std::string old_text = now.canonical() +
                               "\n[synth.haze]\nbeta = [0.6, 1.8]\n"
                               "\n[loss.refine]\nl1 = 1.0\n";
  const Config back = Config::from_canonical(old_text);
  EXPECT_EQ(back.hash(), now.hash());
  EXPECT_FALSE(back.has("synth.haze"));
  EXPECT_DOUBLE_EQ(back.get_float("optim.lr"), 0.0005);
  // A file is strict about both.
  EXPECT_THROW(Config::from_string("[loss.refine]\nl1 = 1.0\n"), ConfigError);
  EXPECT_THROW(Config::from_string("[synth.haze]\ntint = 0.1\n"), ConfigError);
}

TEST(Schema, MalformedFragmentsAreRefusedNamingTheirFile) {
  EXPECT_NE(error_of<ConfigError>([] { dmgn::schema::add("[model]\nx = 1\n", "bad/no_meta.schema.toml"); })
                .find("bad/no_meta.schema.toml: no [schema] table"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] {
              dmgn::schema::add("[schema]\nkind = \"model\"\nname = \"x\"\n", "bad/no_selector.schema.toml");
            }).find("selected_by names no key"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] {
              dmgn::schema::add("[schema]\nkind = \"model\"\nname = \"typed\"\nselected_by = [\"model.name\"]\n"
                                "[model]\nwidths = \"wide\"\n",
                                "bad/type.schema.toml");
            }).find("key 'model.widths' has another type"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([] {
              dmgn::schema::add("[schema]\nkind = \"model\"\nname = \"ruled\"\nselected_by = [\"model.name\"]\n"
                                "[schema.rules]\n\"model.q\" = \"about 3\"\n[model]\nq = 3\n",
                                "bad/rule.schema.toml");
            }).find("bad/rule.schema.toml"),
            std::string::npos);
  // Two selected fragments giving one key different defaults: refused when a config selects both.
  dmgn::schema::add("[schema]\nkind = \"extra\"\nname = \"tag_a\"\nselected_by = [\"run.tags\"]\n"
                    "[extra_test]\nv = 1  # a\n",
                    "test/a.schema.toml");
  dmgn::schema::add("[schema]\nkind = \"extra\"\nname = \"tag_b\"\nselected_by = [\"run.tags\"]\n"
                    "[extra_test]\nv = 2  # b\n",
                    "test/b.schema.toml");
  EXPECT_EQ(Config::defaults({"run.tags=[\"tag_a\"]"}).get_int("extra_test.v"), 1);
  EXPECT_EQ(Config::defaults({"run.tags=[\"tag_b\"]"}).get_int("extra_test.v"), 2);
  EXPECT_NE(error_of<ConfigError>([] { Config::defaults({"run.tags=[\"tag_a\", \"tag_b\"]"}); })
                .find("key 'extra_test.v' has a default in"),
            std::string::npos);
}

TEST(Schema, CommentReasonsFollowTablesKeysAndAlignedContinuations) {
  const auto r = dmgn::schema::comment_reasons(
      "[a]   # table a\n"
      "x = 1          # first line\n"
      "               # second line\n"
      "# a section comment, not a continuation\n"
      "y = \"#not a comment\"  # why y\n"
      "[b.\"*\"]\n"
      "z = [1, 2]     # why z\n");
  EXPECT_EQ(r.at("a"), "table a");
  EXPECT_EQ(r.at("a.x"), "first line second line");
  EXPECT_EQ(r.at("a.y"), "why y");
  EXPECT_EQ(r.at("b.*.z"), "why z");
}

}  // namespace
