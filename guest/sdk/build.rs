//! A `no_std` component still needs `memcmp` and friends, which wasm32-wasip2 takes from
//! wasi-libc; linking it adds no import, because nothing that calls WASI is pulled in.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-lib=c");
    }
}
