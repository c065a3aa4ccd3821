#include "core/options.h"

namespace dmgn {

namespace {

struct Reader {
  const Config& c;
  const char* key;
  void operator()(std::string* v) const { *v = c.get_string(key); }
  void operator()(std::filesystem::path* v) const { *v = c.get_string(key); }
  void operator()(int64_t* v) const { *v = c.get_int(key); }
  void operator()(double* v) const { *v = c.get_float(key); }
  void operator()(bool* v) const { *v = c.get_bool(key); }
  void operator()(std::vector<std::string>* v) const { *v = c.get_strings(key); }
  void operator()(std::vector<int64_t>* v) const { *v = c.get_ints(key); }
  void operator()(std::vector<double>* v) const { *v = c.get_floats(key); }
};

}  // namespace

void read_options(const Config& table, std::initializer_list<std::pair<const char*, OptionRef>> fields) {
  for (const auto& [key, ref] : fields) std::visit(Reader{table, key}, ref);
}

}  // namespace dmgn
