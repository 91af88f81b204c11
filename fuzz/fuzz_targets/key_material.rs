#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_crypto::fuzzing::key_material(data));
