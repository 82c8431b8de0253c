//! Gantry's one clock: the wall clock read once at the edge (`now_epoch_seconds`, passed into
//! every flow as `now`), and the few timestamp conversions the features need, without a date
//! library.
//!
//! CodePipeline's approval notification says `"expires": "2016-07-07T20:22Z"` (minutes, no
//! seconds), which RFC 3339 parsers refuse; EventBridge says `"time": "2017-04-22T03:31:47Z"`;
//! GitHub and GitLab write RFC 3339 with offsets (`2011-12-12T14:27:31+02:00`) or epoch numbers.

/// Seconds since the Unix epoch: the only place Gantry reads the wall clock in seconds.
pub fn now_epoch_seconds() -> i64 {
    now_epoch_millis() / 1000
}

/// Milliseconds since the Unix epoch.
pub fn now_epoch_millis() -> i64 {
    #[cfg(test)]
    if let Some(ms) = simulated::epoch_millis() {
        return ms;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Now on the monotonic clock, which deadlines (an invocation's time slice) are measured on.
pub fn instant_now() -> std::time::Instant {
    #[cfg(test)]
    if let Some(now) = simulated::instant() {
        return now;
    }
    std::time::Instant::now()
}

/// Waits `duration`. Under the simulation's clock the wait is in simulated time: the
/// simulation's driver moves the clock on to the earliest wait when nothing else can run, so a
/// deployment's hours of bakes run in microseconds.
pub async fn sleep(duration: std::time::Duration) {
    #[cfg(test)]
    if let Some(now) = simulated::epoch_millis() {
        return simulated::Wait(now + duration.as_millis() as i64).await;
    }
    tokio::time::sleep(duration).await
}

/// A simulated clock for the deterministic simulation (`traffic::simulation`): per thread, so
/// tests running side by side keep their own time; off unless `start` was called on the thread.
#[cfg(test)]
pub mod simulated {
    use std::cell::Cell;
    use std::time::{Duration, Instant};

    thread_local! {
        /// (epoch milliseconds at the start, the real instant at the start, milliseconds passed).
        static CLOCK: Cell<Option<(i64, Instant, u64)>> = const { Cell::new(None) };
        /// The earliest time a pending `Wait` is waiting for.
        static NEXT: Cell<Option<i64>> = const { Cell::new(None) };
    }

    /// A wait until the simulated epoch milliseconds it holds.
    pub struct Wait(pub i64);

    impl std::future::Future for Wait {
        type Output = ();
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if epoch_millis().is_none_or(|now| now >= self.0) {
                return std::task::Poll::Ready(());
            }
            NEXT.with(|n| n.set(Some(n.get().map_or(self.0, |t| t.min(self.0)))));
            std::task::Poll::Pending
        }
    }

    /// The earliest time a pending wait wants, forgotten as it is read: the driver moves the
    /// clock there when every task waits.
    pub fn take_next() -> Option<i64> {
        NEXT.with(|n| n.take())
    }

    /// Starts simulated time on this thread at `epoch_ms`.
    pub fn start(epoch_ms: i64) {
        CLOCK.with(|c| c.set(Some((epoch_ms, Instant::now(), 0))));
    }

    /// Back to the wall clock on this thread.
    pub fn stop() {
        CLOCK.with(|c| c.set(None));
        NEXT.with(|n| n.set(None));
    }

    pub fn epoch_millis() -> Option<i64> {
        CLOCK.with(|c| c.get().map(|(epoch, _, passed)| epoch + passed as i64))
    }

    pub(super) fn instant() -> Option<Instant> {
        CLOCK.with(|c| {
            c.get()
                .map(|(_, base, passed)| base + Duration::from_millis(passed))
        })
    }

    /// Moves simulated time on by `by` (nothing when the clock is not simulated).
    pub fn advance(by: Duration) {
        CLOCK.with(|c| {
            if let Some((epoch, base, passed)) = c.get() {
                c.set(Some((epoch, base, passed + by.as_millis() as u64)));
            }
        })
    }
}

/// Seconds since the epoch of a UTC timestamp `YYYY-MM-DDTHH:MM[:SS[.fraction]](Z|+00:00)`.
/// Other offsets are applied. `None` when it is not such a timestamp.
pub fn parse_utc(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', ' '])?;
    let mut ymd = date.splitn(3, '-');
    let year: i64 = number(ymd.next()?, 4)?;
    let month: i64 = number(ymd.next()?, 2)?;
    let day: i64 = number(ymd.next()?, 2)?;
    let (clock, offset) = split_offset(rest)?;
    let mut hms = clock.splitn(3, ':');
    let hour: i64 = number(hms.next()?, 2)?;
    let minute: i64 = number(hms.next()?, 2)?;
    let second: i64 = match hms.next() {
        Some(s) => number(s.split('.').next()?, 2)?,
        None => 0,
    };
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Epoch seconds from a JSON number (seconds) or a timestamp string (`parse_utc`), as Git
/// providers write a push's time.
pub fn epoch_seconds_of_json(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => parse_utc(s),
        _ => None,
    }
}

/// `2026-03-01 14:05 UTC`: the fallback text Slack shows where it cannot localise a date.
pub fn format_utc(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

fn number(text: &str, digits: usize) -> Option<i64> {
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Splits `HH:MM[:SS]Z` / `HH:MM[:SS]+01:00` into the clock and the offset in seconds.
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let at = rest.rfind(['+', '-'])?;
    let (clock, offset) = rest.split_at(at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (h, m) = offset[1..].split_once(':')?;
    Some((clock, sign * (number(h, 2)? * 3600 + number(m, 2)? * 60)))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms (public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_times_git_providers_codepipeline_and_eventbridge_write() {
        for (text, epoch) in [
            // The git providers' commit times (RFC 3339, with offsets and fractions).
            ("1970-01-01T00:00:00Z", 0),
            ("2019-05-15T15:19:25Z", 1_557_933_565),
            ("2011-12-12T14:27:31+02:00", 1_323_692_851),
            ("2015-05-05T19:40:15-04:00", 1_430_869_215),
            ("2019-05-15T15:19:25.123Z", 1_557_933_565),
            // CodePipeline's minute-precision expiry.
            ("2016-07-07T20:22Z", 1_467_922_920),
            ("2024-02-29T00:00Z", 1_709_164_800),
            // EventBridge's event times.
            ("2017-04-22T03:31:47Z", 1_492_831_907),
            ("2017-04-22T03:31:47.123Z", 1_492_831_907),
            ("2017-04-22T05:31:47+02:00", 1_492_831_907),
        ] {
            assert_eq!(parse_utc(text), Some(epoch), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "yesterday",
            "soon",
            "2019-05-15",
            "2016-07-07",
            "2019-13-15T15:19:25Z",
            "2019-05-15T15:19:25",
            "2019-05-15T15:19:25+0200",
            "२०१९-05-15T15:19:25Z",
            "2016-13-01T00:00Z",
            "2023-02-29T00:00Z",
            "2016-07-07T24:00Z",
            "2016-7-7T20:22Z",
            "2016-07-07T20:22",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
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

    #[test]
    fn formats_and_parses_back() {
        assert_eq!(format_utc(1_467_922_920), "2016-07-07 20:22 UTC");
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        for t in [0, 951_782_400, 1_709_164_800, 4_102_444_800] {
            let text = format_utc(t).replace(' ', "T").replace("TUTC", "Z");
            assert_eq!(parse_utc(&text), Some(t), "{text}");
        }
    }
}
