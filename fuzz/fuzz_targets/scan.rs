#![no_main]
// The whole model scan of one file, named and found in a directory (sniffed): never a
// panic; a file it calls clean imports only allowed globals.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    thread_local! {
        static DIR: std::path::PathBuf = {
            let d = std::env::temp_dir().join(format!("secure-init-fuzz-scan-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            d
        };
    }
    DIR.with(|d| {
        let f = d.join("m.pt");
        std::fs::write(&f, data).unwrap();
        for sniffed in [false, true] {
            let t = secure_init::models::Target {
                path: f.clone(),
                sniffed,
            };
            let r = secure_init::models::scan_target(&t, &[]);
            if r.clean && r.skipped.is_none() {
                assert!(r.offending.is_empty());
            }
        }
    });
});
