//! Reading the TIME of `pail restore --at TIME`: RFC 3339, plain dates and times, and the
//! relative forms of GNU `date -d` ("2 hours ago", "yesterday 18:00"), through the
//! `parse_datetime` crate (uutils). Times without a zone are local time.

use anyhow::{Result, bail};
use jiff::Zoned;
use parse_datetime::{ParsedDateTime, parse_datetime_at_date};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Reads a duration such as `7d`, `12h`, `90m` or `1h30m` (days are 24 hours).
pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
    use anyhow::Context;
    let span: jiff::Span = s.trim().parse().with_context(|| {
        format!("cannot read the duration {s:?}: write it like 7d, 12h, 90m or 1h30m")
    })?;
    let d = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .with_context(|| format!("cannot read the duration {s:?}"))?;
    let d = std::time::Duration::try_from(d)
        .ok()
        .filter(|d| !d.is_zero());
    let Some(d) = d else {
        bail!("the duration {s:?} must be positive");
    };
    Ok(d)
}

/// The instant `s` names, in Unix nanoseconds, relative to now.
pub fn parse_time(s: &str) -> Result<i64> {
    parse_time_at(s, Zoned::now())
}

/// As [`parse_time`], relative to `now` (whose zone is the one of times without a zone).
pub fn parse_time_at(s: &str, now: Zoned) -> Result<i64> {
    let s = s.trim();
    let now_ns = now.timestamp().as_nanosecond();
    // RFC 3339 exactly as written (with its offset) before the looser grammar.
    let ns = if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        t.unix_timestamp_nanos()
    } else {
        match parse_datetime_at_date(now, s) {
            Ok(ParsedDateTime::InRange(z)) => z.timestamp().as_nanosecond(),
            Ok(ParsedDateTime::Extended(_)) => bail!("the time {s:?} is out of range"),
            Err(_) => bail!(
                "cannot read the time {s:?}: use RFC 3339 (2026-11-20T14:00:00Z), a local date and time \
                 (\"2026-11-20 14:00\"), or a relative time (\"2 hours ago\", \"yesterday 18:00\")"
            ),
        }
    };
    if ns > now_ns {
        bail!(
            "the time {s:?} is in the future; give a moment in the past (see `pail history PATH`)"
        );
    }
    i64::try_from(ns).or_else(|_| bail!("the time {s:?} is out of range"))
}

