//! Commands over key rotation: automatic rotation and its period, rotating now, and the list of
//! completed rotations.

use super::render::print;
use super::{Invocation, KeyArg, KeyId};
use kms_service as svc;

#[derive(clap::Args, Debug)]
pub(super) struct EnableKeyRotationArgs {
    #[command(flatten)]
    key: KeyId,
    /// Days between automatic rotations (90-2560).
    #[arg(long)]
    rotation_period_in_days: Option<u32>,
}

pub(super) fn enable_key_rotation(
    kms: &Invocation,
    args: EnableKeyRotationArgs,
) -> anyhow::Result<()> {
    let req = svc::EnableKeyRotationRequest {
        key_id: args.key.get(),
        rotation_period_in_days: args.rotation_period_in_days,
    };
    Ok(kms.service.enable_key_rotation(&kms.me, req)?)
}

pub(super) fn disable_key_rotation(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::KeyRequest::new(args.key);
    Ok(kms.service.disable_key_rotation(&kms.me, req)?)
}

pub(super) fn get_key_rotation_status(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::KeyRequest::new(args.key);
    print(kms.out, &kms.service.get_key_rotation_status(&kms.me, req)?)
}

pub(super) fn rotate_key_on_demand(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::KeyRequest::new(args.key);
    print(kms.out, &kms.service.rotate_key_on_demand(&kms.me, req)?)
}

pub(super) fn list_key_rotations(kms: &Invocation, args: KeyArg) -> anyhow::Result<()> {
    let req = svc::ListForKeyRequest::new(args.key);
    print(kms.out, &kms.service.list_key_rotations(&kms.me, req)?)
}
