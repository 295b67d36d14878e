// Aggregate: per key, the highest `price` of the JSON bids, as {"max_price": P}.
#include "weir_udf.h"

typedef struct {
    int64_t max_price;
} max_acc;

static void create(max_acc *acc) { acc->max_price = INT64_MIN; }

static bool add(max_acc *acc, const weir_record *bid, weir_error *error) {
    int64_t price;
    if (!weir_json_int(bid->value, bid->value_len, "price", &price)) {
        return weir_reject(error, "not a bid with an integer price");
    }
    if (price > acc->max_price) acc->max_price = price;
    return true;
}

static void merge(max_acc *acc, const max_acc *other) {
    if (other->max_price > acc->max_price) acc->max_price = other->max_price;
}

static void result(const max_acc *acc, weir_buffer *out) {
    weir_buffer_append_str(out, "{\"max_price\":");
    weir_buffer_append_int(out, acc->max_price);
    weir_buffer_append_str(out, "}");
}

WEIR_AGGREGATE(max_acc, create, add, merge, result)
