// Passes values through, but aborts on a value containing `poison` (a bug, not a bad record).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_udf.h"

static bool pass_unless_poison(const weir_record *record, weir_buffer *out, weir_error *error) {
    (void)error;
    for (size_t i = 0; i + 6 <= record->value_len; i++) {
        if (memcmp(record->value + i, "poison", 6) == 0) {
            fprintf(stderr, "poison record: %.*s\n", (int)record->value_len, (const char *)record->value);
            abort();
        }
    }
    weir_buffer_append(out, record->value, record->value_len);
    return true;
}

WEIR_MAP(pass_unless_poison)
