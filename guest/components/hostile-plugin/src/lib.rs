//! A policy plugin that misbehaves on request, for the tests: its `mode` setting picks
//! `allow`, `deny`, `abstain`, `trap`, `loop` (never returns) or `grow` (allocates without bound).
#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use bindings::exports::kms::vault::policy::{Decision, Guest, Request};
use bindings::kms::vault::config;

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "kms:vault/policy-plugin",
        with: {
            "kms:vault/types@0.2.0": kms_guest::types,
            "kms:vault/log@0.2.0": kms_guest::log,
        },
    });
}

struct HostilePlugin;

impl Guest for HostilePlugin {
    fn evaluate(request: Request) -> Decision {
        match config::get("mode").as_deref() {
            Some("allow") => Decision::Allow,
            Some("deny") => Decision::Deny(String::from("the hostile plugin denies everything")),
            Some("trap") => core::arch::wasm32::unreachable(),
            Some("loop") => {
                let mut n = request.time;
                loop {
                    n = core::hint::black_box(n.wrapping_mul(31).wrapping_add(7));
                }
            }
            Some("grow") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(core::hint::black_box(alloc::vec![7u8; 1 << 20]));
                }
            }
            _ => Decision::Abstain,
        }
    }
}

bindings::export!(HostilePlugin with_types_in bindings);
