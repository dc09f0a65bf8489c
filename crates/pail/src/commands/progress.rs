//! Progress while a sync runs: a bar on a terminal (files and bytes done of the total, rate,
//! time left, the large file being sent), a steady line every few seconds elsewhere, nothing
//! with `-q`.

use std::future::Future;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pail_sync::progress::{Progress, Totals};

use super::human_bytes;

/// Transfers from this size on are named in the bar while they run.
const LARGE: u64 = 8 << 20;

/// How often a line is printed when stderr is not a terminal (logs, cron).
const LINE_EVERY: Duration = Duration::from_secs(10);

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn files(t: &Totals) -> String {
    format!("{}/{} files", t.files_done, t.files_total)
}

/// The one line printed off a terminal.
pub fn line(label: &str, t: &Totals) -> String {
    let rate = t
        .rate(now_ns())
        .map(|r| format!(", {}/s", human_bytes(r as u64)))
        .unwrap_or_default();
    format!(
        "{label}: {}, {} of {}{rate}",
        files(t),
        human_bytes(t.bytes_done),
        human_bytes(t.bytes_total)
    )
}

/// Runs `work` while showing `progress` on stderr.
pub async fn show<T>(
    progress: &Progress,
    label: &str,
    quiet: bool,
    work: impl Future<Output = T>,
) -> T {
    let terminal = std::io::stderr().is_terminal();
    let bar = (terminal && !quiet).then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:24}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let draw = |bar: &ProgressBar, t: &Totals| {
        bar.set_length(t.bytes_total);
        bar.set_position(t.bytes_done);
        let large = progress
            .snapshot()
            .into_iter()
            .filter(|f| f.bytes_total >= LARGE)
            .max_by_key(|f| f.bytes_total)
            .map(|f| {
                format!(
                    " · {} {}%",
                    f.path,
                    f.bytes_done * 100 / f.bytes_total.max(1)
                )
            })
            .unwrap_or_default();
        bar.set_message(format!("{}{large}", files(t)));
    };
    let every = if terminal {
        Duration::from_millis(200)
    } else {
        LINE_EVERY
    };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => {
                if let (Some(bar), Some(t)) = (&bar, progress.last_totals().filter(|t| t.files_total > 0)) {
                    draw(bar, &t);
                    bar.finish();
                    // The summary that follows starts on a line of its own.
                    eprintln!();
                }
                return out;
            }
            _ = tick.tick() => {
                let Some(t) = progress.totals_now().filter(|t| t.files_total > 0) else {
                    continue;
                };
                match &bar {
                    Some(bar) => draw(bar, &t),
                    None if !quiet => eprintln!("{}", line(label, &t)),
                    None => {}
                }
            }
        }
    }
}
