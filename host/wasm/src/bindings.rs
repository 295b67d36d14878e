//! Host bindings generated from `proto/wit`, one module per world, and the moves between their
//! types and Weir's own (field moves, never copies).
#![allow(missing_docs, unreachable_pub, unused_qualifications, clippy::all)]

pub mod transform {
    wasmtime::component::bindgen!({
        path: "../../proto/wit",
        world: "transform-udf",
        imports: { default: trappable },
    });
}

pub mod process {
    wasmtime::component::bindgen!({
        path: "../../proto/wit",
        world: "process-udf",
        imports: { default: trappable },
        with: {
            "weir:udf/types": super::transform::weir::udf::types,
            "weir:udf/keyed-state": super::transform::weir::udf::keyed_state,
        },
    });
}

pub mod key {
    wasmtime::component::bindgen!({ path: "../../proto/wit", world: "key-udf" });
}

pub mod aggregate {
    wasmtime::component::bindgen!({ path: "../../proto/wit", world: "aggregate-udf" });
}

use weir_proto::{Blobs, RecordBatch};

macro_rules! layout_moves {
    ($world:ident) => {
        impl From<RecordBatch> for $world::weir::udf::types::Batch {
            fn from(b: RecordBatch) -> Self {
                Self {
                    data: b.data,
                    ends: b.ends,
                    timestamps: b.timestamps,
                    record_flags: b.flags,
                }
            }
        }

        impl From<$world::weir::udf::types::Batch> for RecordBatch {
            fn from(b: $world::weir::udf::types::Batch) -> Self {
                Self {
                    data: b.data,
                    ends: b.ends,
                    timestamps: b.timestamps,
                    flags: b.record_flags,
                }
            }
        }

        impl From<$world::weir::udf::types::Blobs> for Blobs {
            fn from(b: $world::weir::udf::types::Blobs) -> Self {
                Self {
                    data: b.data,
                    ends: b.ends,
                }
            }
        }

        impl From<Blobs> for $world::weir::udf::types::Blobs {
            fn from(b: Blobs) -> Self {
                Self {
                    data: b.data,
                    ends: b.ends,
                }
            }
        }

        impl From<$world::weir::udf::types::RecordError> for super::udf::RecordError {
            fn from(e: $world::weir::udf::types::RecordError) -> Self {
                Self {
                    index: e.index,
                    message: e.message,
                }
            }
        }
    };
}

layout_moves!(transform);
layout_moves!(key);
layout_moves!(aggregate);
