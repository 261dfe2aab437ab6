# System libraries that libinfermetrics.a needs when it is linked into a C or C++ program.
#
# Taken from what rustc prints for this crate on x86_64-unknown-linux-gnu (glibc):
#   cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs
#   note: native-static-libs: -ldl -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
# (dl: dlopen of NVML by libloading; gcc_s: unwinding; pthread/rt/util/m/c: Rust std). Order as printed.
# Re-run that command after changing dependencies and update this list; the installed CMake
# package (infermetrics::static) and pkg-config's Libs.private both come from here.
set(INFERMETRICS_STATIC_SYSTEM_LIBS dl gcc_s util rt pthread m dl c CACHE INTERNAL
    "System libraries libinfermetrics.a needs (from rustc --print native-static-libs)")
