// Weir UDFs in C: a plain function over one record, and one macro line that exports it.
//
//     #include "weir_udf.h"
//
//     static bool keep(const weir_record *bid, weir_error *error) {
//         int64_t price;
//         if (!weir_json_int(bid->value, bid->value_len, "price", &price))
//             return weir_reject(error, "no integer `price`");
//         return price > 500;
//     }
//     WEIR_FILTER(keep)
//
// Weir calls a UDF once per batch of records, the batch as a few flat lists (the
// `weir:udf@0.1.0` WIT interface; `bindings/` holds wit-bindgen's C bindings for it).
// This header hides that layout: your function sees one `weir_record` at a time.
//
// - WEIR_MAP(fn):     bool fn(const weir_record *in, weir_buffer *out, weir_error *error)
//                     writes the output value into `out`.
// - WEIR_FILTER(fn):  bool fn(const weir_record *in, weir_error *error): keep or not.
// - WEIR_KEY_SELECTOR(fn): bool fn(const weir_record *in, weir_buffer *key, weir_error *error)
// - WEIR_SCALAR(fn, n): a SQL scalar function of n arguments (`CREATE FUNCTION name AS
//                     'module' LANGUAGE WASM`): bool fn(const weir_args *args, weir_buffer
//                     *result, weir_error *error) reads them with weir_arg_int / _double /
//                     _str / _is_null and writes its result as JSON (weir_buffer_append_int,
//                     weir_buffer_append_json_str).
// - WEIR_AGGREGATE(acc_t, create, add, merge, result): accumulators are plain structs,
//       void create(acc_t *acc)
//       bool add(acc_t *acc, const weir_record *in, weir_error *error)
//       void merge(acc_t *acc, const acc_t *other)
//       void result(const acc_t *acc, weir_buffer *out)
//
// `return weir_reject(error, "why")` rejects one record: it goes to the job's dead-letter
// sink and the batch carries on. A crash (abort(), a trap) is a bug: write what went
// wrong to stderr first, and Weir reports it like a Rust panic, naming the module, the
// export, the record and quoting what the UDF printed.
//
// `weir udf build` compiles `udf.c` with clang for wasm32-wasi against wasi-libc, with the
// right bindings, and makes the component (WASI preview1 adapter included).
#ifndef WEIR_UDF_H
#define WEIR_UDF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// `weir udf build` embeds the world's component type itself (from the WIT), so the object
// file wit-bindgen would link in for it is replaced by this empty definition.
#if defined(WEIR_WORLD_AGGREGATE)
#include "aggregate_udf.h"
typedef aggregate_udf_list_u8_t weir_list_u8;
typedef aggregate_udf_list_u32_t weir_list_u32;
void __component_type_object_force_link_aggregate_udf(void) {}
#elif defined(WEIR_WORLD_KEY)
#include "key_udf.h"
typedef key_udf_list_u8_t weir_list_u8;
typedef key_udf_list_u32_t weir_list_u32;
void __component_type_object_force_link_key_udf(void) {}
#else
#include "transform_udf.h"
typedef transform_udf_list_u8_t weir_list_u8;
typedef transform_udf_list_u32_t weir_list_u32;
void __component_type_object_force_link_transform_udf(void) {}
#endif

/// One input record. `key` is NULL when the record has no key.
typedef struct {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    int64_t timestamp;
    /// Its position in the batch being processed: how keyed state names its key to the host.
    uint32_t index;
} weir_record;

/// Why the current record is rejected (set it with weir_reject).
typedef struct {
    const char *message;
} weir_error;

/// A growable byte buffer the UDF writes its output into.
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} weir_buffer;

/// Rejects the current record with `message` (a string that outlives the call); returns false.
static inline bool weir_reject(weir_error *error, const char *message) {
    error->message = message;
    return false;
}

static void weir__reserve(weir_buffer *buffer, size_t more) {
    if (buffer->len + more <= buffer->cap) return;
    size_t cap = buffer->cap ? buffer->cap * 2 : 4096;
    while (cap < buffer->len + more) cap *= 2;
    uint8_t *data = realloc(buffer->data, cap);
    if (data == NULL) {
        fprintf(stderr, "weir_udf: out of memory growing a buffer to %zu bytes\n", cap);
        abort();
    }
    buffer->data = data;
    buffer->cap = cap;
}

