//! A Slack button click, signed as Slack signs it: for the local demo and for trying the
//! function by hand.
//!
//! ```sh
//! # Print the Function URL event (for `cargo lambda invoke approval --data-file`):
//! cargo run -q -p approval --example slack_click -- --secret "$SIGNING_SECRET" \
//!     --approval 3f1c… --user U0ALLOWED --username jane > click.json
//! # Or find the approval in the Slack stand-in and send the click to a local function URL:
//! cargo run -q -p approval --example slack_click -- --secret "$SIGNING_SECRET" \
//!     --from-sink http://127.0.0.1:PORT/ns/demo --reject "p99 is up" \
//!     --post http://127.0.0.1:9000/lambda-url/approval/
//! ```
//!
//! Options: `--approval ID` (the button's value) or `--from-sink NS_URL` (the latest message
//! with Gantry's buttons in that stand-in namespace); `--approve` (default), `--reject [REASON]`,
//! `--promote ID`, `--rollback ID`; `--user ID` (default U0ALLOWED), `--username NAME`
//! (default jane); `--secret S` (default `$SLACK_SIGNING_SECRET`); `--response-url URL`;
//! `--post URL` to send the HTTP request instead of printing the event. The timestamp is now:
//! Gantry refuses clicks older than five minutes.

use gantry_core::approval::interaction::{Click, APPROVE, PROMOTE, REJECT, ROLLBACK};
use serde_json::Value;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slack_click: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let mut action_id = APPROVE;
    let (mut value, mut reason, mut sink, mut post) = (None, None, None, None);
    let (mut user, mut username) = ("U0ALLOWED".to_string(), "jane".to_string());
    let mut secret = std::env::var("SLACK_SIGNING_SECRET").ok();
    let mut response_url = None;
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let mut next = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--approval" => value = Some(next()?),
            "--from-sink" => sink = Some(next()?.trim_end_matches('/').to_string()),
            "--approve" => action_id = APPROVE,
            "--reject" => {
                action_id = REJECT;
                reason = args.next_if(|a| !a.starts_with("--"));
            }
            "--promote" => (action_id, value) = (PROMOTE, Some(next()?)),
            "--rollback" => (action_id, value) = (ROLLBACK, Some(next()?)),
            "--user" => user = next()?,
            "--username" => username = next()?,
            "--secret" => secret = Some(next()?),
            "--response-url" => response_url = Some(next()?),
            "--post" => post = Some(next()?),
            other => {
                return Err(format!(
                    "unknown option {other} (see the file's doc comment)"
                ))
            }
        }
    }
    let secret = secret.ok_or("no signing secret: --secret or SLACK_SIGNING_SECRET")?;
    let (channel, ts) = match (&value, &sink) {
        (Some(_), _) => ("C0DEPLOYS".to_string(), "1700000000.000100".to_string()),
        (None, Some(ns)) => {
            let (id, channel, ts) = latest_request(ns).await?;
            value = Some(id);
            (channel, ts)
        }
        (None, None) => {
            return Err("say which approval: --approval ID or --from-sink NS_URL".into())
        }
    };
    let response_url = response_url.unwrap_or_else(|| match &sink {
        Some(ns) => format!("{ns}/response/slack-click"),
        None => "https://hooks.slack.com/actions/T0GANTRY/1/slack-click".into(),
    });
    let click = Click {
        user_id: &user,
        username: &username,
        action_id,
        value: value.as_deref().unwrap_or_default(),
        channel: &channel,
        message_ts: &ts,
        response_url: &response_url,
        reason: reason.as_deref(),
    };
    let request = click.signed_request(&secret, gantry_core::clock::now_epoch_seconds());
    match post {
        None => {
            println!("{:#}", request.function_url_event());
            Ok(())
        }
        Some(url) => {
            let mut http = reqwest::Client::new().post(&url).body(request.body.clone());
            for (k, v) in &request.headers {
                http = http.header(*k, v);
            }
            let answer = http.send().await.map_err(|e| format!("POST {url}: {e}"))?;
            let status = answer.status();
            println!("{status} {}", answer.text().await.unwrap_or_default());
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("the function answered {status}"))
            }
        }
    }
}

/// The approval id, channel and ts of the newest message with Gantry's Approve button.
async fn latest_request(ns: &str) -> Result<(String, String, String), String> {
    let url = format!("{ns}/_sink/messages");
    let messages: Value = reqwest::get(&url)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let list = messages["messages"].as_array().cloned().unwrap_or_default();
    list.iter()
        .rev()
        .find_map(|m| {
            let id = m["blocks"]
                .as_array()?
                .iter()
                .filter(|b| b["type"] == "actions")
                .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
                .find(|e| e["action_id"] == APPROVE)?["value"]
                .as_str()?
                .to_string();
            Some((
                id,
                m["channel"].as_str()?.to_string(),
                m["ts"].as_str()?.to_string(),
            ))
        })
        .ok_or_else(|| format!("no message with an Approve button in {ns}"))
}
