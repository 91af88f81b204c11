//! `seal` and `open`: envelope encryption of files of any size, streamed through the service's
//! envelope format, with a progress bar for large files and the output written atomically (an
//! envelope that fails to authenticate leaves no output behind).

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use kms_service::envelope::{self as streaming, EnvelopeError};

use super::files::atomic_write;
use super::{ContextPairs, Invocation, context_of, parse_context};

/// Files larger than this get a progress bar on a terminal.
const PROGRESS_THRESHOLD: u64 = 8 << 20;

#[derive(clap::Args, Debug)]
pub(super) struct SealArgs {
    /// The symmetric key that protects the data key: key id, key ARN, alias name or alias ARN.
    key: String,
    /// The file to seal (- for standard input).
    #[arg(value_name = "INPUT")]
    source: PathBuf,
    /// Where to write the envelope (- for standard output, unless it is a terminal).
    #[arg(value_name = "OUTPUT")]
    destination: PathBuf,
    /// The encryption context: key=value[,key=value...] (the aws CLI's shorthand) or a JSON
    /// object such as '{"tenant":"acme"}'; repeatable.
    #[arg(long = "encryption-context", visible_alias = "context", value_name = "CONTEXT", value_parser = parse_context)]
    context: Vec<ContextPairs>,
    /// Plaintext bytes per authenticated chunk.
    #[arg(long, default_value_t = streaming::DEFAULT_CHUNK_SIZE)]
    chunk_size: u32,
}

pub(super) fn seal(kms: &Invocation, args: SealArgs) -> anyhow::Result<()> {
    if args.destination == Path::new("-") && io::IsTerminal::is_terminal(&io::stdout()) {
        anyhow::bail!(
            "an envelope is binary and standard output is a terminal: give an output file, or \
             redirect standard output"
        );
    }
    let context = context_of(args.context)?;
    run_envelope(
        &args.source,
        &args.destination,
        |reader, writer, progress| {
            let s = streaming::seal(
                &kms.service,
                &kms.me,
                &args.key,
                &context,
                reader,
                writer,
                args.chunk_size,
                progress,
            )?;
            Ok(format!(
                "sealed {} bytes under {} into {} bytes",
                s.plaintext_bytes, s.key_arn, s.envelope_bytes
            ))
        },
    )
}

#[derive(clap::Args, Debug)]
pub(super) struct OpenArgs {
    /// The envelope to open (- for standard input).
    #[arg(value_name = "INPUT")]
    source: PathBuf,
    /// Where to write the plaintext (- for standard output); a file appears only once all of it authenticates.
    #[arg(value_name = "OUTPUT")]
    destination: PathBuf,
    /// The encryption context the envelope was sealed with: key=value[,key=value...] or a JSON
    /// object. Required when the envelope has one; pairs it lacks are refused.
    #[arg(long = "encryption-context", visible_alias = "context", value_name = "CONTEXT", value_parser = parse_context)]
    context: Vec<ContextPairs>,
}

pub(super) fn open(kms: &Invocation, args: OpenArgs) -> anyhow::Result<()> {
    let required = Some(context_of(args.context)?);
    run_envelope(
        &args.source,
        &args.destination,
        |reader, writer, progress| {
            let s = streaming::open(
                &kms.service,
                &kms.me,
                required.as_ref(),
                reader,
                writer,
                progress,
            )?;
            Ok(format!(
                "opened {} bytes sealed under {}",
                s.plaintext_bytes, s.key_arn
            ))
        },
    )
}

/// Runs a streaming envelope operation from `source` into `destination` (a file written
/// atomically, or stdout for `-`), with a progress bar for large files; prints its summary.
fn run_envelope(
    source: &Path,
    destination: &Path,
    op: impl FnOnce(&mut dyn Read, &mut dyn Write, &mut dyn FnMut(u64)) -> Result<String, EnvelopeError>,
) -> anyhow::Result<()> {
    let bar = progress_bar(source);
    let mut reader = open_reader(source)?;
    let mut progress = |done| bar.set_position(done);
    let summary = if destination == Path::new("-") {
        let mut stdout = io::stdout().lock();
        op(&mut reader, &mut stdout, &mut progress).map_err(envelope_error)?
    } else {
        let mut summary = String::new();
        atomic_write(destination, |w| {
            summary = op(&mut reader, w, &mut progress).map_err(envelope_error)?;
            Ok(())
        })?;
        summary
    };
    bar.finish_and_clear();
    eprintln!("{summary}");
    Ok(())
}

/// A KMS error as itself (so the exit message names its AWS type), anything else as text.
fn envelope_error(e: EnvelopeError) -> anyhow::Error {
    match e {
        EnvelopeError::Kms(kms) => kms.into(),
        EnvelopeError::ContextRequired { keys } => anyhow::anyhow!(
            "the envelope was sealed with an encryption context (keys: {}): give it with \
             --encryption-context, e.g. --encryption-context {}",
            keys.join(", "),
            keys.iter()
                .map(|k| format!("{k}=..."))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => anyhow::anyhow!(other),
    }
}

fn progress_bar(input: &Path) -> indicatif::ProgressBar {
    let len = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    if input == Path::new("-") || len < PROGRESS_THRESHOLD {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::default_bar()
        .template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn open_reader(path: &Path) -> anyhow::Result<Box<dyn Read>> {
    if path == Path::new("-") {
        Ok(Box::new(io::stdin().lock()))
    } else {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
    }
}