/// Appends `len` bytes to `buffer`.
static inline void weir_buffer_append(weir_buffer *buffer, const void *bytes, size_t len) {
    weir__reserve(buffer, len);
    memcpy(buffer->data + buffer->len, bytes, len);
    buffer->len += len;
}

/// Appends a NUL-terminated string to `buffer`.
static inline void weir_buffer_append_str(weir_buffer *buffer, const char *text) {
    weir_buffer_append(buffer, text, strlen(text));
}

/// Appends a decimal integer to `buffer`.
static inline void weir_buffer_append_int(weir_buffer *buffer, int64_t n) {
    char text[24];
    int len = snprintf(text, sizeof text, "%lld", (long long)n);
    weir_buffer_append(buffer, text, (size_t)len);
}

/// Finds the integer value of top-level field `field` in a flat JSON object (no nested
/// object before it holding a field of the same name); false if absent or not an integer.
static inline bool weir_json_int(const uint8_t *json, size_t len, const char *field, int64_t *out) {
    size_t field_len = strlen(field);
    for (size_t i = 0; i + field_len + 2 < len; i++) {
        if (json[i] != '"' || memcmp(json + i + 1, field, field_len) != 0 || json[i + 1 + field_len] != '"') continue;
        size_t at = i + field_len + 2;
        while (at < len && (json[at] == ' ' || json[at] == ':')) at++;
        bool negative = at < len && json[at] == '-';
        if (negative) at++;
        if (at >= len || json[at] < '0' || json[at] > '9') return false;
        int64_t value = 0;
        while (at < len && json[at] >= '0' && json[at] <= '9') value = value * 10 + (json[at++] - '0');
        if (at < len && (json[at] == '.' || json[at] == 'e' || json[at] == 'E')) return false;
        *out = negative ? -value : value;
        return true;
    }
    return false;
}

/// Appends `text` as a JSON string (quotes added, `"`, `\\` and control characters escaped).
static inline void weir_buffer_append_json_str(weir_buffer *buffer, const char *text, size_t len) {
    weir_buffer_append(buffer, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            weir_buffer_append(buffer, escaped, 2);
        } else if (c < 0x20) {
            char escaped[8];
            int n = snprintf(escaped, sizeof escaped, "\\u%04x", c);
            weir_buffer_append(buffer, escaped, (size_t)n);
        } else {
            weir_buffer_append(buffer, &text[i], 1);
        }
    }
    weir_buffer_append(buffer, "\"", 1);
}

// ---- SQL functions: the arguments of one row ----

#define WEIR_MAX_ARGS 16

/// A SQL function's arguments for one row: the elements of the JSON array SQL passes.
typedef struct {
    /// The function's name, for errors.
    const char *function;
    const uint8_t *json;
    size_t count;
    size_t start[WEIR_MAX_ARGS], end[WEIR_MAX_ARGS];
} weir_args;

/// Room for a formatted rejection message (a Wasm instance runs one call at a time, and the
/// host copies the message as soon as the function returns).
static inline char *weir__message(void) {
    static char message[256];
    return message;
}

static inline size_t weir__skip_space(const uint8_t *json, size_t at, size_t len) {
    while (at < len && (json[at] == ' ' || json[at] == '\n' || json[at] == '\t' || json[at] == '\r')) at++;
    return at;
}

/// Splits `json`, a JSON array of scalars, into `args`; false if it is not one.
static inline bool weir__split_args(weir_args *args, const uint8_t *json, size_t len) {
    args->json = json;
    args->count = 0;
    size_t at = weir__skip_space(json, 0, len);
    if (at >= len || json[at] != '[') return false;
    at = weir__skip_space(json, at + 1, len);
    if (at < len && json[at] == ']') return true;
    while (at < len) {
        if (args->count == WEIR_MAX_ARGS) return false;
        size_t start = at;
        if (json[at] == '"') {
            for (at++; at < len && json[at] != '"'; at++) {
                if (json[at] == '\\') at++;
            }
            if (at >= len) return false;
            at++;
        } else {
            while (at < len && json[at] != ',' && json[at] != ']' && json[at] != ' ') at++;
        }
        args->start[args->count] = start;
        args->end[args->count] = at;
        args->count++;
        at = weir__skip_space(json, at, len);
        if (at >= len) return false;
        if (json[at] == ']') return true;
        if (json[at] != ',') return false;
        at = weir__skip_space(json, at + 1, len);
    }
    return false;
}

