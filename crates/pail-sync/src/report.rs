//! A sync's result as data: what `pail sync` prints (for people and as `--json`) and its exit
//! code, whether the sync ran in this process or in a running daemon that was asked for it
//! (the control socket carries this type).

use pail_core::plan::Action;
use serde::{Deserialize, Serialize};

use crate::engine::{SyncResult, Totals};
use crate::error::SyncError;

/// How a sync of one pair ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    InSync,
    DryRun,
    SafetyStop,
    Errors,
    /// The sync could not start or stopped early (no bucket, no index…).
    Failed,
}

/// One path that failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailedPath {
    /// `None`: the whole sync failed.
    pub path: Option<String>,
    pub message: String,
    #[serde(default)]
    pub transient: bool,
}

/// One planned action of a dry run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedAction {
    pub action: String,
    pub path: String,
    pub detail: String,
}

/// The result of a sync of one pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncReport {
    pub result: Verdict,
    pub totals: Option<Totals>,
    /// Why a safety stop held the sync back (also for a dry run that would stop).
    pub stop: Option<String>,
    pub errors: Vec<FailedPath>,
    /// A dry run's plan.
    pub plan: Option<Vec<PlannedAction>>,
}

impl SyncReport {
    pub fn new(result: &Result<SyncResult, SyncError>) -> SyncReport {
        let mut r = SyncReport {
            result: Verdict::Failed,
            totals: None,
            stop: None,
            errors: Vec::new(),
            plan: None,
        };
        match result {
            Ok(SyncResult::Converged(t)) => {
                r.result = Verdict::InSync;
                r.totals = Some(t.clone());
            }
            Ok(SyncResult::DryRun(actions, stop)) => {
                r.result = Verdict::DryRun;
                r.stop = stop.clone();
                r.plan = Some(
                    actions
                        .iter()
                        .map(|a| {
                            let (what, detail) = describe(a);
                            PlannedAction {
                                action: what.into(),
                                path: a.path().as_str().into(),
                                detail,
                            }
                        })
                        .collect(),
                );
            }
            Ok(SyncResult::SafetyStop(why)) => {
                r.result = Verdict::SafetyStop;
                r.stop = Some(why.to_string());
            }
            Ok(SyncResult::Errors(t, errors)) => {
                r.result = Verdict::Errors;
                r.totals = Some(t.clone());
                r.errors = errors
                    .iter()
                    .map(|e| FailedPath {
                        path: Some(e.path.clone()),
                        message: e.error.report(),
                        transient: e.error.is_transient(),
                    })
                    .collect();
            }
            Err(e) => return SyncReport::failed(e.report()),
        }
        r
    }

    /// A sync that could not run at all.
    pub fn failed(message: String) -> SyncReport {
        SyncReport {
            result: Verdict::Failed,
            totals: None,
            stop: None,
            errors: vec![FailedPath {
                path: None,
                message,
                transient: false,
            }],
            plan: None,
        }
    }

    /// The exit code it asks for: 0 in sync, 3 stopped for safety (nothing changed), 1 errors.
    pub fn exit_code(&self) -> u8 {
        match self.result {
            Verdict::InSync => 0,
            Verdict::DryRun if self.stop.is_some() => 3,
            Verdict::DryRun => 0,
            Verdict::SafetyStop => 3,
            Verdict::Errors | Verdict::Failed => 1,
        }
    }
}

/// An action in words: its kind and what it does to which path.
pub fn describe(a: &Action) -> (&'static str, String) {
    match a {
        Action::Upload { path, .. } => ("upload", path.to_string()),
        Action::CopyRemote { path, from, .. } => {
            ("copy", format!("{path} (server-side, from {from})"))
        }
        Action::Download { path, .. } => ("download", path.to_string()),
        Action::DeleteLocal { path, .. } => ("delete local", path.to_string()),
        Action::DeleteRemote { path, .. } => ("delete remote", path.to_string()),
        Action::Conflict { path, .. } => (
            "conflict",
            format!("{path} (remote keeps the name, local becomes a conflict copy)"),
        ),
        Action::Displace { path, .. } => (
            "conflict",
            format!(
                "{path} (a folder of the same name takes it; the file becomes a conflict copy)"
            ),
        ),
        Action::Record { path, .. } => ("record", format!("{path} (same content both sides)")),
        Action::Forget { path } => ("forget", path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        let with = |result, stop: Option<&str>| SyncReport {
            result,
            totals: None,
            stop: stop.map(Into::into),
            errors: Vec::new(),
            plan: None,
        };
        assert_eq!(with(Verdict::InSync, None).exit_code(), 0);
        assert_eq!(with(Verdict::DryRun, None).exit_code(), 0);
        assert_eq!(with(Verdict::DryRun, Some("x")).exit_code(), 3);
        assert_eq!(with(Verdict::SafetyStop, Some("x")).exit_code(), 3);
        assert_eq!(with(Verdict::Errors, None).exit_code(), 1);
        assert_eq!(SyncReport::failed("no".into()).exit_code(), 1);
    }

    #[test]
    fn a_report_survives_the_control_socket() {
        let r = SyncReport::new(&Ok(SyncResult::Converged(Totals {
            uploads: 2,
            passes: 1,
            ..Totals::default()
        })));
        let back: SyncReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back.result, Verdict::InSync);
        assert_eq!(back.totals.unwrap().uploads, 2);
    }
}
