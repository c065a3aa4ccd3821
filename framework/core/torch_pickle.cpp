// Reader for files written by Python's torch.save (zip format): the archive's data.pkl is a
// pickle (protocol 2, sometimes 4) whose tensors are persistent references to storages
// stored as records "data/<key>". LibTorch's own unpickler turns collections.OrderedDict
// into None (state dicts are OrderedDicts), so this is a small dedicated unpickler for the
// objects torch.save writes for state dicts and dicts of tensors.
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>

#include <cstring>
#include <memory>
#include <variant>

#include "core/compat.h"
#include "core/error.h"
#include "core/zip_crc.h"

namespace dmgn::compat {
namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Global {
  std::string module, name;
  std::string full() const { return module + "." + name; }
};
struct Storage {
  torch::ScalarType dtype;
  std::string key;
  int64_t numel;
};
struct Mark {};
struct Tuple {
  std::vector<ValuePtr> items;
};
struct List {
  std::vector<ValuePtr> items;
};
struct Dict {
  std::vector<std::pair<ValuePtr, ValuePtr>> items;
};

struct Value {
  std::variant<std::monostate, bool, int64_t, double, std::string, Tuple, List, Dict, Global,
               Storage, torch::Tensor, Mark>
      v;
};

ValuePtr make(auto x) {
  auto p = std::make_shared<Value>();
  p->v = std::move(x);
  return p;
}

torch::ScalarType storage_dtype(const std::string& name, const std::string& file) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"FloatStorage", torch::kFloat32}, {"DoubleStorage", torch::kFloat64},
      {"HalfStorage", torch::kFloat16},  {"BFloat16Storage", torch::kBFloat16},
      {"LongStorage", torch::kInt64},    {"IntStorage", torch::kInt32},
      {"ShortStorage", torch::kInt16},   {"CharStorage", torch::kInt8},
      {"ByteStorage", torch::kUInt8},    {"BoolStorage", torch::kBool}};
  auto it = types.find(name);
  if (it == types.end())
    throw DataError(fmt::format("'{}': unsupported storage type torch.{}", file, name));
  return it->second;
}

class Unpickler {
 public:
  Unpickler(const char* data, size_t size, caffe2::serialize::PyTorchStreamReader& zip,
            std::string file)
      : p_(data), end_(data + size), zip_(zip), file_(std::move(file)) {}

