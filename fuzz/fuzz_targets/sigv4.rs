#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_server::fuzzing::sigv4(data));
