//! RFC 3339 timestamps as providers write them (`2019-05-15T15:19:25Z`,
//! `2011-12-12T14:27:31+02:00`), read into epoch seconds without a date library.

/// Epoch seconds of an RFC 3339 date-time, or `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Fractional seconds are skipped; the zone follows.
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && sep(i + 3, b":") => {
            let minutes = num(i + 1, 2)? * 60 + num(i + 4, 2)?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Epoch seconds from a JSON number (seconds) or an RFC 3339 string.
pub fn epoch_seconds_of_json(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => parse_rfc3339(s),
        _ => None,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utc_and_offset_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2019-05-15T15:19:25Z"), Some(1_557_933_565));
        assert_eq!(
            parse_rfc3339("2011-12-12T14:27:31+02:00"),
            Some(1_323_692_851)
        );
        assert_eq!(
            parse_rfc3339("2015-05-05T19:40:15-04:00"),
            Some(1_430_869_215)
        );
        assert_eq!(
            parse_rfc3339("2019-05-15T15:19:25.123Z"),
            Some(1_557_933_565)
        );
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for t in [
            "",
            "yesterday",
            "2019-05-15",
            "2019-13-15T15:19:25Z",
            "2019-05-15T15:19:25",
            "2019-05-15T15:19:25+0200",
            "२०१९-05-15T15:19:25Z",
        ] {
            assert_eq!(parse_rfc3339(t), None, "{t}");
        }
    }

    #[test]
    fn json_numbers_and_strings() {
        assert_eq!(
            epoch_seconds_of_json(&serde_json::json!(1557933657)),
            Some(1557933657)
        );
        assert_eq!(
            epoch_seconds_of_json(&serde_json::json!("1970-01-01T00:01:00Z")),
            Some(60)
        );
        assert_eq!(epoch_seconds_of_json(&serde_json::json!(null)), None);
    }
}