/// Rejects the row: argument `i` is not a `type`.
static inline bool weir__arg_error(const weir_args *args, size_t i, const char *type, weir_error *error) {
    int shown = i < args->count ? (int)(args->end[i] - args->start[i]) : 4;
    const char *text = i < args->count ? (const char *)args->json + args->start[i] : "none";
    snprintf(weir__message(), 256, "argument %zu of %s is %.*s, not a %s", i + 1, args->function,
             shown > 80 ? 80 : shown, text, type);
    return weir_reject(error, weir__message());
}

/// Whether argument `i` is SQL NULL.
static inline bool weir_arg_is_null(const weir_args *args, size_t i) {
    return i < args->count && args->end[i] - args->start[i] == 4 &&
           memcmp(args->json + args->start[i], "null", 4) == 0;
}

/// Argument `i` as a BIGINT; otherwise the row is rejected, naming the argument.
static inline bool weir_arg_int(const weir_args *args, size_t i, int64_t *out, weir_error *error) {
    if (i >= args->count) return weir__arg_error(args, i, "BIGINT", error);
    const uint8_t *text = args->json + args->start[i];
    size_t len = args->end[i] - args->start[i], at = text[0] == '-' ? 1 : 0;
    if (at >= len) return weir__arg_error(args, i, "BIGINT", error);
    uint64_t value = 0;
    for (; at < len; at++) {
        if (text[at] < '0' || text[at] > '9' || value > (UINT64_C(1) << 62))
            return weir__arg_error(args, i, "BIGINT", error);
        value = value * 10 + (uint64_t)(text[at] - '0');
    }
    *out = text[0] == '-' ? -(int64_t)value : (int64_t)value;
    return true;
}

/// Argument `i` as a DOUBLE (an integer is one too); otherwise the row is rejected.
static inline bool weir_arg_double(const weir_args *args, size_t i, double *out, weir_error *error) {
    if (i >= args->count) return weir__arg_error(args, i, "DOUBLE", error);
    char text[64];
    size_t len = args->end[i] - args->start[i];
    if (len == 0 || len >= sizeof text) return weir__arg_error(args, i, "DOUBLE", error);
    memcpy(text, args->json + args->start[i], len);
    text[len] = 0;
    char *end = NULL;
    *out = strtod(text, &end);
    if (end != text + len || !(text[0] == '-' || (text[0] >= '0' && text[0] <= '9')))
        return weir__arg_error(args, i, "DOUBLE", error);
    return true;
}

/// Argument `i` as a STRING: its text between the quotes (JSON escapes as written, not
/// decoded); otherwise the row is rejected.
static inline bool weir_arg_str(const weir_args *args, size_t i, const char **text, size_t *len,
                                weir_error *error) {
    if (i >= args->count || args->json[args->start[i]] != '"')
        return weir__arg_error(args, i, "STRING", error);
    *text = (const char *)args->json + args->start[i] + 1;
    *len = args->end[i] - args->start[i] - 2;
    return true;
}

// ---- batch plumbing (what the macros expand to call) ----

typedef struct {
    weir_buffer data;
    uint32_t *ends;
    int64_t *timestamps;
    uint8_t *flags;
    size_t count, cap;
} weir__output;

typedef struct {
    weir_udf_types_record_error_t *items;
    size_t len, cap;
} weir__errors;

static void weir__error(weir__errors *errors, uint32_t index, const char *message) {
    if (errors->len == errors->cap) {
        errors->cap = errors->cap ? errors->cap * 2 : 16;
        errors->items = realloc(errors->items, errors->cap * sizeof *errors->items);
        if (errors->items == NULL) abort();
    }
    size_t len = strlen(message);
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) abort();
    memcpy(copy, message, len);
    errors->items[errors->len].index = index;
    errors->items[errors->len].message.ptr = copy;
    errors->items[errors->len].message.len = len;
    errors->len++;
}