/// RFC 3339 in UTC of Unix nanoseconds, for scripts (`--json`). Fractions of a second are
/// kept, so that a time pasted into `--at` names exactly that version, not the one before.
pub fn rfc3339_ns(ns: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The same instant for people: RFC 3339 in this machine's time zone (what `--at` reads
/// for times without a zone), with the fractions of a second that make it exact.
pub fn local_ns(ns: i64) -> String {
    let Ok(t) = jiff::Timestamp::from_nanosecond(i128::from(ns)) else {
        return String::new();
    };
    let z = t.to_zoned(jiff::tz::TimeZone::system());
    // %.f prints only the digits needed (none for a whole second).
    z.strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
}

/// Local time to the second, for lists (`pail log`): `2026-11-30 07:26:53`.
pub fn local_short(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// How long ago `then_ns` was, seen at `now_ns`, in words: "just now", "3 min ago",
/// "2 h ago", "5 days ago" (a time ahead of now, a skewed clock, reads "just now").
pub fn ago(then_ns: i64, now_ns: i64) -> String {
    let s = (now_ns.saturating_sub(then_ns) / 1_000_000_000).max(0);
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        86_400..172_800 => "1 day ago".into(),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// An RFC 3339 time for people: local time to the second (the text itself if it does not
/// parse).
pub fn local_short_rfc3339(rfc3339: &str) -> String {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| i64::try_from(t.as_nanosecond()).ok())
        .map_or_else(|| rfc3339.to_owned(), local_short)
}

/// An RFC 3339 time (as `status --json` has it) for people: local time to the second and how
/// long ago, e.g. `2026-11-30 07:26:53 (3 min ago)`; the text itself if it does not parse.
pub fn local_with_ago(rfc3339: &str) -> String {
    let Ok(t) = rfc3339.parse::<jiff::Timestamp>() else {
        return rfc3339.to_owned();
    };
    let now = jiff::Timestamp::now().as_nanosecond();
    match (i64::try_from(t.as_nanosecond()), i64::try_from(now)) {
        (Ok(then), Ok(now)) => format!("{} ({})", local_short(then), ago(then, now)),
        _ => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_in_words() {
        let s = 1_000_000_000i64;
        assert_eq!(ago(0, 30 * s), "just now");
        assert_eq!(ago(0, 150 * s), "2 min ago");
        assert_eq!(ago(0, 7300 * s), "2 h ago");
        assert_eq!(ago(0, 90_000 * s), "1 day ago");
        assert_eq!(ago(0, 9 * 86_400 * s), "9 days ago");
        assert_eq!(ago(10 * s, 0), "just now");
        assert!(local_with_ago("2026-11-20T14:00:00Z").starts_with("2026-11-2"));
        assert_eq!(local_with_ago("garbage"), "garbage");
    }

    #[test]
    fn printed_times_read_back_exactly() {
        let ns = 1_795_257_000_123_456_789;
        for shown in [rfc3339_ns(ns), local_ns(ns)] {
            assert_eq!(parse_time(&shown).unwrap(), ns, "{shown}");
        }
        assert_eq!(
            rfc3339_ns(1_795_257_000_000_000_000),
            "2026-11-21T10:30:00Z"
        );
    }
    use jiff::tz::TimeZone;

    const HOUR: i64 = 3_600_000_000_000;

    /// 2026-11-21 10:30:00 UTC.
    fn now() -> Zoned {
        jiff::Timestamp::from_second(1_795_257_000)
            .unwrap()
            .to_zoned(TimeZone::UTC)
    }

    fn at(s: &str) -> i64 {
        parse_time_at(s, now()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn utc(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> i64 {
        let date = time::Date::from_calendar_date(y, mo.try_into().unwrap(), d).unwrap();
        let t = date.with_hms(h, mi, 0).unwrap().assume_utc();
        i64::try_from(t.unix_timestamp_nanos()).unwrap()
    }

    #[test]
    fn rfc3339_keeps_its_offset() {
        assert_eq!(at("2026-11-20T14:00:00Z"), utc(2026, 11, 20, 14, 0));
        assert_eq!(at("2026-11-20T15:00:00+01:00"), utc(2026, 11, 20, 14, 0));
        assert_eq!(
            at("2026-11-20T14:00:00.5Z"),
            utc(2026, 11, 20, 14, 0) + 500_000_000
        );
    }

    #[test]
    fn human_forms() {
        let n = now().timestamp().as_nanosecond() as i64;
        assert_eq!(at("2 hours ago"), n - 2 * HOUR);
        assert_eq!(at("90 minutes ago"), n - 3 * HOUR / 2);
        assert_eq!(at("yesterday 18:00"), utc(2026, 11, 20, 18, 0));
        assert_eq!(at("2026-11-20 14:00"), utc(2026, 11, 20, 14, 0));
        assert_eq!(at("2026-11-20"), utc(2026, 11, 20, 0, 0));
        assert_eq!(at("now"), n);
    }

    #[test]
    fn bad_and_future_times_say_what_to_write() {
        let e = parse_time_at("last blue moon", now()).unwrap_err();
        assert!(e.to_string().contains("2 hours ago"), "{e}");
        let e = parse_time_at("tomorrow", now()).unwrap_err();
        assert!(e.to_string().contains("future"), "{e}");
    }

    #[test]
    fn output_is_rfc3339_to_the_nanosecond() {
        assert_eq!(
            rfc3339_ns(utc(2026, 11, 20, 14, 0) + 7),
            "2026-11-20T14:00:00.000000007Z"
        );
    }
}
