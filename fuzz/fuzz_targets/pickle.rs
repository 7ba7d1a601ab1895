#![no_main]
// The pickle reader: never a panic, whatever the bytes; a partial scan agrees with a full one.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let full = secure_init::models::pickle::scan(data);
    let (partial, err) = secure_init::models::pickle::scan_partial(data);
    match full {
        Ok(f) => {
            assert!(err.is_none());
            assert_eq!(f.globals, partial.globals);
            assert!(f.len <= data.len());
        }
        Err(_) => assert!(err.is_some()),
    }
});
