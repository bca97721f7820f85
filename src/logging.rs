//! Structured logs on stderr (text or JSON). Nothing secret is ever passed to a log call;
//! what identifies a person (an email) is masked first.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// `alice@example.com` → `a•••e@example.com`; anything without an `@` is masked whole.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let mut chars = local.chars();
            match (chars.next(), chars.last()) {
                (Some(first), Some(last)) => format!("{first}•••{last}@{domain}"),
                (Some(first), None) => format!("{first}•••@{domain}"),
                _ => format!("•••@{domain}"),
            }
        }
        None => "•••".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::mask_email;

    #[test]
    fn masks_the_local_part() {
        assert_eq!(mask_email("alice@example.com"), "a•••e@example.com");
        assert_eq!(mask_email("a@example.com"), "a•••@example.com");
        assert_eq!(mask_email("@example.com"), "•••@example.com");
        assert_eq!(mask_email("not an email"), "•••");
    }
}
