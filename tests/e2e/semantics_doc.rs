//! doc/SEMANTICS.md names the tests that hold each tenet; this keeps it honest.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_sources(dir: &Path, out: &mut String) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.ends_with("target") {
            rust_sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
}

#[test]
fn every_tenet_names_tests_that_exist() {
    let doc = std::fs::read_to_string(repo().join("doc/SEMANTICS.md")).unwrap();
    let mut sources = String::new();
    rust_sources(&repo().join("crates"), &mut sources);
    rust_sources(&repo().join("tests"), &mut sources);
    let tenets: Vec<&str> = doc.split("\n### ").skip(1).collect();
    // Tenets 13-15 are being written (issue 10): each section present names real tests.
    assert!(tenets.len() >= 12, "SEMANTICS.md must cover the tenets");
    for tenet in tenets {
        let title = tenet.lines().next().unwrap();
        let parts: Vec<&str> = tenet.split("Tested by:").skip(1).collect();
        assert!(!parts.is_empty(), "tenet {title:?} names no test");
        for tested in parts {
            // The list of names ends at its full stop.
            let tested = tested.split(".\n").next().unwrap();
            let names: Vec<&str> = tested.split('`').skip(1).step_by(2).collect();
            assert!(!names.is_empty(), "tenet {title:?} names no test");
            for name in names {
                assert!(
                    sources.contains(&format!("fn {name}(")),
                    "tenet {title:?}: test {name} does not exist"
                );
            }
        }
    }
}
