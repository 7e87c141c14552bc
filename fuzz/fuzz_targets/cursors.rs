//! Cursor decoding: any string a client sends as `after` or `before`, for any order of
//! tasks, and as `after` of the admin's list of accounts. None may panic, and a cursor
//! that decodes must encode to a string that decodes to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taskql::domain::{OrderDirection, OrderField};
use taskql::store::admin::AccountCursor;
use taskql::store::tasks::{Cursor, Sort, SortKey};

const FIELDS: [OrderField; 5] = [
    OrderField::CreatedAt,
    OrderField::UpdatedAt,
    OrderField::DueAt,
    OrderField::Priority,
    OrderField::Title,
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the order: up to three keys, each a field and a direction.
    let Some((&order, cursor)) = data.split_first() else {
        return;
    };
    if let Some(decoded) = std::str::from_utf8(cursor)
        .ok()
        .and_then(AccountCursor::decode)
    {
        assert_eq!(AccountCursor::decode(&decoded.encode()), Some(decoded));
    }
    let keys = (0..usize::from(order % 4))
        .map(|i| {
            let bits = order.rotate_right(2 + 3 * i as u32);
            SortKey {
                field: FIELDS[usize::from(bits) % FIELDS.len()],
                direction: if bits & 0x80 == 0 {
                    OrderDirection::Asc
                } else {
                    OrderDirection::Desc
                },
            }
        })
        .collect();
    let Ok(sort) = Sort::parse(keys) else {
        return;
    };
    let Ok(cursor) = std::str::from_utf8(cursor) else {
        return;
    };

    if let Some(decoded) = Cursor::decode(cursor, &sort) {
        let encoded = decoded.encode(&sort);
        assert_eq!(Cursor::decode(&encoded, &sort), Some(decoded));
    }
});
