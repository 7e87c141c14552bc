//! The order of a listing and the keyset condition that pages through it.

use sea_orm::sea_query::{Expr, NullOrdering, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ExprTrait, Order, QueryOrder, Select, Value};

use super::cursor::Cursor;
use crate::domain::{OrderDirection, OrderField};
use crate::error::AppError;
use crate::store::entities::task::{Column, Entity as Tasks};

/// One key of an order: a field and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: OrderField,
    pub direction: OrderDirection,
}

/// The order of a listing: its keys, then the id (in the direction of the last key), so
/// that no two tasks tie and a page never repeats or skips one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort(Vec<SortKey>);

impl Sort {
    /// Newest first.
    pub fn newest_first() -> Self {
        Self(vec![SortKey {
            field: OrderField::CreatedAt,
            direction: OrderDirection::Desc,
        }])
    }

    /// The given keys; newest first when there are none. A field named twice is refused.
    pub fn parse(orders: Vec<SortKey>) -> Result<Self, AppError> {
        if orders.is_empty() {
            return Ok(Self::newest_first());
        }
        for (index, order) in orders.iter().enumerate() {
            if orders[..index].iter().any(|o| o.field == order.field) {
                return Err(AppError::bad_input(
                    "`orderBy` names the same field more than once",
                ));
            }
        }
        Ok(Self(orders))
    }

    /// The keys, most significant first (the id that breaks ties is not among them).
    pub(super) fn keys(&self) -> &[SortKey] {
        &self.0
    }

    fn id_direction(&self) -> OrderDirection {
        self.0.last().map_or(OrderDirection::Desc, |o| o.direction)
    }

    /// A stable text form, carried in cursors so a cursor only serves the order it came from.
    pub(super) fn signature(&self) -> String {
        self.0
            .iter()
            .map(|o| format!("{:?}.{:?}", o.field, o.direction))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn column(field: OrderField) -> Column {
    match field {
        OrderField::CreatedAt => Column::CreatedAt,
        OrderField::UpdatedAt => Column::UpdatedAt,
        OrderField::DueAt => Column::DueAt,
        OrderField::Priority => Column::Priority,
        OrderField::Title => Column::Title,
    }
}

/// `select` in `sort` (or its reverse), NULL due times last in the forward order.
pub(super) fn ordered(mut select: Select<Tasks>, sort: &Sort, forward: bool) -> Select<Tasks> {
    let flip = |direction: OrderDirection| match (direction, forward) {
        (OrderDirection::Asc, true) | (OrderDirection::Desc, false) => Order::Asc,
        _ => Order::Desc,
    };
    for order in &sort.0 {
        let col = column(order.field);
        select = if matches!(col, Column::DueAt) {
            let nulls = if forward {
                NullOrdering::Last
            } else {
                NullOrdering::First
            };
            select.order_by_with_nulls(col, flip(order.direction), nulls)
        } else {
            select.order_by(col, flip(order.direction))
        };
    }
    select.order_by(Column::Id, flip(sort.id_direction()))
}

/// Rows strictly after `cursor` in `sort` (`forward`), or strictly before it. NULL due
/// times sort after every time in both directions.
pub(super) fn beyond(cursor: &Cursor, sort: &Sort, forward: bool) -> Condition {
    let keys = sort
        .0
        .iter()
        .zip(cursor.keys())
        .map(|(order, key)| (column(order.field), order.direction, key.value()))
        .chain([(Column::Id, sort.id_direction(), Some(cursor.id().into()))])
        .collect::<Vec<_>>();
    let mut any = Condition::any();
    for (index, (col, direction, value)) in keys.iter().enumerate() {
        let mut all = Condition::all();
        for (col, _, value) in &keys[..index] {
            all = all.add(match value {
                Some(value) => col.eq(value.clone()),
                None => col.is_null(),
            });
        }
        any = any.add(all.add(strictly_beyond(*col, *direction, value, forward)));
    }
    // A redundant bound on the first key lets the database seek in its index instead of
    // walking every earlier row: this keeps page 1,000 as cheap as page 1.
    let (col, direction, value) = &keys[0];
    match (value, matches!(col, Column::DueAt)) {
        (Some(value), false) => Condition::all()
            .add(if (*direction == OrderDirection::Asc) == forward {
                col.gte(value.clone())
            } else {
                col.lte(value.clone())
            })
            .add(any),
        _ => any,
    }
}

/// `col` strictly after (`forward`) or before `value` in `direction`, NULLs last.
fn strictly_beyond(
    col: Column,
    direction: OrderDirection,
    value: &Option<Value>,
    forward: bool,
) -> SimpleExpr {
    let ascending = direction == OrderDirection::Asc;
    match (value, forward) {
        (Some(value), true) => {
            let beyond = if ascending {
                col.gt(value.clone())
            } else {
                col.lt(value.clone())
            };
            if matches!(col, Column::DueAt) {
                beyond.or(col.is_null())
            } else {
                beyond
            }
        }
        (Some(value), false) if ascending => col.lt(value.clone()),
        (Some(value), false) => col.gt(value.clone()),
        (None, true) => Expr::cust("1 = 0"),
        (None, false) => col.is_not_null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_refuse_a_field_named_twice() {
        let key = SortKey {
            field: OrderField::Title,
            direction: OrderDirection::Asc,
        };
        assert!(Sort::parse(vec![key, key]).is_err());
        assert_eq!(Sort::parse(vec![]).unwrap(), Sort::newest_first());
    }
}
