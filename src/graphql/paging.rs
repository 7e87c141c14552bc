//! What every connection shares (GraphQL Cursor Connections): page sizes and `PageInfo`.

use async_graphql::SimpleObject;

use crate::error::AppError;

/// Page size when `first` is not given.
const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page served; larger requests are cut to this size.
const MAX_PAGE_SIZE: u64 = 100;

/// The number of items a page holds for a `first` or `last` argument (negative counts as
/// empty; resolvers refuse it before it matters).
pub fn page_size(count: Option<i32>) -> u64 {
    count.map_or(DEFAULT_PAGE_SIZE, |n| {
        u64::try_from(n).unwrap_or(0).min(MAX_PAGE_SIZE)
    })
}

/// The size of a forward page; BAD_USER_INPUT for a negative `first`.
pub fn first(first: Option<i32>) -> Result<u64, AppError> {
    match first {
        Some(n) if n < 0 => Err(AppError::bad_input("`first` must not be negative")),
        first => Ok(page_size(first)),
    }
}

/// Where a page sits in the whole list.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// More items follow this page.
    pub has_next_page: bool,
    /// Items precede this page.
    pub has_previous_page: bool,
    /// Cursor of the first item of the page; null for an empty page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of the page; null for an empty page.
    pub end_cursor: Option<String>,
}

/// A forward page as a connection: its edges (each item with its cursor), its nodes and
/// its `PageInfo`. `after` says whether it continues an earlier page.
pub fn forward_page<T, N: From<T> + Clone, E>(
    items: Vec<T>,
    has_next_page: bool,
    after: bool,
    cursor: impl Fn(&T) -> String,
    edge: impl Fn(String, N) -> E,
) -> (Vec<E>, Vec<N>, PageInfo) {
    let cursors: Vec<String> = items.iter().map(cursor).collect();
    let page_info = PageInfo {
        has_next_page,
        has_previous_page: after,
        start_cursor: cursors.first().cloned(),
        end_cursor: cursors.last().cloned(),
    };
    let (edges, nodes) = items
        .into_iter()
        .zip(cursors)
        .map(|(item, cursor)| {
            let node = N::from(item);
            (edge(cursor, node.clone()), node)
        })
        .unzip();
    (edges, nodes, page_info)
}
