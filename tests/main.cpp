// The test binary's main: GoogleTest, plus a crash report on stderr when a test dies of a fatal
// signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT): the faulting instruction and address, and
// a backtrace, so that a crash on a machine where no debugger is at hand (the GPU machine, CI)
// names the code it happened in. The binary is
// linked with exported symbols (tests/CMakeLists.txt) so the frames carry names; pipe the
// output through c++filt to demangle them.
#include <dlfcn.h>
#include <execinfo.h>
#include <gtest/gtest.h>
#include <ucontext.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>

namespace {

void put(const char* s) { (void)!::write(STDERR_FILENO, s, std::strlen(s)); }

void put_hex(const char* label, uintptr_t v) {
  char buf[2 + 16 + 1];
  buf[0] = '0';
  buf[1] = 'x';
  for (int i = 0; i < 16; ++i) buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
  buf[18] = '\0';
  put(label);
  put(buf);
}

// "label 0x... (library+0x..., symbol)": where an address lies. dladdr is not async-signal-safe,
// but the process is going down anyway and the answer is worth the risk.
void put_where(const char* label, uintptr_t addr) {
  put_hex(label, addr);
  Dl_info info{};
  if (addr && ::dladdr(reinterpret_cast<void*>(addr), &info) && info.dli_fname) {
    put(" (");
    put(info.dli_fname);
    put_hex("+", addr - reinterpret_cast<uintptr_t>(info.dli_fbase));
    if (info.dli_sname) {
      put(", ");
      put(info.dli_sname);
    }
    put(")");
  } else {
    put(" (in no loaded object)");
  }
  put("\n");
}

extern "C" void on_fatal_signal(int sig, siginfo_t* si, void* context) {
  // write, backtrace (first called at start-up below, so that it does not load libgcc here) and
  // backtrace_symbols_fd. The unwinder stops at a frame without unwind information (a call
  // through a bad function pointer, JIT code), so the faulting instruction, the fault address
  // and the word at the stack pointer (the return address after a bad call) come first.
  put("\n*** dmgn_tests: fatal signal: ");
  put(strsignal(sig));
  put("\n");
#if defined(__x86_64__)
  const auto* uc = static_cast<const ucontext_t*>(context);
  const auto pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const auto sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  put_where("  instruction ", pc);
  put_where("  fault address ", reinterpret_cast<uintptr_t>(si->si_addr));
  if (sp) put_where("  word at the stack pointer ", *reinterpret_cast<const uintptr_t*>(sp));
#else
  (void)si;
  (void)context;
#endif
  put("  backtrace:\n");
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

int main(int argc, char** argv) {
  void* warm[1];
  ::backtrace(warm, 1);
  // An alternate stack, so that a stack overflow is reported too.
  static char alt_stack[1 << 16];
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof(alt_stack);
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_sigaction = on_fatal_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::sigaction(sig, &sa, nullptr);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
