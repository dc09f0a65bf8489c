//! Quantities as people read them.

/// Sizes for people: `512 B`, `3.4 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_as_people_expect() {
        for (n, s) in [
            (0, "0 B"),
            (512, "512 B"),
            (1024, "1.0 KiB"),
            (3 << 20, "3.0 MiB"),
            (1_288_490_189, "1.2 GiB"),
        ] {
            assert_eq!(human_bytes(n), s);
        }
    }
}
