//! `kms components`: the stock components compiled into `kms`, listed or written out, so that
//! `kms run stock:tenant-app` and `kms attach-policy-plugin stock:abac-policy` work wherever the
//! binary is, `cargo install` included.

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use super::Output;
use super::files::STOCK_PREFIX;
use super::render::print;

#[derive(clap::Args, Debug)]
pub(super) struct ComponentsArgs {
    /// Write each stock component to DIR as NAME.wasm (created if missing) instead of listing.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,
    /// Write the kms:vault WIT package the host is built from to DIR (created if missing): what
    /// a component's wit_bindgen::generate! reads.
    #[arg(long, value_name = "DIR", conflicts_with = "write")]
    wit: Option<PathBuf>,
}

/// One stock component, as listed.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    name: String,
    world: &'static str,
    size: usize,
    digest: String,
    about: &'static str,
}

pub(super) fn components(out: Output, args: ComponentsArgs) -> anyhow::Result<()> {
    let stock = kms_guest_components::STOCK;
    if let Some(dir) = args.wit {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, text) in kms_testkit::WIT {
            let file = dir.join(name);
            std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        }
        eprintln!(
            "wrote the kms:vault WIT package ({} files) to {}",
            kms_testkit::WIT.len(),
            dir.display()
        );
        return Ok(());
    }
    if let Some(dir) = args.write {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for component in stock {
            let file = dir.join(format!("{}.wasm", component.name));
            std::fs::write(&file, component.bytes)
                .with_context(|| format!("writing {}", file.display()))?;
            eprintln!("wrote {}", file.display());
        }
        return Ok(());
    }
    let listed: Vec<Listed> = stock
        .iter()
        .map(|c| Listed {
            name: format!("{STOCK_PREFIX}{}", c.name),
            world: c.world,
            size: c.bytes.len(),
            digest: kms_service::component_digest(c.bytes),
            about: c.about,
        })
        .collect();
    match out {
        Output::Json | Output::Table | Output::Yaml => {
            print(out, &serde_json::json!({ "Components": listed }))
        }
        Output::Text => {
            for c in &listed {
                println!(
                    "{:<24} {:<28} {:>7} bytes  {}",
                    c.name, c.world, c.size, c.about
                );
            }
            Ok(())
        }
    }
}
