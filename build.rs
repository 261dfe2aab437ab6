//! Generates `include/infermetrics.h` from the `src/ffi` signatures with cbindgen.
//!
//! The header is committed; the build rewrites it only when its content changes, and also
//! leaves a copy in OUT_DIR so `tests/header.rs` can check the committed file is current.
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // cbindgen parses the whole crate, so any source change may change the header
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml must parse");
    // cbindgen emits no `&str` constants, so the content-type macros are written here, from
    // `core::Format`'s constants in src/core/text.rs (their one spelling; a unit test in
    // src/ffi/metrics.rs checks the header against them)
    let text_rs = std::fs::read_to_string(crate_dir.join("src/core/text.rs"))
        .expect("src/core/text.rs must be readable");
    let mut defines = String::new();
    for (rust, c, what) in [
        (
            "PROMETHEUS_CONTENT_TYPE",
            "INFERMETRICS_CONTENT_TYPE_PROMETHEUS",
            "Prometheus text 0.0.4 (INFERMETRICS_METRIC_PROMETHEUS)",
        ),
        (
            "OPENMETRICS_CONTENT_TYPE",
            "INFERMETRICS_CONTENT_TYPE_OPENMETRICS",
            "OpenMetrics 1.0.0 text (INFERMETRICS_METRIC_OPENMETRICS)",
        ),
    ] {
        let value = str_const(&text_rs, rust).unwrap_or_else(|| {
            panic!("build.rs: no `const {rust}: &str = \"...\"` in src/core/text.rs")
        });
        defines.push_str(&format!(
            "/**\n * The Content-Type of a body in {what},\n * as INFERMETRICS_MetricsRender returns it.\n */\n#define {c} \"{value}\"\n"
        ));
    }
    config.after_includes = Some(format!(
        "{}{}",
        config.after_includes.take().unwrap_or_default(),
        defines
    ));
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => panic!("cbindgen could not generate include/infermetrics.h: {e}"),
    };
    let generated = out_dir.join("infermetrics.h");
    bindings.write_to_file(&generated);
    println!(
        "cargo:rustc-env=INFERMETRICS_GENERATED_HEADER={}",
        generated.display()
    );

    let text = std::fs::read(&generated).unwrap();
    let committed = crate_dir.join("include").join("infermetrics.h");
    if std::fs::read(&committed).ok().as_deref() != Some(&text[..]) {
        std::fs::create_dir_all(committed.parent().unwrap()).unwrap();
        std::fs::write(&committed, &text).unwrap();
    }
    // soname for the shared library, so installed copies resolve as libinfermetrics.so.1;
    // programs linked against the build tree find it through this link beside the .so
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libinfermetrics.so.1");
    if let Some(profile_dir) = out_dir.ancestors().nth(3) {
        let link = profile_dir.join("libinfermetrics.so.1");
        if std::fs::symlink_metadata(&link).is_err() {
            #[cfg(unix)]
            let _ = std::os::unix::fs::symlink("libinfermetrics.so", &link);
        }
    }
}

/// The string literal of `const NAME: &'static str = "...";` in `source` (no escapes in it).
fn str_const(source: &str, name: &str) -> Option<String> {
    let at = source.find(&format!("const {name}:"))?;
    let rest = &source[at..];
    let rest = &rest[rest.find('=')?..];
    let open = rest.find('"')?;
    let len = rest[open + 1..].find('"')?;
    let value = &rest[open + 1..open + 1 + len];
    (!value.contains('\\')).then(|| value.to_owned())
}
