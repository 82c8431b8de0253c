//! What a Block Kit message shows, read back from its JSON: where a message is checked rather
//! than built (the features' tests, the end-to-end tests, the click example).

use serde_json::Value;

/// The texts of a message's blocks, in order: each block's own text, then its elements' texts
/// (a context line's parts, a button's label).
pub fn texts(message: &Value) -> Vec<String> {
    let mut out = vec![];
    for b in message["blocks"].as_array().into_iter().flatten() {
        if let Some(t) = b["text"]["text"].as_str() {
            out.push(t.to_string());
        }
        for el in b["elements"].as_array().into_iter().flatten() {
            if let Some(t) = el["text"].as_str() {
                out.push(t.to_string());
            }
        }
    }
    out
}

/// A message's buttons, in order: (action id, value) each.
pub fn buttons(message: &Value) -> Vec<(String, String)> {
    message["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["action_id"].as_str().unwrap_or_default().to_string(),
                // The payload, under its version stamp: what the button acts on.
                e["value"]
                    .as_str()
                    .map(|v| crate::schema::unstamp(v).unwrap_or(v))
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}
