//! A command's input and output: a small input read whole from a file or standard input (blobs
//! raw or in base64), and output written to standard output or to a file that is replaced
//! atomically, so a failed command never leaves half a file behind.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

/// Reads a whole (small) input: a file, or standard input.
pub(super) fn read_input(file: Option<&Path>) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::new());
    match file {
        Some(path) => {
            File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?
                .read_to_end(&mut buf)?;
        }
        None => {
            io::stdin().lock().read_to_end(&mut buf)?;
        }
    }
    Ok(buf)
}

/// A binary option as the aws CLI takes it (`--plaintext`, `--ciphertext-blob`, ...):
/// `fileb://PATH` for a file's bytes, else base64 (the aws CLI v2's default).
#[derive(Clone)]
pub(super) struct Blob(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

/// Parses a [`Blob`] option: reads the file of `fileb://PATH`, decodes anything else as base64.
pub(super) fn parse_blob(s: &str) -> Result<Blob, String> {
    if let Some(path) = s.strip_prefix("fileb://") {
        return std::fs::read(path)
            .map(|bytes| Blob(Zeroizing::new(bytes)))
            .map_err(|e| format!("cannot read {path}: {e}"));
    }
    B64.decode(s.trim())
        .map(|bytes| Blob(Zeroizing::new(bytes)))
        .map_err(|_| {
            "not base64: give the bytes in base64, or a file as fileb://PATH (as the aws CLI takes them)"
                .to_string()
        })
}

/// The bytes of a [`Blob`] option if given, else of the file, else of standard input.
pub(super) fn blob_or_input(
    blob: Option<Blob>,
    file: Option<&Path>,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    match blob {
        Some(blob) => Ok(blob.0),
        None => read_input(file),
    }
}

/// The bytes of a [`Blob`] option if given, else a blob read from the file or standard input,
/// raw or in base64.
pub(super) fn blob_or_file(blob: Option<Blob>, file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    match blob {
        Some(blob) => Ok(blob.0.to_vec()),
        None => read_blob(file),
    }
}

/// A ciphertext blob given raw or in base64 (whitespace ignored).
pub(super) fn read_blob(file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let raw = read_input(file)?;
    if let Ok(text) = std::str::from_utf8(&raw) {
        let compact: String = text.split_whitespace().collect();
        if let Ok(decoded) = B64.decode(compact.as_bytes()) {
            return Ok(decoded);
        }
    }
    Ok(raw.to_vec())
}

/// A policy document (key policy or identity policy), as text.
pub(super) fn read_policy(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// A WebAssembly component's bytes: a file, or `stock:NAME` for a stock component compiled into
/// this binary (`kms components` lists them).
pub(super) fn read_component(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(name) = path.to_str().and_then(|p| p.strip_prefix(STOCK_PREFIX)) {
        return kms_guest_components::stock(name)
            .map(|c| c.bytes.to_vec())
            .ok_or_else(|| {
                let names: Vec<&str> = kms_guest_components::STOCK.iter().map(|c| c.name).collect();
                anyhow::anyhow!(
                    "no stock component '{name}': the stock components are {}",
                    names.join(", ")
                )
            });
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// How a component argument names a stock component.
pub(super) const STOCK_PREFIX: &str = "stock:";

/// Writes `bytes` to the file `out` (atomically), or to standard output.
pub(super) fn write_bytes(out: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => atomic_write(path, |w| Ok(w.write_all(bytes)?)),
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// Writes `path` through a temporary file in the same directory, renamed into place only if
/// `fill` succeeds; on failure the temporary file is removed and `path` is untouched.
pub(super) fn atomic_write(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .context("the output path has no file name")?;
    let temp = dir.join(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file =
            File::create(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
        let mut writer = BufWriter::new(file);
        fill(&mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
