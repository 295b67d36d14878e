//! A SQL scalar function in Rust: `CREATE FUNCTION to_euro AS 'udfs/rust/to_euro' LANGUAGE
//! WASM`, then `SELECT to_euro(price) FROM bids`. The typed signature is the whole interface:
//! weir-sdk reads the argument as a BIGINT and writes the result back.

#[weir_sdk::scalar]
fn to_euro(price: i64) -> Result<i64, String> {
    price
        .checked_mul(908)
        .map(|cents| cents / 1000)
        .ok_or_else(|| format!("price {price} is out of range"))
}
