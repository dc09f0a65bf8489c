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

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn files(t: &Totals) -> String {
    format!("{}/{} files", t.files_done, t.files_total)
}

/// The one line printed off a terminal.
pub fn line(label: &str, t: &Totals) -> String {
    format!("{label}: {}", words(t, now_ns()))
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
                    pail_core::printable(&f.path),
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

/// The sync in progress in words: `120/2000 files, 12.0 MiB of 300.0 MiB, 4.1 MiB/s, about
/// 2 min left` (rate and time left once they can be told).
pub fn words(t: &Totals, now_ns: i64) -> String {
    let rate = t
        .rate(now_ns)
        .map(|r| format!(", {}/s", human_bytes(r as u64)))
        .unwrap_or_default();
    let left = t
        .eta_secs(now_ns)
        .map(|s| match s {
            0..60 => format!(", about {s} s left"),
            60..3600 => format!(", about {} min left", s.div_ceil(60)),
            _ => format!(", about {} h left", s.div_ceil(3600)),
        })
        .unwrap_or_default();
    format!(
        "{}/{} files, {} of {}{rate}{left}",
        t.files_done,
        t.files_total,
        human_bytes(t.bytes_done),
        human_bytes(t.bytes_total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_like_a_sentence() {
        let sec = 1_000_000_000;
        let t = Totals {
            files_total: 2000,
            files_done: 120,
            bytes_total: 300 << 20,
            bytes_done: 30 << 20,
            started_ns: 0,
        };
        assert_eq!(
            words(&t, 10 * sec),
            "120/2000 files, 30.0 MiB of 300.0 MiB, 3.0 MiB/s, about 2 min left"
        );
        assert_eq!(
            words(&t, sec / 2),
            "120/2000 files, 30.0 MiB of 300.0 MiB",
            "no rate in the first second"
        );
    }
}
