//! The audit trail over the API (this service's own operations, as the plugin ones are):
//! LookupAuditEvents, a filtered page of the trail, and VerifyAuditTrail, the chain's check.
//! Both need what reading the trail needs (`cloudtrail:LookupEvents`, or the account root), and
//! are what the web console shows.

use serde::{Deserialize, Serialize};

use super::*;
use crate::audit::Verification;

/// Records scanned at most by one LookupAuditEvents call; the answer says where to go on.
const SCAN_LIMIT: u64 = 50_000;

/// LookupAuditEvents.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LookupAuditEventsRequest {
    /// Start after this sequence number; with `Latest`, ignored.
    pub starting_after: Option<u64>,
    /// Start among the last this many records of the trail instead.
    pub latest: Option<u64>,
    /// At most this many events (1–1000, default 100).
    pub limit: Option<u32>,
    /// Only events whose key ARN contains this (a key id, an ARN).
    pub key_id: Option<String>,
    /// Only events of this principal ARN.
    pub principal: Option<String>,
    /// Only events of this operation.
    pub operation: Option<String>,
    /// `Success`, `Failure` (any exception) or one exception's name.
    pub outcome: Option<String>,
    /// Only events at or after this time (seconds since the epoch).
    pub start_time: Option<u64>,
    /// Only events at or before this time.
    pub end_time: Option<u64>,
}

/// One audit record.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuditEventEntry {
    /// Its place in the trail.
    pub seq: u64,
    /// Seconds since the epoch.
    pub time: u64,
    /// The request id.
    pub request_id: String,
    /// The operation.
    pub operation: String,
    /// The caller.
    pub principal: String,
    /// The region.
    pub region: String,
    /// The front door (`api`, `cli`, `guest:…`, `kms`).
    pub source: String,
    /// The key, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_arn: Option<String>,
    /// `Success`, or the AWS exception.
    pub outcome: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// LookupAuditEvents' response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LookupAuditEventsResponse {
    /// The matching events, oldest first.
    pub events: Vec<AuditEventEntry>,
    /// Where to go on (as `StartingAfter`), when the trail goes on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_starting_after: Option<u64>,
    /// The last sequence number of the trail.
    pub last_seq: u64,
}

/// VerifyAuditTrail's response.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyAuditTrailResponse {
    /// Whether every record chains to the one before and the anchored head matches.
    pub intact: bool,
    /// Records checked (intact trail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// The first broken record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
    /// What is wrong there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// VerifyAuditTrail takes no parameters.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VerifyAuditTrailRequest {}

impl LookupAuditEventsRequest {
    fn matches(&self, event: &crate::audit::AuditEvent) -> bool {
        let outcome_ok = match self.outcome.as_deref() {
            None => true,
            Some("Failure") => event.outcome != "Success",
            Some(wanted) => event.outcome == wanted,
        };
        outcome_ok
            && self
                .key_id
                .as_deref()
                .is_none_or(|k| event.key_arn.as_deref().is_some_and(|arn| arn.contains(k)))
            && self
                .principal
                .as_deref()
                .is_none_or(|p| event.principal == p)
            && self
                .operation
                .as_deref()
                .is_none_or(|o| event.operation == o)
            && self.start_time.is_none_or(|t| event.time >= t)
            && self.end_time.is_none_or(|t| event.time <= t)
    }
}

impl Service {
    /// LookupAuditEvents: a filtered page of the audit trail.
    pub fn lookup_audit_events_page(
        &self,
        caller: &Caller,
        req: LookupAuditEventsRequest,
    ) -> KmsResult<LookupAuditEventsResponse> {
        let limit = page_limit(req.limit, 100, 1000)?;
        let last_seq = self.shared.vault.store().last_audit()?.map_or(0, |r| r.seq);
        let mut after = match req.latest {
            Some(n) => last_seq.saturating_sub(n),
            None => req.starting_after.unwrap_or(0),
        };
        let start = after;
        let mut events = Vec::new();
        while events.len() < limit && after < last_seq && after - start < SCAN_LIMIT {
            let page = self.lookup_audit_events(caller, after, 1000)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = *last;
            for (seq, event) in page {
                if events.len() < limit && req.matches(&event) {
                    events.push(AuditEventEntry {
                        seq,
                        time: event.time,
                        request_id: event.request_id,
                        operation: event.operation,
                        principal: event.principal,
                        region: event.region,
                        source: event.source,
                        key_arn: event.key_arn,
                        outcome: event.outcome,
                        error_message: event.error_message,
                    });
                } else if events.len() >= limit {
                    after = seq - 1;
                    break;
                }
            }
        }
        let scanned_to = events.last().map_or(after, |e| e.seq.max(after));
        Ok(LookupAuditEventsResponse {
            next_starting_after: (scanned_to < last_seq).then_some(scanned_to),
            events,
            last_seq,
        })
    }

    /// VerifyAuditTrail: the chain's check, for whoever may read the trail.
    pub fn verify_audit_trail(
        &self,
        caller: &Caller,
        _req: VerifyAuditTrailRequest,
    ) -> KmsResult<VerifyAuditTrailResponse> {
        // Reading one record checks the caller may read the trail (and audits a refusal).
        self.lookup_audit_events(caller, 0, 1)?;
        Ok(match self.verify_audit()? {
            Verification::Intact { records } => VerifyAuditTrailResponse {
                intact: true,
                records: Some(records),
                broken_at: None,
                reason: None,
            },
            Verification::Broken { seq, reason } => VerifyAuditTrailResponse {
                intact: false,
                records: None,
                broken_at: Some(seq),
                reason: Some(reason),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_filters_pages_and_starts_from_the_latest() {
        let service = Service::in_memory().unwrap();
        let root = Caller::account_root(service.account());
        for _ in 0..3 {
            service
                .create_key(&root, CreateKeyRequest::default())
                .unwrap();
        }
        let _ = service.describe_key(&root, KeyRequest::new("alias/missing"));
        let all = service
            .lookup_audit_events_page(&root, LookupAuditEventsRequest::default())
            .unwrap();
        assert!(all.events.len() >= 4 && all.next_starting_after.is_none());
        let failures = service
            .lookup_audit_events_page(
                &root,
                LookupAuditEventsRequest {
                    outcome: Some("Failure".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(failures.events.len(), 1);
        assert_eq!(failures.events[0].outcome, "NotFoundException");
        let page = service
            .lookup_audit_events_page(
                &root,
                LookupAuditEventsRequest {
                    operation: Some("CreateKey".into()),
                    limit: Some(2),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(page.events.len(), 2);
        let rest = service
            .lookup_audit_events_page(
                &root,
                LookupAuditEventsRequest {
                    operation: Some("CreateKey".into()),
                    starting_after: page.next_starting_after,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(rest.events.len(), 1);
        let latest = service
            .lookup_audit_events_page(
                &root,
                LookupAuditEventsRequest {
                    latest: Some(1),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(latest.events.len(), 1);
        assert_eq!(latest.events[0].seq, latest.last_seq);
        let verified = service
            .verify_audit_trail(&root, VerifyAuditTrailRequest::default())
            .unwrap();
        assert!(verified.intact);
        let alice = Caller::principal("arn:aws:iam::111122223333:user/alice").unwrap();
        assert!(matches!(
            service.verify_audit_trail(&alice, VerifyAuditTrailRequest::default()),
            Err(KmsError::AccessDenied(_))
        ));
    }
}
