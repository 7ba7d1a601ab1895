#![no_main]
// The sha256sum manifest parser: never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = secure_init::models::parse_manifest_text(s, std::path::Path::new("/m/manifest"));
    }
});