  ValuePtr run() {
    while (true) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;           // PROTO
        case 0x95: take(8); break;          // FRAME
        case '.': return pop();             // STOP
        case '(': push(make(Mark{})); break;
        case '}': push(make(Dict{})); break;
        case ']': push(make(List{})); break;
        case ')': push(make(Tuple{})); break;
        case 'N': push(make(std::monostate{})); break;
        case 0x88: push(make(true)); break;
        case 0x89: push(make(false)); break;
        case 'K': push(make(static_cast<int64_t>(byte()))); break;
        case 'M': push(make(static_cast<int64_t>(uint_le(2)))); break;
        case 'J': push(make(static_cast<int64_t>(static_cast<int32_t>(uint_le(4))))); break;
        case 0x8a: push(make(long1())); break;
        case 'G': push(make(binfloat())); break;
        case 'X': push(make(str(uint_le(4)))); break;
        case 0x8c: push(make(str(byte()))); break;  // SHORT_BINUNICODE
        case 'T': push(make(str(uint_le(4)))); break;
        case 'U': push(make(str(byte()))); break;
        case 'B': push(make(str(uint_le(4)))); break;
        case 'C': push(make(str(byte()))); break;
        case 'q': memo(byte()); break;
        case 'r': memo(uint_le(4)); break;
        case 0x94: memo(memo_.size()); break;  // MEMOIZE
        case 'h': push(get(byte())); break;
        case 'j': push(get(uint_le(4))); break;
        case 'c': {
          std::string module = line(), name = line();
          push(make(Global{module, name}));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop(), module = pop();
          push(make(Global{as_str(module), as_str(name)}));
          break;
        }
        case 't': push(make(Tuple{pop_to_mark()})); break;
        case 0x85: push(make(Tuple{pop_n(1)})); break;
        case 0x86: push(make(Tuple{pop_n(2)})); break;
        case 0x87: push(make(Tuple{pop_n(3)})); break;
        case 'a': {
          auto v = pop();
          list_of(top()).items.push_back(v);
          break;
        }
        case 'e': {
          auto items = pop_to_mark();
          auto& l = list_of(top()).items;
          l.insert(l.end(), items.begin(), items.end());
          break;
        }
        case 's': {
          auto v = pop(), k = pop();
          dict_of(top()).items.emplace_back(k, v);
          break;
        }
        case 'u': {
          auto items = pop_to_mark();
          auto& d = dict_of(top()).items;
          for (size_t i = 0; i + 1 < items.size(); i += 2) d.emplace_back(items[i], items[i + 1]);
          break;
        }
        case 'R': {
          auto args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 'b': pop(); break;  // BUILD: object state (e.g. state-dict _metadata) is ignored
        case 'Q': push(persistent(pop())); break;
        default:
          throw DataError(fmt::format("'{}': unsupported pickle opcode 0x{:02x}", file_, op));
      }
    }
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    throw DataError(fmt::format("'{}': malformed torch.save pickle ({})", file_, what));
  }
  uint8_t byte() {
    if (p_ >= end_) bad("truncated");
    return static_cast<uint8_t>(*p_++);
  }
  const char* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) bad("truncated");
    const char* s = p_;
    p_ += n;
    return s;
  }
  uint64_t uint_le(int n) {
    const char* s = take(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[i]);
    return v;
  }
  int64_t long1() {
    const int n = byte();
    if (n == 0) return 0;
    if (n > 8) bad("integer too large");
    const char* s = take(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[i]);
    if (n < 8 && (static_cast<uint8_t>(s[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);
    return static_cast<int64_t>(v);
  }
  double binfloat() {
    const char* s = take(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(s[i]);  // big endian
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  std::string str(uint64_t n) { return std::string(take(n), n); }
  std::string line() {
    std::string s;
    for (char c; (c = static_cast<char>(byte())) != '\n';) s.push_back(c);
    return s;
  }
  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  ValuePtr pop() {
    if (stack_.empty()) bad("stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.empty()) bad("stack underflow");
    return stack_.back();
  }
  std::vector<ValuePtr> pop_n(size_t n) {
    if (stack_.size() < n) bad("stack underflow");
    std::vector<ValuePtr> out(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
    return out;
  }
  std::vector<ValuePtr> pop_to_mark() {
    size_t i = stack_.size();
    while (i > 0 && !std::holds_alternative<Mark>(stack_[i - 1]->v)) --i;
    if (i == 0) bad("missing MARK");
    std::vector<ValuePtr> out(stack_.begin() + static_cast<std::ptrdiff_t>(i), stack_.end());
    stack_.resize(i - 1);
    return out;
  }
  void memo(uint64_t idx) {
    if (memo_.size() <= idx) memo_.resize(idx + 1);
    memo_[idx] = top();
  }
  ValuePtr get(uint64_t idx) {
    if (idx >= memo_.size() || !memo_[idx]) bad("bad memo reference");
    return memo_[idx];
  }
  const std::string& as_str(const ValuePtr& v) {
    if (auto* s = std::get_if<std::string>(&v->v)) return *s;
    bad("expected a string");
  }
  int64_t as_int(const ValuePtr& v) {
    if (auto* i = std::get_if<int64_t>(&v->v)) return *i;
    bad("expected an integer");
  }
  List& list_of(ValuePtr& v) {
    if (auto* l = std::get_if<List>(&v->v)) return *l;
    bad("APPEND on a non-list");
  }
  Dict& dict_of(ValuePtr& v) {
    if (auto* d = std::get_if<Dict>(&v->v)) return *d;
    bad("SETITEM on a non-dict");
  }
  const std::vector<ValuePtr>& tuple_items(const ValuePtr& v) {
    if (auto* t = std::get_if<Tuple>(&v->v)) return t->items;
    bad("expected a tuple");
  }
  std::vector<int64_t> int_list(const ValuePtr& v) {
    std::vector<int64_t> out;
    for (const auto& e : tuple_items(v)) out.push_back(as_int(e));
    return out;
  }

  ValuePtr persistent(const ValuePtr& pid) {
    const auto& t = tuple_items(pid);
    if (t.size() < 5 || as_str(t[0]) != "storage") bad("unexpected persistent id");
    const auto* g = std::get_if<Global>(&t[1]->v);
    if (!g) bad("storage type is not a global");
    return make(Storage{storage_dtype(g->name, file_), as_str(t[2]), as_int(t[4])});
  }

  torch::Tensor load_storage(const Storage& s) {
    auto it = storages_.find(s.key);
    if (it != storages_.end()) return it->second;
    const std::string record = "data/" + s.key;
    if (!zip_.hasRecord(record)) bad("missing record " + record);
    auto [ptr, size] = zip_.getRecord(record);
    const auto elem = c10::elementSize(s.dtype);
    if (size < static_cast<size_t>(s.numel) * elem) bad("short storage " + record);
    auto t = torch::empty({s.numel}, torch::TensorOptions().dtype(s.dtype));
    std::memcpy(t.data_ptr(), ptr.get(), static_cast<size_t>(s.numel) * elem);
    storages_[s.key] = t;
    return t;
  }

  ValuePtr reduce(const ValuePtr& fn, const ValuePtr& args) {
    const auto* g = std::get_if<Global>(&fn->v);
    if (!g) bad("REDUCE on a non-global");
    const std::string name = g->full();
    if (name == "collections.OrderedDict") return make(Dict{});
    const auto& a = tuple_items(args);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4) bad("short _rebuild_tensor arguments");
      const auto* st = std::get_if<Storage>(&a[0]->v);
      if (!st) bad("tensor without storage");
      torch::Tensor flat = load_storage(*st);
      auto t = flat.as_strided(int_list(a[2]), int_list(a[3]), as_int(a[1]));
      return make(t.clone());
    }
    if (name == "torch.jit._pickle.restore_type_tag") {  // LibTorch's pickle_save: typed containers
      if (a.empty()) bad("short restore_type_tag arguments");
      return a[0];
    }
    if (name == "torch._utils._rebuild_parameter") {
      if (a.empty()) bad("short _rebuild_parameter arguments");
      return a[0];
    }
    throw DataError(fmt::format("'{}': unsupported object {} in torch.save file", file_, name));
  }

  const char* p_;
  const char* end_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::string file_;
  std::vector<ValuePtr> stack_, memo_;
  std::map<std::string, torch::Tensor> storages_;
};

void flatten(const ValuePtr& v, const std::string& prefix, const std::string& file,
             std::map<std::string, torch::Tensor>& out) {
  if (auto* t = std::get_if<torch::Tensor>(&v->v)) {
    out[prefix] = *t;
  } else if (auto* d = std::get_if<Dict>(&v->v)) {
    for (const auto& [k, val] : d->items) {
      std::string key;
      if (auto* s = std::get_if<std::string>(&k->v)) key = *s;
      else if (auto* i = std::get_if<int64_t>(&k->v)) key = std::to_string(*i);
      else throw DataError(fmt::format("'{}': dictionary key is not a string", file));
      flatten(val, prefix.empty() ? key : prefix + "." + key, file, out);
    }
  } else if (auto* l = std::get_if<List>(&v->v)) {
    for (size_t i = 0; i < l->items.size(); ++i)
      flatten(l->items[i], prefix.empty() ? std::to_string(i) : prefix + "." + std::to_string(i),
              file, out);
  }
  // Scalars, strings and None are metadata: ignored.
}

}  // namespace

std::map<std::string, torch::Tensor> load_state_dict(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) throw IoError(fmt::format("'{}' does not exist", file.string()));
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file.string());
  } catch (const std::exception&) {
    throw DataError(fmt::format("'{}' is not a torch.save zip archive (save it with torch.save in "
                                "PyTorch >= 1.6 without _use_new_zipfile_serialization=False)",
                                file.string()));
  }
  if (const auto bad = zip_crc_mismatches(file); !bad.empty())
    throw DataError(fmt::format("'{}' is corrupted: {} record(s) fail their CRC-32 check (first: '{}'); download or "
                                "export it again",
                                file.string(), bad.size(), bad.front()));
  if (!zip->hasRecord("data.pkl"))
    throw DataError(fmt::format("'{}' has no data.pkl record", file.string()));
  auto [ptr, size] = zip->getRecord("data.pkl");
  Unpickler unpickler(static_cast<const char*>(ptr.get()), size, *zip, file.string());
  std::map<std::string, torch::Tensor> out;
  flatten(unpickler.run(), "", file.string(), out);
  if (out.empty()) throw DataError(fmt::format("'{}' holds no tensors", file.string()));
  return out;
}

}  // namespace dmgn::compat
