//! systemd notifications (Type=notify): READY, STATUS, WATCHDOG, STOPPING. Without
//! `NOTIFY_SOCKET` every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Systemd {
    watchdog: Option<Duration>,
}

impl Systemd {
    pub(crate) fn from_env() -> Systemd {
        Systemd {
            watchdog: sd_notify::watchdog_enabled(),
        }
    }

    /// Half the watchdog timeout, as systemd recommends.
    pub(crate) fn watchdog_period(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    pub(crate) fn ready(&self, status: &str) {
        let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub(crate) fn status(&self, status: &str) {
        let _ = sd_notify::notify(&[NotifyState::Status(status)]);
    }

    pub(crate) fn watchdog(&self) {
        if self.watchdog.is_some() {
            let _ = sd_notify::notify(&[NotifyState::Watchdog]);
        }
    }

    pub(crate) fn stopping(&self) {
        let _ = sd_notify::notify(&[NotifyState::Stopping]);
    }
}
