#!/usr/bin/env python3
"""Checks that the documentation quotes the code the consumer tests compile.

Snippets: the [snippet NAME] ... [/snippet] regions of tests/consumers/app.cpp (cpp, cpp-port), app.c and
pkg-config/build.sh, the whole find_package/ and add_subdirectory/ CMakeLists.txt, and the first
```python block of python/README.md.

- docs/cmake-cpp-python.md must contain every snippet as a fenced code block, verbatim.
- Every cmake/c/cpp/python block of docs/cmake-cpp-python.md, and of README.md's
  "Use from CMake / C++ / Python" section (when README has one), must be one of the snippets.
Exit status 1 with a message naming the block on any mismatch.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "consumers")
CHECKED_LANGS = {"cmake", "c", "cpp", "c++", "python"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def region(path, name):
    m = re.search(r"^[^\n]*\[snippet %s\][^\n]*\n(.*?)^[^\n]*\[/snippet\]" % re.escape(name), read(path), re.S | re.M)
    if not m:
        sys.exit(f"check_snippets: no [snippet {name}] region in {path}")
    return m.group(1).strip("\n")


def blocks(text):
    """(language, content) of every fenced block."""
    return [(m.group(1).strip(), m.group(2).strip("\n")) for m in re.finditer(r"^```([^\n]*)\n(.*?)^```", text, re.S | re.M)]


def main():
    snippets = {
        "tests/consumers/app.cpp [snippet cpp]": region(os.path.join(HERE, "app.cpp"), "cpp"),
        "tests/consumers/app.cpp [snippet cpp-port]": region(os.path.join(HERE, "app.cpp"), "cpp-port"),
        "tests/consumers/app.c [snippet c]": region(os.path.join(HERE, "app.c"), "c"),
        "tests/consumers/pkg-config/build.sh [snippet pkg-config]": region(os.path.join(HERE, "pkg-config", "build.sh"), "pkg-config"),
        "tests/consumers/find_package/CMakeLists.txt": read(os.path.join(HERE, "find_package", "CMakeLists.txt")).strip("\n"),
        "tests/consumers/add_subdirectory/CMakeLists.txt": read(os.path.join(HERE, "add_subdirectory", "CMakeLists.txt")).strip("\n"),
    }
    py_readme = os.path.join(ROOT, "python", "README.md")
    if os.path.exists(py_readme):
        py = [c for lang, c in blocks(read(py_readme)) if lang == "python"]
        if py:
            snippets["python/README.md (first python block)"] = py[0]
    known = set(snippets.values())
    errors = []

    doc_path = os.path.join(ROOT, "docs", "cmake-cpp-python.md")
    doc_blocks = blocks(read(doc_path))
    doc_contents = {c for _, c in doc_blocks}
    for name, content in snippets.items():
        if content not in doc_contents:
            errors.append(f"docs/cmake-cpp-python.md does not quote {name} verbatim")

    pages = [("docs/cmake-cpp-python.md", doc_blocks)]
    readme = os.path.join(ROOT, "README.md")
    if os.path.exists(readme):
        m = re.search(r"^(#+) Use from CMake[^\n]*\n(.*?)(?=^\1 |\Z)", read(readme), re.S | re.M)
        if m:
            pages.append(("README.md (Use from CMake / C++ / Python)", blocks(m.group(2))))
    for page, page_blocks in pages:
        for lang, content in page_blocks:
            if lang.lower() in CHECKED_LANGS and content not in known:
                first = content.splitlines()[0] if content else ""
                errors.append(f"{page}: ```{lang} block starting {first!r} is not a tested snippet "
                              f"(copy it from tests/consumers/ or python/README.md)")
    for e in errors:
        print("check_snippets:", e, file=sys.stderr)
    if errors:
        return 1
    print(f"check_snippets: {len(snippets)} snippets quoted verbatim; {sum(len(b) for _, b in pages)} blocks checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
