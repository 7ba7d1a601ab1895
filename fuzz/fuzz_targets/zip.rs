#![no_main]
// The zip reader: never a panic; every member it accepts lies inside the file.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut c = std::io::Cursor::new(data);
    if let Ok(ms) = secure_init::models::zip::members(&mut c, data.len() as u64) {
        for m in &ms {
            assert!(m.local_offset < data.len() as u64);
            let _ = secure_init::models::zip::read_member(&mut c, m, data.len() as u64, 1 << 20);
        }
    }
});
