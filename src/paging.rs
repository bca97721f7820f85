//! Cursor pages: fetch one row more than the page holds; the extra row only says that
//! another page exists, and the page's last row is where the next one starts.

/// Cuts `rows` (fetched with `limit + 1`) to `limit` and gives the next cursor, if any.
pub fn split<T>(
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
    use super::split;

    #[test]
    fn the_extra_row_means_more() {
        assert_eq!(
            split(vec![5, 4, 3], 2, |n| n.to_string()),
            (vec![5, 4], Some("4".into()))
        );
        assert_eq!(split(vec![5, 4], 2, |n| n.to_string()), (vec![5, 4], None));
        assert_eq!(
            split(Vec::<i32>::new(), 2, |n| n.to_string()),
            (vec![], None)
        );
    }
}
