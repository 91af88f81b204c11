#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_service::fuzzing::guest_calls(data));