static void weir__push(weir__output *out, const weir_record *record, const uint8_t *value, size_t value_len) {
    if (out->count == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 256;
        out->ends = realloc(out->ends, out->cap * 2 * sizeof *out->ends);
        out->timestamps = realloc(out->timestamps, out->cap * sizeof *out->timestamps);
        out->flags = realloc(out->flags, out->cap);
        if (!out->ends || !out->timestamps || !out->flags) abort();
    }
    if (record->key) weir_buffer_append(&out->data, record->key, record->key_len);
    out->ends[2 * out->count] = (uint32_t)out->data.len;
    weir_buffer_append(&out->data, value, value_len);
    out->ends[2 * out->count + 1] = (uint32_t)out->data.len;
    out->timestamps[out->count] = record->timestamp;
    out->flags[out->count] = record->key ? 1 : 0;
    out->count++;
}

static void weir__finish(weir__output *out, weir_udf_types_batch_t *batch) {
    batch->data.ptr = out->data.data;
    batch->data.len = out->data.len;
    batch->ends.ptr = out->ends;
    batch->ends.len = out->count * 2;
    batch->timestamps.ptr = out->timestamps;
    batch->timestamps.len = out->count;
    batch->record_flags.ptr = out->flags;
    batch->record_flags.len = out->count;
}

/// Record `i` of `batch`.
static weir_record weir__record(const weir_udf_types_batch_t *batch, size_t i) {
    uint32_t start = i == 0 ? 0 : batch->ends.ptr[2 * i - 1];
    uint32_t key_end = batch->ends.ptr[2 * i];
    uint32_t value_end = batch->ends.ptr[2 * i + 1];
    weir_record record;
    record.key = (batch->record_flags.ptr[i] & 1) ? batch->data.ptr + start : NULL;
    record.key_len = key_end - start;
    record.value = batch->data.ptr + key_end;
    record.value_len = value_end - key_end;
    record.timestamp = batch->timestamps.ptr[i];
    record.index = (uint32_t)i;
    return record;
}

#if !defined(WEIR_WORLD_AGGREGATE) && !defined(WEIR_WORLD_KEY)
/// Keyed state (map, filter, flat_map after a `key_by`): appends the value of state `name` for
/// `record`'s key to `out`; false when there is none.
static inline bool weir_state_get(const weir_record *record, const char *name, weir_buffer *out) {
    transform_udf_string_t text = {(uint8_t *)name, strlen(name)};
    transform_udf_list_u8_t value = {0};
    if (!weir_udf_keyed_state_get(record->index, &text, &value)) return false;
    weir_buffer_append(out, value.ptr, value.len);
    free(value.ptr);
    return true;
}

/// Sets keyed state `name` for `record`'s key.
static inline void weir_state_set(const weir_record *record, const char *name, const void *bytes, size_t len) {
    transform_udf_string_t text = {(uint8_t *)name, strlen(name)};
    transform_udf_list_u8_t value = {(uint8_t *)bytes, len};
    weir_udf_keyed_state_set(record->index, &text, &value);
}

/// Removes keyed state `name` for `record`'s key.
static inline void weir_state_clear(const weir_record *record, const char *name) {
    transform_udf_string_t text = {(uint8_t *)name, strlen(name)};
    weir_udf_keyed_state_clear(record->index, &text);
}
#endif

static void weir__blobs(weir_udf_types_blobs_t *blobs, weir_buffer *data, uint32_t *ends, size_t count) {
    blobs->data.ptr = data->data;
    blobs->data.len = data->len;
    blobs->ends.ptr = ends;
    blobs->ends.len = count;
}

static const uint8_t *weir__blob(const weir_udf_types_blobs_t *blobs, size_t i, size_t *len) {
    uint32_t start = i == 0 ? 0 : blobs->ends.ptr[i - 1];
    *len = blobs->ends.ptr[i] - start;
    return blobs->data.ptr + start;
}

#define WEIR__TRANSFORM(body)                                                                   \
    void exports_weir_udf_transform_process(exports_weir_udf_transform_batch_t *input,         \
                                            exports_weir_udf_transform_transform_output_t *ret) { \
        weir__output out = {0};                                                                 \
        weir__errors errors = {0};                                                              \
        for (size_t i = 0; i < input->timestamps.len; i++) {                                    \
            weir_record record = weir__record(input, i);                                        \
            weir_error error = {0};                                                             \
            body                                                                                \
        }                                                                                       \
        weir__finish(&out, &ret->output);                                                       \
        ret->errors.ptr = errors.items;                                                         \
        ret->errors.len = errors.len;                                                           \
        weir_udf_types_batch_free(input);                                                       \
    }

