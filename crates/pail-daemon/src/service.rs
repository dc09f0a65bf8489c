//! Service integration: a hardened systemd user unit (Linux) or a launchd agent (macOS)
//! that runs `pail run` for one config. The templates live in `packaging/`; this module
//! fills them with the binary, the config and the paths the sandbox must allow.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The systemd unit template (packaging/systemd/pail.service).
pub const SYSTEMD_TEMPLATE: &str = include_str!("../../../packaging/systemd/pail.service");
/// The launchd agent template (packaging/launchd/com.pail.daemon.plist).
pub const LAUNCHD_TEMPLATE: &str = include_str!("../../../packaging/launchd/com.pail.daemon.plist");

/// What goes into a unit.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub binary: PathBuf,
    pub config: PathBuf,
    /// Folders, state and config directories: the only places the daemon may write.
    pub writable: Vec<PathBuf>,
    pub log_file: Option<PathBuf>,
}

/// systemd quotes paths with spaces in `ReadWritePaths=` and `ExecStart=`.
fn sd_quote(p: &Path) -> String {
    let s = p.display().to_string();
    if s.contains(' ') {
        format!("\"{}\"", s.replace('"', "\\\""))
    } else {
        s
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The systemd user unit for `spec`.
pub fn systemd_unit(spec: &ServiceSpec) -> String {
    let rw: Vec<String> = spec
        .writable
        .iter()
        .map(|p| format!("-{}", sd_quote(p)))
        .collect();
    SYSTEMD_TEMPLATE
        .replace("@BINARY@", &sd_quote(&spec.binary))
        .replace("@CONFIG@", &sd_quote(&spec.config))
        .replace("@READ_WRITE_PATHS@", &rw.join(" "))
}

/// The unit the Debian package installs as /usr/lib/systemd/user/pail.service: the same
/// template, for any user. The config is the default one (`%E` is the user's
/// `$XDG_CONFIG_HOME`, `~/.config` by default, as for pail itself), and since the folders are not
/// known when the package is built, the whole home is writable; the rest of the sandbox is the
/// same. `pail service install` writes a unit limited to the folders of its config, which takes
/// precedence (`~/.config/systemd/user/` comes before `/usr/lib/systemd/user/`).
pub fn packaged_systemd_unit() -> String {
    systemd_unit(&ServiceSpec {
        binary: "/usr/bin/pail".into(),
        config: "%E/pail/config.toml".into(),
        writable: vec!["%h".into()],
        log_file: None,
    })
}

/// The launchd agent plist for `spec`.
pub fn launchd_plist(spec: &ServiceSpec) -> String {
    let log = spec
        .log_file
        .clone()
        .unwrap_or_else(|| PathBuf::from("/tmp/pail.log"));
    LAUNCHD_TEMPLATE
        .replace("@BINARY@", &xml_escape(&spec.binary.display().to_string()))
        .replace("@CONFIG@", &xml_escape(&spec.config.display().to_string()))
        .replace("@LOG@", &xml_escape(&log.display().to_string()))
}

/// Where the unit file goes.
pub fn unit_path() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    if cfg!(target_os = "macos") {
        return Ok(PathBuf::from(home).join("Library/LaunchAgents/com.pail.daemon.plist"));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(home).join(".config"));
    Ok(config.join("systemd/user/pail.service"))
}

/// The unit text for this platform.
pub fn render(spec: &ServiceSpec) -> String {
    if cfg!(target_os = "macos") {
        launchd_plist(spec)
    } else {
        systemd_unit(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            binary: "/usr/local/bin/pail".into(),
            config: "/home/u/.config/pail/config.toml".into(),
            writable: vec![
                "/home/u/My Files".into(),
                "/home/u/.local/state/pail".into(),
            ],
            log_file: Some("/home/u/Library/Logs/pail.log".into()),
        }
    }

    #[test]
    fn systemd_unit_is_filled_and_hardened() {
        let unit = systemd_unit(&spec());
        assert!(
            unit.contains(
                "ExecStart=/usr/local/bin/pail run --config /home/u/.config/pail/config.toml"
            ),
            "{unit}"
        );
        assert!(
            unit.contains("ReadWritePaths=-\"/home/u/My Files\" -/home/u/.local/state/pail"),
            "{unit}"
        );
        for line in [
            "Type=notify",
            "WatchdogSec=",
            "Restart=on-failure",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "WantedBy=default.target",
            "UMask=0022",
        ] {
            assert!(unit.contains(line), "missing {line}");
        }
        assert!(!unit.contains('@'), "unfilled placeholder:\n{unit}");
    }

    #[test]
    fn packaged_unit_is_the_template_for_any_user() {
        let unit = packaged_systemd_unit();
        assert!(
            unit.contains("ExecStart=/usr/bin/pail run --config %E/pail/config.toml"),
            "{unit}"
        );
        assert!(unit.contains("ReadWritePaths=-%h\n"), "{unit}");
        // Everything but the two filled lines (ExecStart, ReadWritePaths) is the template, sandbox included.
        let differing: Vec<(&str, &str)> = SYSTEMD_TEMPLATE
            .lines()
            .zip(unit.lines())
            .filter(|(t, u)| t != u)
            .collect();
        assert_eq!(differing.len(), 2, "{differing:?}");
        assert!(
            differing.iter().all(|(t, _)| t.contains('@')),
            "{differing:?}"
        );
        assert_eq!(SYSTEMD_TEMPLATE.lines().count(), unit.lines().count());
    }

    #[test]
    fn launchd_plist_is_filled() {
        let plist = launchd_plist(&spec());
        assert!(plist.contains("<string>/usr/local/bin/pail</string>"));
        assert!(plist.contains("<key>KeepAlive</key>") && plist.contains("<key>RunAtLoad</key>"));
        assert!(plist.contains("/home/u/Library/Logs/pail.log"));
        assert!(plist.contains("<key>Umask</key>\n  <integer>18</integer>"));
        assert!(!plist.contains('@'));
    }
}
