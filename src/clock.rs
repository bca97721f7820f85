//! Wall-clock time as stored (Unix milliseconds) and as shown (RFC 3339, UTC).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC: how times are stored.
pub(crate) type UnixMs = i64;

pub(crate) fn now_ms() -> UnixMs {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// A file system time as stored (before the epoch counts as the epoch).
pub(crate) fn ms_of(time: std::time::SystemTime) -> UnixMs {
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_millis()).ok())
        .unwrap_or(0)
}

/// `2026-11-25T13:06:48.123Z`
pub(crate) fn rfc3339(ms: UnixMs) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// `2026-11-25T13:06:48.123Z` → `2026-11-25 13:06 UTC`, for pages.
pub(crate) fn display(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_minutes() {
        assert_eq!(display("2026-11-25T13:06:48.123Z"), "2026-11-25 13:06 UTC");
        assert_eq!(display("—"), "—");
    }

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.5Z");
    }
}
