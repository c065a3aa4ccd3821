#pragma once
// Config: TOML with `extends = [...]` (deep merge, later wins), `--set key.path=value`
// overrides, type checks against the schema (one fragment per component, core/schema.h),
// and unknown keys rejected with the key, the file and the nearest known key. A config holds
// the core tables plus those of the components its values select (model.name, train.recipe,
// the losses its terms name, ...); a key of a component it does not select is refused.
// Open tables: a schema table with a "*" entry (e.g. [datasets."*"]) accepts any further key
// whose value is a table; it is validated against the "*" template and its missing keys are
// filled from it. The template itself does not appear in the resolved config.
// The resolved config serialises canonically; its hash (without [runtime]) is the run's
// identity. Values are checked against the fragments' rules (ranges, allowed strings,
// registered names: core/config_rules.h) whenever a config is resolved or overridden.
#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmgn {

class Config {
 public:
  // Loads FILE (resolving extends relative to each file), merges it over the schema
  // defaults, applies overrides ("a.b.c=value", value parsed as TOML, bare words as
  // strings) and validates. Throws ConfigError naming file:line:col / key.
  static Config load(const std::filesystem::path& file,
                     const std::vector<std::string>& overrides = {});
  // Same, from text; `origin` names it in errors; extends resolve relative to `base_dir`.
  static Config from_string(std::string_view toml_text, std::string_view origin = "<string>",
                            const std::vector<std::string>& overrides = {},
                            const std::filesystem::path& base_dir = {});
  // Datasets files (docs/datasets.md): [datasets.<name>] tables declared once for every command,
  // later files winning. They lie under a config file and its overrides (which win), under
  // defaults() and from_string() overrides alike, and over the stored text of from_canonical (a
  // checkpoint's or run's config: the files say where the data is now). Process-wide; main sets
  // them from the per-user file, DMGN_DATASETS and --datasets.
  static void set_dataset_files(std::vector<std::filesystem::path> files);
  static const std::vector<std::filesystem::path>& dataset_files();
  // The schema defaults alone (plus overrides).
  static Config defaults(const std::vector<std::string>& overrides = {});
  // Re-parses a canonical text written by canonical() (e.g. from a checkpoint or the store).
  static Config from_canonical(std::string_view text);

  // Typed access by dotted key. Integers are accepted where floats are expected.
  bool has(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  std::vector<int64_t> get_ints(std::string_view key) const;
  std::vector<double> get_floats(std::string_view key) const;
  std::vector<std::string> get_strings(std::string_view key) const;

  // Programmatic override with the same checks as --set (used by sweeps and tests).
  void set(const std::string& assignment);
  // Overrides that select other components (`dmgn train --dataset`: data.train naming another
  // dataset): as set(), but the keys of components they no longer select (data.builtin.* of a
  // config written for the built-in data) are dropped instead of refused. Returns those keys.
  std::vector<std::string> reselect(const std::vector<std::string>& assignments);
  // The keys of FILE (and what it extends) over this config, with the same checks as a file
  // (e.g. `dmgn eval --config mine.toml` declaring [datasets.mine] over a checkpoint's config).
  void overlay(const std::filesystem::path& file);

  // A view of a sub-table: `cfg.sub("model.refine").get_float("ndm.alpha")`.
  Config sub(std::string_view prefix) const;
  const std::string& prefix() const { return prefix_; }

  // Canonical serialisation: sorted keys, fixed number formatting.
  std::string canonical() const;
  // Hex SHA-256 of the schema version and canonical() without the [runtime] table and, of
  // [datasets], only the entries named by data.train / data.val / data.test, without their
  // root / train_root. Keys of components the config does not select are not in it.
  std::string hash() const;
  // Short form used in run folder names.
  std::string short_hash() const { return hash().substr(0, 12); }
  // Where a key's value came from ("file:line:col", "--set", or "defaults").
  std::string source_of(std::string_view key) const;
  // The file this config was loaded from (empty for strings / defaults).
  const std::string& origin() const { return state_->origin; }

  const toml::table& root() const { return state_->root; }
  // The schema fragments this config selects, e.g. {"core 'core'", "model 'dmgn'", ...}.
  const std::vector<std::string>& components() const { return state_->components; }

 private:
  struct State {
    toml::table root;                            // resolved: defaults + files + overrides
    toml::table user;                            // files + overrides alone (re-resolved on set)
    std::map<std::string, std::string> sources;  // full key -> origin
    std::string origin;
    std::vector<std::string> components;         // selected schema fragments
    bool lenient = false;  // keys of unselected components dropped (stored canonical texts)
  };
  Config() = default;
  static Config resolve(toml::table user, std::map<std::string, std::string> sources,
                        const std::vector<std::string>& overrides, std::string origin,
                        bool lenient = false);
  // Defaults of the selected fragments + state_->user into state_->root, rules checked.
  void build_root();
  // Validates `user` against the schema, merges it over this config, fills templates and
  // checks the selected fragments' rules (this config is unchanged when that fails). With
  // `drop_unselected`, keys of components no longer selected are dropped, not refused.
  void merge_layer(toml::table user, std::map<std::string, std::string> sources, bool drop_unselected = false);
  std::string full_key(std::string_view key) const;
  const toml::node& node_at(std::string_view key) const;
  std::shared_ptr<State> state_;
  std::string prefix_;
};

// Edit distance, used for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b);
// The entry of `known` nearest to `name` by edit distance (the first of equally near ones); ""
// when `known` is empty: unknown config keys, names a config gives as values (a loss term's
// output or target), unknown commands.
std::string nearest_name(std::string_view name, const std::vector<std::string>& known);

// Hex SHA-256 digest.
std::string sha256_hex(std::string_view data);

}  // namespace dmgn
