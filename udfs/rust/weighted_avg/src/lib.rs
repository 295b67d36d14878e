//! A SQL aggregate function in Rust: `CREATE FUNCTION weighted_avg AS 'udfs/rust/weighted_avg'
//! LANGUAGE WASM`, then `SELECT k, weighted_avg(price, quantity) … GROUP BY k, window_start,
//! window_end`. The typed arguments are the interface: weir-sdk reads each row's two BIGINTs,
//! the host keeps the accumulator per group and window.

use weir_sdk::AggregateFunction;

#[weir_sdk::aggregate_function]
struct WeightedAvg;

impl AggregateFunction for WeightedAvg {
    /// Σ value × weight and Σ weight.
    type Acc = (i64, i64);
    type Args = (i64, i64);
    type Output = Option<f64>;

    fn accumulate(acc: &mut (i64, i64), (value, weight): (i64, i64)) -> Result<(), String> {
        if weight < 0 {
            return Err(format!("weight {weight} is negative"));
        }
        let product = value
            .checked_mul(weight)
            .ok_or_else(|| format!("{value} × {weight} is out of range"))?;
        acc.0 = acc.0.checked_add(product).ok_or("the weighted sum is out of range")?;
        acc.1 = acc.1.checked_add(weight).ok_or("the sum of weights is out of range")?;
        Ok(())
    }

    fn merge(acc: &mut (i64, i64), other: (i64, i64)) {
        acc.0 = acc.0.saturating_add(other.0);
        acc.1 = acc.1.saturating_add(other.1);
    }

    fn result(&(sum, weights): &(i64, i64)) -> Option<f64> {
        (weights > 0).then(|| sum as f64 / weights as f64)
    }
}
