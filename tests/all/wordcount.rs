//! Word count over the shipped text: equal to an independent reference, in every shape.

use crate::harness::repo;
use crate::shapes::{MATRIX, Shape};
use std::collections::BTreeMap;

/// The reference: words are maximal runs of alphanumeric characters, lowercased.
fn reference_counts(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

/// The word count of `input` (examples/wordcount.yaml) in `shape`: word → count, each word
/// once.
fn run_wordcount(input: &str, shape: &Shape) -> BTreeMap<String, u64> {
    let run = shape.run(
        &repo().join("examples/wordcount.yaml"),
        &[("INPUT", input)],
        &[],
    );
    let mut counts = BTreeMap::new();
    for line in run.stdout.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad output line {line:?}: {e}"));
        let word = record["word"].as_str().expect("word field").to_string();
        let count = record["count"].as_u64().expect("count field");
        assert!(
            counts.insert(word.clone(), count).is_none(),
            "word {word:?} emitted twice ({shape})"
        );
    }
    counts
}

#[test]
fn wordcount_equals_reference_in_every_shape() {
    let input = repo().join("examples/data/pride-and-prejudice-ch1.txt");
    let text = std::fs::read_to_string(&input).expect("shipped text");
    let expected = reference_counts(&text);
    assert!(expected.len() > 300, "the text has a real vocabulary");
    let input = input.display().to_string();
    for shape in &MATRIX {
        assert_eq!(run_wordcount(&input, shape), expected, "{shape}");
    }
}

#[test]
fn wordcount_handles_unicode_and_splits_a_big_file_across_readers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!(
            "Ça va? Ελληνικά café CAFÉ naïve-{} x{}\n",
            i % 7,
            i % 13
        ));
    }
    let path = dir.path().join("big.txt");
    std::fs::write(&path, &text).expect("write input");
    let expected = reference_counts(&text);
    assert_eq!(expected["café"], 6000);
    let counts = run_wordcount(&path.display().to_string(), &MATRIX[1]);
    assert_eq!(counts, expected);
}
