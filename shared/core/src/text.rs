//! Text helpers shared by every feature: a leaf module, imported by all and importing nothing.

/// Cuts `text` to at most `max` characters, ending with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn escaping: only `&`, `<` and `>` are special. Free text (commit messages,
/// authors, hooks' answers) goes through it wherever Slack reads mrkdwn, the fallback `text`
/// included, so nobody can write a `<!channel>` or a disguised link into a message.
pub fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
