//! Operator-facing text is assembled from pieces (a tool's stderr, a reason, what to do
//! next); these two helpers decide where the full stops go, so a message ends with exactly
//! one and never shows "..".

/// `s` as a clause inside a longer sentence: without trailing whitespace or full stops.
pub fn clause(s: &str) -> &str {
    s.trim_end_matches(|c: char| c == '.' || c.is_whitespace())
}

/// `s` as a complete sentence: ending with exactly one full stop.
pub fn sentence(s: &str) -> String {
    format!("{}.", clause(s))
}

/// True when `s` ends with exactly one full stop and has no run of two full stops, or of
/// more than three (an ellipsis quoted from a tool is allowed). For tests of messages.
pub fn is_one_sentence_end(s: &str) -> bool {
    let runs_ok = s
        .split(|c| c != '.')
        .all(|run| run.len() <= 1 || run.len() == 3);
    runs_ok && s.ends_with('.') && !s.ends_with("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_stops() {
        assert_eq!(clause("no controller.  "), "no controller");
        assert_eq!(
            clause("stderr: Error: failed.. \n"),
            "stderr: Error: failed"
        );
        assert_eq!(clause(""), "");
        assert_eq!(sentence("Nothing was created"), "Nothing was created.");
        assert_eq!(sentence("Nothing was created."), "Nothing was created.");
        assert_eq!(sentence("stderr: x. . "), "stderr: x.");
        assert_eq!(
            format!("{}. Nothing was created.", clause("Unable to find it.")),
            "Unable to find it. Nothing was created."
        );
        assert!(is_one_sentence_end("a. b."));
        assert!(is_one_sentence_end("Possible causes: ... Retry."));
        assert!(!is_one_sentence_end("a.. b."));
        assert!(!is_one_sentence_end("a. b.."));
        assert!(!is_one_sentence_end("a. b"));
        assert!(!is_one_sentence_end("a.... b."));
        assert!(is_one_sentence_end(&sentence("x...")));
    }
}
