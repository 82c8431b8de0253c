//! Seeded fuzzing of real payloads: a small deterministic generator and the mutations the fuzz
//! tests apply (a field replaced by hostile JSON, a field removed, the bytes cut or damaged), so
//! every entry point's fuzz run is the same on every machine.

use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*): the fuzz runs are the same on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// A random JSON value of any type, some of them hostile (huge, deep, odd characters).
pub fn garbage_value(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(rng.next_u64() as i64),
        2 => json!(-1.5e300),
        3 => json!("x".repeat(rng.below(5000))),
        4 => json!("refs/heads/../../\u{0}\u{202e}é"),
        5 => json!([garbage_value(rng), garbage_value(rng)]),
        6 => json!({"id": rng.next_u64().to_string(), "author": garbage_value(rng)}),
        7 => json!(true),
        _ => (0..40).fold(json!(0), |v, _| json!([v])),
    }
}

/// Every (path) of object fields and array items in `v`, up to a depth.
fn paths(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    if at.len() > 4 {
        return;
    }
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            let mut p = at.clone();
            p.push(k.clone());
            out.push(p.clone());
            paths(c, p, out);
        }),
        Value::Array(a) => a.iter().enumerate().take(3).for_each(|(i, c)| {
            let mut p = at.clone();
            p.push(i.to_string());
            out.push(p.clone());
            paths(c, p, out);
        }),
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k),
        Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// One mutation of a real payload: a field replaced, removed, or the bytes damaged.
pub fn mutate(rng: &mut Rng, original: &Value) -> Vec<u8> {
    let mut v = original.clone();
    let mut all = Vec::new();
    paths(&v, vec![], &mut all);
    for _ in 0..1 + rng.below(3) {
        let path = all[rng.below(all.len())].clone();
        match rng.below(3) {
            0 => {
                if let Some(slot) = at_mut(&mut v, &path) {
                    *slot = garbage_value(rng);
                }
            }
            1 => {
                let (last, parent) = path.split_last().expect("path");
                if let Some(Value::Object(m)) = at_mut(&mut v, parent) {
                    m.remove(last);
                }
            }
            _ => {}
        }
    }
    let mut bytes = serde_json::to_vec(&v).expect("json");
    match rng.below(6) {
        0 if !bytes.is_empty() => {
            let cut = rng.below(bytes.len());
            bytes.truncate(cut)
        }
        1 if !bytes.is_empty() => {
            let i = rng.below(bytes.len());
            bytes[i] ^= 1 << rng.below(8)
        }
        _ => {}
    }
    bytes
}

/// `bytes` as a form field value (`application/x-www-form-urlencoded`): every byte but
/// unreserved ASCII percent-encoded, so damaged UTF-8 travels as it is.
pub fn form_value(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (*b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