/// Exports `fn` as a map: bool fn(const weir_record *, weir_buffer *out, weir_error *).
#define WEIR_MAP(fn)                                                                            \
    WEIR__TRANSFORM({                                                                           \
        weir_buffer value = {0};                                                                \
        if (fn(&record, &value, &error)) {                                                      \
            weir__push(&out, &record, value.data, value.len);                                   \
        } else {                                                                                \
            weir__error(&errors, (uint32_t)i, error.message ? error.message : "rejected");      \
        }                                                                                       \
        free(value.data);                                                                       \
    })

/// Exports `fn` as a SQL scalar function of `arity` arguments:
/// bool fn(const weir_args *, weir_buffer *result, weir_error *).
#define WEIR_SCALAR(fn, arity)                                                                  \
    static bool weir__scalar(const weir_record *in, weir_buffer *out, weir_error *error) {      \
        weir_args args = {0};                                                                   \
        args.function = #fn;                                                                    \
        if (!weir__split_args(&args, in->value, in->value_len))                                 \
            return weir_reject(error, #fn ": its arguments are not a JSON array of values");     \
        if (args.count != (arity)) {                                                            \
            snprintf(weir__message(), 256, "%s takes %d argument(s), not %zu", #fn,            \
                     (int)(arity), args.count);                                                 \
            return weir_reject(error, weir__message());                                         \
        }                                                                                       \
        return fn(&args, out, error);                                                           \
    }                                                                                           \
    WEIR_MAP(weir__scalar)

/// Exports `fn` as a filter: bool fn(const weir_record *, weir_error *).
#define WEIR_FILTER(fn)                                                                         \
    WEIR__TRANSFORM({                                                                           \
        if (fn(&record, &error)) {                                                              \
            weir__push(&out, &record, record.value, record.value_len);                          \
        } else if (error.message) {                                                             \
            weir__error(&errors, (uint32_t)i, error.message);                                   \
        }                                                                                       \
    })

/// Exports `fn` as a key selector: bool fn(const weir_record *, weir_buffer *key, weir_error *).
#define WEIR_KEY_SELECTOR(fn)                                                                   \
    void exports_weir_udf_key_selector_select_keys(exports_weir_udf_key_selector_batch_t *input, \
                                                   exports_weir_udf_key_selector_keys_output_t *ret) { \
        weir_buffer keys = {0};                                                                 \
        uint32_t *ends = malloc((input->timestamps.len ? input->timestamps.len : 1) * sizeof *ends); \
        size_t count = 0;                                                                       \
        weir__errors errors = {0};                                                              \
        if (ends == NULL) abort();                                                              \
        for (size_t i = 0; i < input->timestamps.len; i++) {                                    \
            weir_record record = weir__record(input, i);                                        \
            weir_error error = {0};                                                             \
            weir_buffer key = {0};                                                              \
            if (fn(&record, &key, &error)) {                                                    \
                weir_buffer_append(&keys, key.data, key.len);                                   \
                ends[count++] = (uint32_t)keys.len;                                             \
            } else {                                                                            \
                weir__error(&errors, (uint32_t)i, error.message ? error.message : "rejected");  \
            }                                                                                   \
            free(key.data);                                                                     \
        }                                                                                       \
        weir__blobs(&ret->keys, &keys, ends, count);                                            \
        ret->errors.ptr = errors.items;                                                         \
        ret->errors.len = errors.len;                                                           \
        weir_udf_types_batch_free(input);                                                       \
    }

/// Exports an aggregate over accumulators of type `acc_t` (kept by the host as raw bytes).
#define WEIR_AGGREGATE(acc_t, create, add, merge, result)                                       \
    static acc_t weir__load(const exports_weir_udf_aggregate_blobs_t *blobs, size_t i) {       \
        size_t len;                                                                             \
        const uint8_t *bytes = weir__blob(blobs, i, &len);                                      \
        acc_t acc;                                                                              \
        create(&acc);                                                                           \
        if (len == sizeof acc) memcpy(&acc, bytes, sizeof acc);                                 \
        return acc;                                                                             \
    }                                                                                           \
    static void weir__store(weir_buffer *data, uint32_t *ends, size_t i, const acc_t *acc) {   \
        weir_buffer_append(data, acc, sizeof *acc);                                             \
        ends[i] = (uint32_t)data->len;                                                          \
    }                                                                                           \
    void exports_weir_udf_aggregate_create_accumulator(weir_list_u8 *ret) {                    \
        acc_t acc;                                                                              \
        memset(&acc, 0, sizeof acc);                                                            \
        create(&acc);                                                                           \
        ret->ptr = malloc(sizeof acc);                                                          \
        if (ret->ptr == NULL) abort();                                                          \
        memcpy(ret->ptr, &acc, sizeof acc);                                                     \
        ret->len = sizeof acc;                                                                  \
    }                                                                                           \
    void exports_weir_udf_aggregate_add(exports_weir_udf_aggregate_blobs_t *accumulators,      \
                                        weir_list_u32 *groups,                                  \
                                        exports_weir_udf_aggregate_batch_t *input,              \
                                        exports_weir_udf_aggregate_add_output_t *ret) {         \
        size_t n = accumulators->ends.len;                                                      \
        acc_t *accs = malloc((n ? n : 1) * sizeof *accs);                                       \
        uint32_t *ends = malloc((n ? n : 1) * sizeof *ends);                                    \
        weir_buffer data = {0};                                                                 \
        weir__errors errors = {0};                                                              \
        if (accs == NULL || ends == NULL) abort();                                              \
        for (size_t a = 0; a < n; a++) accs[a] = weir__load(accumulators, a);                   \
        for (size_t i = 0; i < input->timestamps.len; i++) {                                    \
            weir_record record = weir__record(input, i);                                        \
            weir_error error = {0};                                                             \
            acc_t before = accs[groups->ptr[i]];                                                \
            if (!add(&accs[groups->ptr[i]], &record, &error)) {                                 \
                accs[groups->ptr[i]] = before;                                                  \
                weir__error(&errors, (uint32_t)i, error.message ? error.message : "rejected");  \
            }                                                                                   \
        }                                                                                       \
        for (size_t a = 0; a < n; a++) weir__store(&data, ends, a, &accs[a]);                   \
        free(accs);                                                                             \
        weir__blobs(&ret->accumulators, &data, ends, n);                                        \
        ret->errors.ptr = errors.items;                                                         \
        ret->errors.len = errors.len;                                                           \
        weir_udf_types_blobs_free(accumulators);                                                \
        aggregate_udf_list_u32_free(groups);                                                    \
        weir_udf_types_batch_free(input);                                                       \
    }                                                                                           \
    void exports_weir_udf_aggregate_merge(exports_weir_udf_aggregate_blobs_t *left,            \
                                          exports_weir_udf_aggregate_blobs_t *right,           \
                                          exports_weir_udf_aggregate_blobs_t *ret) {           \
        size_t n = left->ends.len;                                                              \
        uint32_t *ends = malloc((n ? n : 1) * sizeof *ends);                                    \
        weir_buffer data = {0};                                                                 \
        if (ends == NULL) abort();                                                              \
        for (size_t a = 0; a < n; a++) {                                                        \
            acc_t acc = weir__load(left, a);                                                    \
            acc_t other = weir__load(right, a);                                                 \
            merge(&acc, &other);                                                                \
            weir__store(&data, ends, a, &acc);                                                  \
        }                                                                                       \
        weir__blobs(ret, &data, ends, n);                                                       \
        weir_udf_types_blobs_free(left);                                                        \
        weir_udf_types_blobs_free(right);                                                       \
    }                                                                                           \
    void exports_weir_udf_aggregate_get_result(exports_weir_udf_aggregate_blobs_t *accumulators, \
                                               exports_weir_udf_aggregate_blobs_t *ret) {      \
        size_t n = accumulators->ends.len;                                                      \
        uint32_t *ends = malloc((n ? n : 1) * sizeof *ends);                                    \
        weir_buffer data = {0};                                                                 \
        if (ends == NULL) abort();                                                              \
        for (size_t a = 0; a < n; a++) {                                                        \
            acc_t acc = weir__load(accumulators, a);                                            \
            result(&acc, &data);                                                                \
            ends[a] = (uint32_t)data.len;                                                       \
        }                                                                                       \
        weir__blobs(ret, &data, ends, n);                                                       \
        weir_udf_types_blobs_free(accumulators);                                                \
    }

#endif
