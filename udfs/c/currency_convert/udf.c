// Nexmark q1: a bid's price in euros (price * 908 / 1000, rounded down), appended to the JSON
// object as `price_eur`. A bid without an integer price is rejected to the dead-letter sink.
#include "weir_udf.h"

static bool convert(const weir_record *bid, weir_buffer *out, weir_error *error) {
    int64_t price;
    size_t end = bid->value_len;
    while (end > 0 && bid->value[end - 1] != '}') end--;
    if (end == 0 || !weir_json_int(bid->value, bid->value_len, "price", &price)) {
        return weir_reject(error, "not a bid with an integer price");
    }
    weir_buffer_append(out, bid->value, end - 1);
    weir_buffer_append_str(out, ",\"price_eur\":");
    weir_buffer_append_int(out, price * 908 / 1000);
    weir_buffer_append_str(out, "}");
    return true;
}

WEIR_MAP(convert)
