// Minimal checking helpers shared by the C++ wrapper tests (no framework dependency).
#ifndef INFERMETRICS_TESTS_CPP_CHECK_HPP
#define INFERMETRICS_TESTS_CPP_CHECK_HPP

#include <cstdio>
#include <string>
#include <string_view>

namespace check {
inline int failures = 0;

inline void fail(const char* file, int line, const std::string& what) {
  ++failures;
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
}
inline std::string show(std::string_view s) { return "\"" + std::string(s) + "\""; }
inline std::string show(const char* s) { return show(std::string_view(s)); }
inline std::string show(const std::string& s) { return show(std::string_view(s)); }
inline std::string show(double v) { return std::to_string(v); }
inline std::string show(int v) { return std::to_string(v); }
inline std::string show(unsigned v) { return std::to_string(v); }
inline std::string show(long v) { return std::to_string(v); }
inline std::string show(unsigned long v) { return std::to_string(v); }
inline std::string show(bool v) { return v ? "true" : "false"; }

inline bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}
}  // namespace check

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) check::fail(__FILE__, __LINE__, "expected " #cond);      \
  } while (0)

#define CHECK_EQ(got, want)                                                                      \
  do {                                                                                           \
    const auto& check_got_ = (got);                                                              \
    const auto& check_want_ = (want);                                                            \
    if (!(check_got_ == check_want_))                                                            \
      check::fail(__FILE__, __LINE__,                                                            \
                  std::string(#got " == " #want ": expected ") + check::show(check_want_) +      \
                      ", got " + check::show(check_got_));                                       \
  } while (0)

#define CHECK_CONTAINS(text, needle)                                                             \
  do {                                                                                           \
    const std::string check_t_((text));                                                          \
    std::string_view check_n_ = (needle);                                                        \
    if (!check::contains(check_t_, check_n_))                                                    \
      check::fail(__FILE__, __LINE__,                                                            \
                  std::string("expected the text to contain ") + check::show(check_n_) +        \
                      "; text was:\n" + std::string(check_t_));                                  \
  } while (0)

#define CHECK_NOT_CONTAINS(text, needle)                                                         \
  do {                                                                                           \
    const std::string check_t_((text));                                                          \
    std::string_view check_n_ = (needle);                                                        \
    if (check::contains(check_t_, check_n_))                                                     \
      check::fail(__FILE__, __LINE__,                                                            \
                  std::string("expected the text NOT to contain ") + check::show(check_n_) +    \
                      "; text was:\n" + std::string(check_t_));                                  \
  } while (0)

#endif
