//! Cursor pages: fetch one row more than the page holds; the extra row only says that
//! another page exists, and the page's last row is where the next one starts.

use super::error::ApiError;

/// Page sizes of the paged lists (security events, status checks).
pub(crate) const DEFAULT_PAGE: usize = 50;
pub(crate) const MAX_PAGE: usize = 200;

/// The `limit` query parameter: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
pub(crate) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::field(
            "limit",
            format!("Use a number from 1 to {MAX_PAGE}."),
        ))
    }
}

/// Cuts `rows` (fetched with `limit + 1`) to `limit` and gives the next cursor, if any.
pub(crate) fn split<T>(
    mut rows: Vec<T>,
    limit: usize,
    cursor: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(cursor) } else { None };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_row_means_more() {
        assert_eq!(
            split(vec![5, 4, 3], 2, std::string::ToString::to_string),
            (vec![5, 4], Some("4".into()))
        );
        assert_eq!(
            split(vec![5, 4], 2, std::string::ToString::to_string),
            (vec![5, 4], None)
        );
        assert_eq!(
            split(Vec::<i32>::new(), 2, std::string::ToString::to_string),
            (vec![], None)
        );
        assert_eq!(page_limit(None).ok(), Some(DEFAULT_PAGE));
        assert!(page_limit(Some(0)).is_err() && page_limit(Some(MAX_PAGE + 1)).is_err());
    }
}
