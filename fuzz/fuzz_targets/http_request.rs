#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_server::fuzzing::http_request(data));
