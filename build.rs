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

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml must parse");
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
