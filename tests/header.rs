//! The generated header as a product: committed copy current, every item documented, every
//! exported function behind the panic boundary.
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn generated() -> String {
    std::fs::read_to_string(env!("INFERMETRICS_GENERATED_HEADER"))
        .expect("build.rs wrote the header to OUT_DIR")
}

#[test]
fn committed_header_is_the_generated_one() {
    let gen = generated();
    // the working-tree copy (build.rs refreshes it) ...
    let tree = std::fs::read_to_string(root().join("include/infermetrics.h")).unwrap();
    assert_eq!(
        tree, gen,
        "include/infermetrics.h differs from what build.rs generates"
    );
    // ... and the committed one, when this is a git checkout with git installed
    match Command::new("git")
        .current_dir(root())
        .args(["show", "HEAD:include/infermetrics.h"])
        .output()
    {
        Ok(out) if out.status.success() => {
            let committed = String::from_utf8(out.stdout).unwrap();
            assert!(
                committed == gen,
                "the committed include/infermetrics.h is stale: the build regenerated it; commit include/infermetrics.h"
            );
        }
        _ => eprintln!("not a git checkout: only the working-tree header was compared"),
    }
}

#[test]
fn every_function_and_type_is_documented() {
    let h = generated();
    let lines: Vec<&str> = h.lines().collect();
    let mut functions = 0;
    for (i, l) in lines.iter().enumerate() {
        let is_fn = l.contains("INFERMETRICS_")
            && l.contains('(')
            && !l.starts_with(' ')
            && !l.starts_with('#')
            && !l.starts_with("typedef void");
        let is_type = l.starts_with("typedef struct")
            || l.starts_with("typedef void (*")
            || (l.starts_with("} INFERMETRICS_"));
        if !(is_fn || is_type) {
            continue;
        }
        if l.starts_with('}') {
            // end of an enum: its doc sits before "typedef enum {"
            let start = lines[..i]
                .iter()
                .rposition(|x| x.starts_with("typedef enum"))
                .unwrap();
            assert!(
                lines[start - 1].trim_end().ends_with("*/"),
                "undocumented enum {}",
                l
            );
            continue;
        }
        functions += is_fn as usize;
        assert!(
            lines[i - 1].trim_end().ends_with("*/"),
            "undocumented item in include/infermetrics.h: {}",
            l
        );
    }
    assert!(
        functions >= 39,
        "expected every C function, found {}",
        functions
    );
    // nothing but our own prefix may enter users' namespaces
    for l in h.lines().filter(|l| l.starts_with("#define ")) {
        let name = l.split_whitespace().nth(1).unwrap();
        assert!(
            name.starts_with("INFERMETRICS_"),
            "header defines a foreign macro: {}",
            l
        );
    }
    for l in h
        .lines()
        .filter(|l| l.starts_with("typedef struct") || (l.starts_with("} ") && !l.contains("//")))
    {
        let name = l.trim_end_matches(';').rsplit(' ').next().unwrap();
        assert!(
            name.starts_with("INFERMETRICS_"),
            "header declares a foreign name: {}",
            l
        );
    }
    for needle in ["@return", "@param", "owned by the caller"] {
        assert!(h.contains(needle));
    }
}

#[test]
fn every_export_runs_inside_the_panic_boundary() {
    let mut exports = 0;
    for entry in std::fs::read_dir(root().join("src/ffi")).unwrap() {
        let path = entry.unwrap().path();
        let src = std::fs::read_to_string(&path).unwrap();
        let parts: Vec<&str> = src.split("#[no_mangle]").collect();
        // only real attributes: the item right after must be the function
        for part in parts[1..]
            .iter()
            .filter(|p| p.trim_start().starts_with("pub "))
        {
            exports += 1;
            let name = part.split("fn ").nth(1).unwrap().split('(').next().unwrap();
            // the body is everything up to the next item; it must go through guard / guard_or,
            // or delegate to another export that does
            let body = part.split("\n}\n").next().unwrap();
            assert!(
                body.contains("guard(\"")
                    || body.contains("guard_or(")
                    || body.contains("INFERMETRICS_MetricNewWithArgs("),
                "{} in {} does not run inside the panic boundary",
                name,
                path.display()
            );
        }
    }
    let h = generated();
    let declared = h
        .lines()
        .filter(|l| {
            l.contains("INFERMETRICS_")
                && l.contains('(')
                && !l.starts_with(' ')
                && !l.starts_with('#')
                && !l.starts_with("typedef")
        })
        .count();
    assert_eq!(
        exports, declared,
        "every #[no_mangle] function must be declared in the header and vice versa"
    );
}

#[test]
fn shared_library_exports_exactly_the_header_functions() {
    let so = root().join("target/release/libinfermetrics.so");
    let so = if so.exists() {
        so
    } else {
        root().join("target/debug/libinfermetrics.so")
    };
    let Ok(out) = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
    else {
        eprintln!("nm not available: skipped");
        return;
    };
    if !out.status.success() {
        eprintln!("{} not built yet: skipped", so.display());
        return;
    }
    let syms: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.starts_with("INFERMETRICS_"))
        .map(String::from)
        .collect();
    let h = generated();
    for s in &syms {
        assert!(
            h.contains(&format!("{}(", s)),
            "{} is exported but not in the header",
            s
        );
    }
    assert!(syms.len() >= 39, "{:?}", syms);
}
