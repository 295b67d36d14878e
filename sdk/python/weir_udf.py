"""Weir UDFs in Python: a plain function (or class) with one decorator.

    import weir_udf

    @weir_udf.map
    def convert(bid: dict) -> dict:
        bid["price_eur"] = bid["price"] * 908 // 1000
        return bid

Weir calls a UDF once per batch of records, the batch as a few flat lists (the
``weir:udf@0.1.0`` WIT interface); this module hides that layout. By default a
record's value is parsed as JSON and your function sees the parsed value (a dict
for a JSON object) and returns a value that is written back as compact JSON; a
``str`` is written as UTF-8 text and ``bytes`` as they are. With ``raw=True`` your
function sees a :class:`Record` (key, value bytes, timestamp) instead.

``raise weir_udf.RecordError("why")`` rejects one record: it goes to the job's
dead-letter sink and the batch carries on. A value that is not JSON is rejected
the same way. Any other exception is a bug in the UDF: its traceback is printed
and the call traps, and Weir reports it like a Rust panic, naming the module, the
export and the record that caused it.

Decorators: :func:`map`, :func:`filter`, :func:`flat_map`, :func:`key_selector`
and :func:`scalar` and :func:`table_function` (SQL functions with typed parameters) on functions, :func:`aggregate` on a class with ``create``, ``add``, ``merge`` and
``result`` methods. Each defines the export class componentize-py looks for in
your module (``Transform``, ``KeySelector`` or ``Aggregate``).
"""

import json
import sys
import traceback

__all__ = [
    "Record",
    "RecordError",
    "get_state",
    "set_state",
    "clear_state",
    "map",
    "scalar",
    "table_function",
    "filter",
    "flat_map",
    "key_selector",
    "aggregate",
]


class RecordError(Exception):
    """Raise it to reject the current record (it goes to the dead-letter sink)."""


class Record:
    """One input record: ``key`` (bytes or None), ``value`` (bytes), ``timestamp`` (ms)."""

    __slots__ = ("key", "value", "timestamp")

    def __init__(self, key, value, timestamp):
        self.key = key
        self.value = value
        self.timestamp = timestamp

    def json(self):
        """The value parsed as JSON (a RecordError if it is not JSON)."""
        return _parse(self.value)


# The index of the record being processed: how keyed state names its key to the host.
_current = [0]

# Imported when the module loads (componentize-py snapshots what is imported then); only the
# transform world has keyed state.
try:
    from wit_world.imports import keyed_state as _keyed_state
except ImportError:
    _keyed_state = None


def _state():
    if _keyed_state is None:
        raise RuntimeError("keyed state is only available to map, filter and flat_map UDFs")
    return _keyed_state


def get_state(name):
    """The value (bytes) of keyed state `name` for the current record's key, or None.

    Keyed state needs a `key_by` step before this one; Weir keeps it per key and name."""
    return _state().get(_current[0], name)


def set_state(name, value):
    """Sets keyed state `name` (bytes) for the current record's key."""
    _state().set(_current[0], name, bytes(value))


def clear_state(name):
    """Removes keyed state `name` (value, list or map) for the current record's key."""
    _state().clear(_current[0], name)


def list_append(name, item):
    """Appends `item` (bytes) to list state `name` of the current record's key."""
    _state().list_append(_current[0], name, bytes(item))


def list_state(name):
    """The items (bytes) of list state `name` of the current record's key, oldest first."""
    return _state().list_get(_current[0], name)


def map_put(name, map_key, value):
    """Sets entry `map_key` (bytes) of map state `name` of the current record's key."""
    _state().map_put(_current[0], name, bytes(map_key), bytes(value))


def map_get(name, map_key):
    """Entry `map_key` of map state `name` of the current record's key, or None."""
    return _state().map_get(_current[0], name, bytes(map_key))


def map_remove(name, map_key):
    """Removes entry `map_key` of map state `name` of the current record's key."""
    _state().map_remove(_current[0], name, bytes(map_key))


def map_entries(name):
    """Every (map key, value) of map state `name` of the current record's key, by map key."""
    return _state().map_entries(_current[0], name)


def _parse(value):
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError) as e:
        raise RecordError(f"not JSON: {e}") from None


