#!/bin/sh
# Builds app.c with plain gcc through pkg-config (PKG_CONFIG_PATH=<prefix>/lib/pkgconfig).
# CFLAGS may add warning flags; the two gcc lines are the documented snippet.
set -eu
CFLAGS="${CFLAGS:-}"
# [snippet pkg-config]
# shared: libinfermetrics.so
gcc $CFLAGS app.c -o app $(pkg-config --cflags --libs infermetrics)
# static: libinfermetrics.a plus the system libraries the package names (Libs.private)
gcc $CFLAGS app.c -o app_static $(pkg-config --cflags infermetrics) \
    -Wl,-Bstatic -linfermetrics -Wl,-Bdynamic -Wl,--as-needed $(pkg-config --static --libs infermetrics)
# [/snippet]
