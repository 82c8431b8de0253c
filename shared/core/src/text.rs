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

/// What stands in a quoted AWS message for an ARN.
pub const HIDDEN_ARN: &str = "[ARN hidden]";
/// What stands in a quoted AWS message for an account id.
pub const HIDDEN_ACCOUNT: &str = "[account hidden]";

/// An AWS message that Gantry did not write (another action's failure summary, as CodePipeline
/// reports it) with the identifiers an outsider could use taken out: every ARN, and every run of
/// exactly twelve digits (an account id). The rest stays, since it says what failed; the whole
/// message is in the pipeline's console, where AWS's own access rules apply.
pub fn hide_aws_identifiers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("arn:aws") {
        out.push_str(&hide_accounts(&rest[..at]));
        out.push_str(HIDDEN_ARN);
        // An ARN ends at whitespace, a quote, a comma or a closing bracket (as AWS quotes them).
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | ']' | '}' | ','))
            .map_or(rest.len(), |n| at + n);
        rest = &rest[end..];
    }
    out.push_str(&hide_accounts(rest));
    out
}

/// Every run of exactly twelve digits (an AWS account id) hidden; other numbers kept.
fn hide_accounts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() == 12 {
            out.push_str(HIDDEN_ACCOUNT);
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_message_keeps_what_failed_and_loses_arns_and_account_ids() {
        let quoted = "User: arn:aws:sts::123456789012:assumed-role/build/x is not authorized to \
                      perform: ecr:PutImage on resource: arn:aws:ecr:us-east-1:123456789012:repository/shop \
                      (account 123456789012, request 1234567890123)";
        assert_eq!(
            hide_aws_identifiers(quoted),
            "User: [ARN hidden] is not authorized to perform: ecr:PutImage on resource: \
             [ARN hidden] (account [account hidden], request 1234567890123)"
        );
        let plain = "Build failed: phase BUILD, exit status 2";
        assert_eq!(hide_aws_identifiers(plain), plain);
    }
}
