//! What the façade counts, for `/metrics` and `/readyz` of `kms serve`: the audit trail's group
//! commit, the record cache, and the policy plugins' verdicts and runs.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::*;
use kms_core::metrics::header;

impl Service {
    /// Appends this service's metrics to `out`, in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        self.shared.audit.render_metrics(out);
        let (records, batches) = self.shared.audit.written();
        header(
            out,
            "kms_audit_records_total",
            "counter",
            "Audit records made durable.",
        );
        let _ = writeln!(out, "kms_audit_records_total {records}");
        header(
            out,
            "kms_audit_batches_total",
            "counter",
            "Durable audit batches (one sync each).",
        );
        let _ = writeln!(out, "kms_audit_batches_total {batches}");

        let cache = self.shared.vault.records().stats();
        header(
            out,
            "kms_cache_hits_total",
            "counter",
            "Record reads answered from memory.",
        );
        let _ = writeln!(out, "kms_cache_hits_total {}", cache.hits);
        header(
            out,
            "kms_cache_misses_total",
            "counter",
            "Record reads that went to the vault.",
        );
        let _ = writeln!(out, "kms_cache_misses_total {}", cache.misses);
        header(
            out,
            "kms_cache_invalidations_total",
            "counter",
            "Times the record cache was emptied (a change here or on another node).",
        );
        let _ = writeln!(out, "kms_cache_invalidations_total {}", cache.invalidations);
        header(out, "kms_cache_entries", "gauge", "Records held in memory.");
        let _ = writeln!(out, "kms_cache_entries {}", cache.entries);

        header(
            out,
            "kms_plugin_verdicts_total",
            "counter",
            "Policy plugin verdicts, by verdict (failed: a trap, a timeout, memory exhausted).",
        );
        for (i, verdict) in ["allow", "deny", "abstain", "failed"].iter().enumerate() {
            let _ = writeln!(
                out,
                "kms_plugin_verdicts_total{{verdict=\"{verdict}\"}} {}",
                self.shared.plugin_verdicts[i].load(Ordering::Relaxed)
            );
        }
        let (run, remembered) = self.policy_engine().decisions();
        header(
            out,
            "kms_plugin_instances_total",
            "counter",
            "Policy plugin decisions made by running a fresh guest instance.",
        );
        let _ = writeln!(out, "kms_plugin_instances_total {run}");
        header(
            out,
            "kms_plugin_remembered_verdicts_total",
            "counter",
            "Policy plugin decisions answered from the verdict cache.",
        );
        let _ = writeln!(out, "kms_plugin_remembered_verdicts_total {remembered}");
    }

    /// Whether this service can serve: the vault answers a read and the audit trail took its
    /// last batch. The reason when not.
    pub fn readiness(&self) -> Result<(), String> {
        kms_core::blocking::section(|| self.shared.vault.store().meta(kms_vault::META_ACCOUNT))
            .map_err(|e| format!("the vault does not answer: {e}"))?;
        if !self.shared.audit.writable() {
            return Err("the last audit batch could not be written".into());
        }
        Ok(())
    }
}
