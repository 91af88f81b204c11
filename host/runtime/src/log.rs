//! `kms:vault/log`: a guest's diagnostic lines, tagged by the host with the instance's principal
//! and component digest (a guest cannot pass for another), cleaned of control characters, cut to
//! length and rate-limited, then handed to the embedder's [`GuestLog`]. Not the audit trail.

use std::sync::{Arc, Mutex};

use crate::bindings::log;
use crate::ctx::{HostLimits, KmsCtxView};
use kms_service::{CallSource, Caller};

/// How severe a guest's log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Tracing.
    Trace,
    /// Debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Recovered problems.
    Warn,
    /// Failures.
    Error,
}

/// One diagnostic line from a guest, tagged by the host (a guest cannot pass for another).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestLogLine {
    /// Severity.
    pub level: LogLevel,
    /// The instance's principal.
    pub principal: String,
    /// SHA-256 of the component, hex.
    pub component_digest: String,
    /// The message, control characters removed and length capped.
    pub message: String,
}

/// Where guests' diagnostic lines go. Not the audit trail.
pub trait GuestLog: Send + Sync {
    /// Takes one line.
    fn log(&self, line: GuestLogLine);
}

/// Writes guests' lines to standard error.
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrLog;

impl GuestLog for StderrLog {
    fn log(&self, line: GuestLogLine) {
        let digest = line.component_digest.get(..12).unwrap_or("");
        eprintln!(
            "[guest {:?} {} {digest}] {}",
            line.level, line.principal, line.message
        );
    }
}

/// Keeps guests' lines in memory (tests, embedders that forward them elsewhere).
#[derive(Debug, Default)]
pub struct MemoryLog(Mutex<Vec<GuestLogLine>>);

impl MemoryLog {
    /// The lines so far.
    pub fn lines(&self) -> Vec<GuestLogLine> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl GuestLog for MemoryLog {
    fn log(&self, line: GuestLogLine) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}

/// A guest's diagnostic log: tags, cleans, caps and counts its lines.
pub(crate) struct Diagnostics {
    log: Arc<dyn GuestLog>,
    lines: u32,
    dropped: u64,
}

impl Diagnostics {
    pub(crate) fn new(log: Arc<dyn GuestLog>) -> Self {
        Diagnostics {
            log,
            lines: 0,
            dropped: 0,
        }
    }

    pub(crate) fn write(
        &mut self,
        limits: &HostLimits,
        caller: &Caller,
        level: log::Level,
        message: &str,
    ) {
        if self.lines >= limits.max_log_lines {
            self.dropped += 1;
            return;
        }
        self.lines += 1;
        let mut clean: String = message.chars().filter(|c| !hides_or_reorders(*c)).collect();
        if clean.len() > limits.max_log_line_bytes {
            let mut cut = limits.max_log_line_bytes;
            while !clean.is_char_boundary(cut) {
                cut -= 1;
            }
            clean.truncate(cut);
            clean.push('…');
        }
        let component_digest = match &caller.source {
            CallSource::Guest { component_digest } => component_digest.clone(),
            _ => String::new(),
        };
        self.log.log(GuestLogLine {
            level: match level {
                log::Level::Trace => LogLevel::Trace,
                log::Level::Debug => LogLevel::Debug,
                log::Level::Info => LogLevel::Info,
                log::Level::Warn => LogLevel::Warn,
                log::Level::Error => LogLevel::Error,
            },
            principal: caller.principal.clone(),
            component_digest,
            message: clean,
        });
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl log::Host for KmsCtxView<'_> {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let ctx = &mut *self.ctx;
        ctx.diagnostics
            .write(&ctx.limits, &ctx.caller, level, &message);
        Ok(())
    }
}

/// Characters a guest could use to make its line read differently from what it is: control
/// characters, bidirectional overrides and isolates (which reorder what follows, "Trojan
/// Source"), zero-width and invisible formatting characters, and the byte-order mark.
fn hides_or_reorders(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width space, joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{061C}'               // Arabic letter mark
            | '\u{00AD}'               // soft hyphen
            | '\u{FEFF}'               // byte-order mark, zero-width no-break space
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_overrides_and_invisible_characters_are_removed() {
        let sink = Arc::new(MemoryLog::default());
        let mut diagnostics = Diagnostics::new(sink.clone());
        let sneaky = "ok\u{202E}txt.exe\u{200B}\u{2066}x\u{2069}\u{FEFF}é日本";
        diagnostics.write(&HostLimits::default(), &caller(), log::Level::Info, sneaky);
        assert_eq!(sink.lines()[0].message, "oktxt.exexé日本");
    }

    fn caller() -> Caller {
        Caller::account_root("111122223333").via(CallSource::Guest {
            component_digest: "ab".repeat(32),
        })
    }

    #[test]
    fn log_lines_are_tagged_cleaned_capped_and_rate_limited() {
        let sink = Arc::new(MemoryLog::default());
        let mut diagnostics = Diagnostics::new(sink.clone());
        let limits = HostLimits {
            max_log_lines: 3,
            max_log_line_bytes: 8,
            ..HostLimits::default()
        };
        diagnostics.write(
            &limits,
            &caller(),
            log::Level::Warn,
            "forged\n[guest Info other]\x1b[2J",
        );
        diagnostics.write(&limits, &caller(), log::Level::Info, "ééééé");
        diagnostics.write(&limits, &caller(), log::Level::Info, "short");
        for _ in 0..5 {
            diagnostics.write(&limits, &caller(), log::Level::Error, "flood");
        }
        let lines = sink.lines();
        assert_eq!(lines.len(), 3);
        assert_eq!(diagnostics.dropped(), 5);
        assert_eq!(lines[0].message, "forged[g…");
        assert_eq!(lines[0].level, LogLevel::Warn);
        assert_eq!(lines[0].component_digest, "ab".repeat(32));
        assert_eq!(lines[0].principal, "arn:aws:iam::111122223333:root");
        // Cut at a character boundary, never inside one.
        assert_eq!(lines[1].message, "éééé…");
        assert_eq!(lines[2].message, "short");
    }
}
