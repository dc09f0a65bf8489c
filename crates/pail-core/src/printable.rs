//! Text from the bucket made safe to print on a terminal.
//!
//! Keys, device names and server error bodies are written by whoever shares the bucket. Printed
//! raw, an ESC byte in a key would drive the user's terminal (colours, cursor moves, a title
//! change, a fake prompt) and a newline would forge a line of pail's own output. Every piece of
//! such text shown to people goes through [`printable`]; JSON output keeps the exact strings
//! (the JSON encoder escapes them itself).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as is: C0 and C1 controls and DEL, the backslash
/// (so the escaped form stays unambiguous), and the invisible bidirectional formatting marks
/// that can make a name read as another one ("Trojan Source").
fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '\\'
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `s` with every control character escaped Rust-style (`\n`, `\x1b`, `\u{202e}`, and `\\` for
/// a backslash). Text without any is returned as is, borrowed.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bytes that may not be UTF-8 (a key percent-decoded from a listing), printable: valid UTF-8
/// runs as [`printable`] makes them, every invalid byte as `\xNN`.
pub fn printable_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(&printable(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The inverse of [`printable`] for the tests: the escape forms it writes, read back.
    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match it.next().unwrap() {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'x' => {
                    let hex: String = it.by_ref().take(2).collect();
                    out.push(char::from(u8::from_str_radix(&hex, 16).unwrap()));
                }
                'u' => {
                    assert_eq!(it.next(), Some('{'));
                    let hex: String = it.by_ref().take_while(|&c| c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                other => panic!("unexpected escape \\{other}"),
            }
        }
        out
    }

    #[test]
    fn terminal_controls_are_escaped_and_plain_text_is_borrowed() {
        assert_eq!(printable("esc\x1b[31mred\n.txt"), "esc\\x1b[31mred\\n.txt");
        assert_eq!(printable("tab\there\r"), "tab\\there\\r");
        assert_eq!(printable("del\x7f c1\u{9b}"), "del\\x7f c1\\u{9b}");
        assert_eq!(printable("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(printable("a\\b"), "a\\\\b");
        assert!(matches!(
            printable("Fotos/Été 2024/ü.jpg"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn invalid_utf8_bytes_are_shown_as_hex() {
        assert_eq!(
            printable_bytes(b"bad\xffname\x1b.txt"),
            "bad\\xffname\\x1b.txt"
        );
        assert_eq!(printable_bytes("ok ü".as_bytes()), "ok ü");
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_control_character_and_reads_back(s in any::<String>()) {
            let p = printable(&s);
            prop_assert!(!p.chars().any(|c| c.is_control()), "{p:?}");
            prop_assert!(!p.chars().any(|c| c != '\\' && needs_escape(c)), "{p:?}");
            prop_assert_eq!(unescape(&p), s.clone());
            if !s.chars().any(needs_escape) {
                prop_assert_eq!(p, Cow::Borrowed(s.as_str()));
            }
        }

        #[test]
        fn escaped_bytes_have_no_control_character(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let p = printable_bytes(&b);
            prop_assert!(!p.chars().any(|c| c.is_control()), "{p:?}");
            if let Ok(s) = std::str::from_utf8(&b) {
                prop_assert_eq!(p, printable(s).into_owned());
            }
        }
    }
}