def _encode(value):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def _records(batch):
    """(index, key, value, timestamp) of every record of a WIT batch."""
    data, ends, flags = batch.data, batch.ends, batch.record_flags
    start = 0
    for i, timestamp in enumerate(batch.timestamps):
        key_end, value_end = ends[2 * i], ends[2 * i + 1]
        key = data[start:key_end] if flags[i] & 1 else None
        _current[0] = i
        yield i, key, data[key_end:value_end], timestamp
        start = value_end


class _Output:
    """A batch being written, in the WIT layout."""

    def __init__(self):
        self.data = bytearray()
        self.ends = []
        self.timestamps = []
        self.flags = bytearray()

    def push(self, key, value, timestamp):
        if key is not None:
            self.data += key
        self.ends.append(len(self.data))
        self.data += value
        self.ends.append(len(self.data))
        self.timestamps.append(timestamp)
        self.flags.append(0 if key is None else 1)

    def batch(self, types):
        return types.Batch(bytes(self.data), self.ends, self.timestamps, bytes(self.flags))


def _blobs(types, items):
    data = bytearray()
    ends = []
    for item in items:
        data += item
        ends.append(len(data))
    return types.Blobs(bytes(data), ends)


def _unblob(blobs):
    start = 0
    for end in blobs.ends:
        yield blobs.data[start:end]
        start = end


def _bug(function, index, record_value):
    """Prints what the host quotes when the call traps: the UDF, the record, the traceback."""
    preview = bytes(record_value[:200]).decode("utf-8", "replace")
    print(
        f"weir_udf: `{function.__name__}` raised on record {index} ({preview!r}):\n"
        + traceback.format_exc(),
        file=sys.stderr,
        flush=True,
    )


def _export(function, name, cls):
    """Makes `cls` the export class `name` of the module defining `function`."""
    setattr(sys.modules[function.__module__], name, cls)
    return function


def _transform(function, raw, emit):
    from wit_world.exports import transform as exports
    from wit_world.imports import types

    def process(self, batch):
        out = _Output()
        errors = []
        for i, key, value, timestamp in _records(batch):
            try:
                argument = Record(key, value, timestamp) if raw else _parse(value)
                emit(function(argument), key, timestamp, out)
            except RecordError as e:
                errors.append(types.RecordError(i, str(e)))
            except Exception:
                _bug(function, i, value)
                raise
        return exports.TransformOutput(out.batch(types), errors)

    return _export(function, "Transform", type("Transform", (), {"process": process}))


def _emit_map(result, key, timestamp, out):
    if result is None:
        raise RecordError("the map returned None")
    out.push(key, _encode(result), timestamp)


def map(function=None, *, raw=False):
    """One output record per input record: what the function returns."""
    if function is None:
        return lambda f: map(f, raw=raw)
    return _transform(function, raw, _emit_map)


_SQL_TYPES = {int: "BIGINT", float: "DOUBLE", str: "STRING", bool: "BOOLEAN"}


def _sql_argument(function, index, value, annotation):
    """`value` as the annotated parameter type, or a RecordError naming the argument."""
    if value is None or annotation not in _SQL_TYPES:
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
        return value
    raise RecordError(
        f"argument {index + 1} of {function.__name__} is {json.dumps(value)}, not a {_SQL_TYPES[annotation]}"
    )


_SIGNATURE_REQUEST = {"weir:signature": True}


def _typed_call(function, result, rows=False):
    """A transform body calling `function` with each row's SQL arguments, checked against its
    parameters' annotations; `result` turns what it returns (a row's value, or with `rows` its
    rows) into what is emitted. Asked for its signature (`weir sql` does, at plan time), it
    answers its parameters' SQL types."""
    import inspect

    parameters = list(inspect.signature(function).parameters.values())
    signature = {"args": [_SQL_TYPES.get(p.annotation, "ANY") for p in parameters]}

    def call(args):
        if args == _SIGNATURE_REQUEST:
            return result([signature] if rows else signature)
        if not isinstance(args, list) or len(args) != len(parameters):
            raise RecordError(
                f"{function.__name__} takes {len(parameters)} argument(s), not {json.dumps(args)}"
            )
        typed = [
            _sql_argument(function, i, value, parameter.annotation)
            for i, (value, parameter) in enumerate(zip(args, parameters))
        ]
        return result(function(*typed))

    call.__name__ = function.__name__
    call.__module__ = function.__module__
    return call


