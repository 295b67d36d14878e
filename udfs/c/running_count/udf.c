// Keyed state: after a `key_by`, emits for each record how many records of its key have been
// seen so far (this one included), as {"key":"<key>","count":N} — like udfs/rust/running_count.
#include "weir_udf.h"

static bool running_count(const weir_record *record, weir_buffer *out, weir_error *error) {
    (void)error;
    weir_buffer seen = {0};
    uint64_t count = 0;
    if (weir_state_get(record, "count", &seen) && seen.len == sizeof count) {
        memcpy(&count, seen.data, sizeof count);
    }
    free(seen.data);
    count += 1;
    weir_state_set(record, "count", &count, sizeof count);
    weir_buffer_append_str(out, "{\"key\":\"");
    weir_buffer_append(out, record->key, record->key ? record->key_len : 0);
    weir_buffer_append_str(out, "\",\"count\":");
    weir_buffer_append_int(out, (int64_t)count);
    weir_buffer_append_str(out, "}");
    return true;
}

WEIR_MAP(running_count)
