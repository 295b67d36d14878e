// A SQL scalar function in C: `CREATE FUNCTION clamp_price AS 'udfs/c/clamp_price' LANGUAGE
// WASM`, then `SELECT clamp_price(price, 100, 900) FROM bids`: the price held within
// [low, high]. Each argument is read as a BIGINT; another type rejects the row, naming it.
#include "weir_udf.h"

static bool clamp_price(const weir_args *args, weir_buffer *result, weir_error *error) {
    int64_t price, low, high;
    if (!weir_arg_int(args, 0, &price, error) || !weir_arg_int(args, 1, &low, error) ||
        !weir_arg_int(args, 2, &high, error)) {
        return false;
    }
    if (low > high) return weir_reject(error, "clamp_price: low is above high");
    weir_buffer_append_int(result, price < low ? low : price > high ? high : price);
    return true;
}

WEIR_SCALAR(clamp_price, 3)