def scalar(function):
    """A SQL scalar function (``CREATE FUNCTION name AS 'module' LANGUAGE WASM``): SQL passes
    each row's arguments as a JSON array; each is checked against its parameter's annotation
    (``int``, ``float``, ``str``, ``bool``; ``None`` is SQL NULL) and the result is written back
    as JSON."""
    call = _typed_call(function, lambda value: json.dumps(value, separators=(",", ":")))
    _transform(call, False, _emit_map)
    return function


def table_function(function):
    """A SQL table function (``LATERAL TABLE(name(…)) AS t(a, b)``): typed arguments as for
    :func:`scalar`; each item the function returns or yields is a row: a value for one column,
    a tuple or list for several (in the order ``AS t(…)`` names them), or a dict by name."""
    rows = lambda result: [json.dumps(row, separators=(",", ":")) for row in result or ()]
    _transform(_typed_call(function, rows, rows=True), False, _emit_flat)
    return function


def filter(function=None, *, raw=False):
    """Keeps the records for which the function returns true (unchanged)."""
    if function is None:
        return lambda f: filter(f, raw=raw)
    from wit_world.exports import transform as exports
    from wit_world.imports import types

    def process(self, batch):
        out = _Output()
        errors = []
        for i, key, value, timestamp in _records(batch):
            try:
                argument = Record(key, value, timestamp) if raw else _parse(value)
                if function(argument):
                    out.push(key, value, timestamp)
            except RecordError as e:
                errors.append(types.RecordError(i, str(e)))
            except Exception:
                _bug(function, i, value)
                raise
        return exports.TransformOutput(out.batch(types), errors)

    return _export(function, "Transform", type("Transform", (), {"process": process}))


def flat_map(function=None, *, raw=False):
    """Any number of output records per input: each item the function returns or yields."""
    if function is None:
        return lambda f: flat_map(f, raw=raw)
    return _transform(function, raw, _emit_flat)


def _emit_flat(result, key, timestamp, out):
    for item in result or ():
        out.push(key, _encode(item), timestamp)


def key_selector(function=None, *, raw=False):
    """The key of each record: what the function returns (str, bytes, int or JSON)."""
    if function is None:
        return lambda f: key_selector(f, raw=raw)
    from wit_world.exports import key_selector as exports
    from wit_world.imports import types

    def select_keys(self, batch):
        keys = []
        errors = []
        for i, key, value, timestamp in _records(batch):
            try:
                argument = Record(key, value, timestamp) if raw else _parse(value)
                selected = function(argument)
                keys.append(str(selected).encode() if isinstance(selected, int) else _encode(selected))
            except RecordError as e:
                errors.append(types.RecordError(i, str(e)))
            except Exception:
                _bug(function, i, value)
                raise
        return exports.KeysOutput(_blobs(types, keys), errors)

    return _export(function, "KeySelector", type("KeySelector", (), {"select_keys": select_keys}))


def aggregate(cls=None, *, raw=False):
    """An aggregate function: a class with ``create()``, ``add(acc, value)``, ``merge(a, b)``
    and ``result(acc)``. Accumulators are kept by the host as JSON, so they must be
    JSON-serialisable; ``add`` and ``merge`` return the new accumulator."""
    if cls is None:
        return lambda c: aggregate(c, raw=raw)
    from wit_world.exports import aggregate as exports
    from wit_world.imports import types

    udf = cls()

    def load(blob):
        return json.loads(blob)

    def create_accumulator(self):
        return _encode(udf.create())

    def add(self, accumulators, groups, batch):
        accs = [load(blob) for blob in _unblob(accumulators)]
        errors = []
        for i, key, value, timestamp in _records(batch):
            try:
                argument = Record(key, value, timestamp) if raw else _parse(value)
                accs[groups[i]] = udf.add(accs[groups[i]], argument)
            except RecordError as e:
                errors.append(types.RecordError(i, str(e)))
            except Exception:
                _bug(udf.add, i, value)
                raise
        return exports.AddOutput(_blobs(types, [_encode(acc) for acc in accs]), errors)

    def merge(self, left, right):
        merged = [udf.merge(load(a), load(b)) for a, b in zip(_unblob(left), _unblob(right))]
        return _blobs(types, [_encode(acc) for acc in merged])

    def get_result(self, accumulators):
        return _blobs(types, [_encode(udf.result(load(blob))) for blob in _unblob(accumulators)])

    methods = {
        "create_accumulator": create_accumulator,
        "add": add,
        "merge": merge,
        "get_result": get_result,
    }
    _export(udf.add, "Aggregate", type("Aggregate", (), methods))
    return cls
