// Nexmark q2: keeps the bids with `auction % 123 == 0` or `price > 500`. A record without an
// integer auction and price is rejected to the dead-letter sink.
#include "weir_udf.h"

static bool q2(const weir_record *bid, weir_error *error) {
    int64_t auction, price;
    if (!weir_json_int(bid->value, bid->value_len, "auction", &auction) ||
        !weir_json_int(bid->value, bid->value_len, "price", &price)) {
        return weir_reject(error, "not a bid with an integer auction and price");
    }
    return auction % 123 == 0 || price > 500;
}

WEIR_FILTER(q2)
