//! The attribute macros of weir-sdk. Each keeps the user's item as it is and adds the export of
//! the matching `weir:udf` interface, calling the item through weir-sdk's batch loops.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Item, ItemFn, parse_macro_input};

/// Exports a function `fn(Record) -> T` as a map (`weir:udf/transform`).
#[proc_macro_attribute]
pub fn map(_args: TokenStream, item: TokenStream) -> TokenStream {
    transform(item, quote!(run_map))
}

/// Exports a function `fn(Record) -> bool` as a filter (`weir:udf/transform`).
#[proc_macro_attribute]
pub fn filter(_args: TokenStream, item: TokenStream) -> TokenStream {
    transform(item, quote!(run_filter))
}

/// Exports a function `fn(Record) -> Vec<T>` as a flat_map (`weir:udf/transform`).
#[proc_macro_attribute]
pub fn flat_map(_args: TokenStream, item: TokenStream) -> TokenStream {
    transform(item, quote!(run_flat_map))
}

/// Exports a function `fn(&[Record]) -> Vec<T>` as a whole-window function: called once per
/// fired window with its records (each timestamped with the window's last millisecond).
#[proc_macro_attribute]
pub fn window(_args: TokenStream, item: TokenStream) -> TokenStream {
    transform(item, quote!(run_window))
}

/// Exports a typed function `fn(A, B, …) -> R` as a SQL scalar function (`weir sql`'s
/// `CREATE FUNCTION name AS 'module' LANGUAGE WASM`): SQL passes the arguments of each row as a
/// JSON array; each is read as its parameter's type (`i64`, `f64`, `bool`, `String`, or an
/// `Option` of one for NULL), and the result (the same types, or a `Result` whose `Err` rejects
/// the row) is written back as JSON. An argument of another type rejects the row, naming it.
#[proc_macro_attribute]
pub fn scalar(_args: TokenStream, item: TokenStream) -> TokenStream {
    typed_call(
        item,
        quote!(run_map),
        (
            quote!(::weir_sdk::json::IntoJson::into_json),
            quote!(::std::vec::Vec<u8>),
            quote!(::core::convert::identity),
        ),
    )
}

/// Exports a typed function `fn(A, B, …) -> Vec<R>` as a SQL table function, joined to each
/// row by `LATERAL TABLE(name(…)) AS t(c1, c2)`: its arguments are read as for [`scalar`], and
/// each item it returns is a row (a value for one column, a tuple for several); a `Result`
/// whose `Err` rejects the input row.
#[proc_macro_attribute]
pub fn table_function(_args: TokenStream, item: TokenStream) -> TokenStream {
    typed_call(
        item,
        quote!(run_flat_map),
        (
            quote!(::weir_sdk::json::TableRows::into_rows),
            quote!(::std::vec::Vec<::std::vec::Vec<u8>>),
            quote!((|signature| ::std::vec![signature])),
        ),
    )
}

/// The export of a typed SQL function: its arguments read from each record's JSON array, its
/// result written by `write` (as an `output`) and the batch run by `runner`. Asked for its
/// signature (`weir sql` does, at plan time), it answers its parameters' SQL types, as an
/// output made by `describe`.
fn typed_call(
    item: TokenStream,
    runner: proc_macro2::TokenStream,
    (write, output, describe): (
        proc_macro2::TokenStream,
        proc_macro2::TokenStream,
        proc_macro2::TokenStream,
    ),
) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    let name = &function.sig.ident;
    let sql_name = name.to_string();
    let mut types = Vec::new();
    for input in &function.sig.inputs {
        match input {
            syn::FnArg::Typed(typed) => types.push((*typed.ty).clone()),
            syn::FnArg::Receiver(receiver) => {
                return syn::Error::new_spanned(receiver, "a SQL function takes no `self`")
                    .to_compile_error()
                    .into();
            }
        }
    }
    let count = types.len();
    let indices = 0..count;
    quote! {
        #function
        const _: () = {
            fn __weir_call(
                record: ::weir_sdk::Record,
            ) -> ::core::result::Result<#output, ::std::string::String> {
                if ::weir_sdk::json::is_signature_request(record.value()) {
                    let types = [#(<#types as ::weir_sdk::json::FromJson>::SQL_TYPE),*];
                    return ::core::result::Result::Ok(#describe(::weir_sdk::json::signature(&types)));
                }
                let args = ::weir_sdk::json::arguments(record.value(), #sql_name, #count)?;
                let result = #name(#(::weir_sdk::json::argument::<#types>(&args, #indices, #sql_name)?),*);
                #write(result)
            }
            struct __WeirUdf;
            impl ::weir_sdk::__private::TransformGuest for __WeirUdf {
                fn process(input: ::weir_sdk::__private::TransformBatch) -> ::weir_sdk::__private::TransformOutput {
                    ::weir_sdk::__private::#runner(input, __weir_call)
                }
            }
            ::weir_sdk::bindings::transform::export_transform!(__WeirUdf with_types_in ::weir_sdk::bindings::transform);
        };
    }
    .into()
}

fn transform(item: TokenStream, runner: proc_macro2::TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    let name = &function.sig.ident;
    quote! {
        #function
        const _: () = {
            struct __WeirUdf;
            impl ::weir_sdk::__private::TransformGuest for __WeirUdf {
                fn process(input: ::weir_sdk::__private::TransformBatch) -> ::weir_sdk::__private::TransformOutput {
                    ::weir_sdk::__private::#runner(input, #name)
                }
            }
            ::weir_sdk::bindings::transform::export_transform!(__WeirUdf with_types_in ::weir_sdk::bindings::transform);
        };
    }
    .into()
}

/// Exports a function `fn(Record) -> K` (K: bytes or text) as a key selector.
#[proc_macro_attribute]
pub fn key_selector(_args: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    let name = &function.sig.ident;
    quote! {
        #function
        const _: () = {
            struct __WeirUdf;
            impl ::weir_sdk::__private::KeyGuest for __WeirUdf {
                fn select_keys(input: ::weir_sdk::__private::KeyBatch) -> ::weir_sdk::__private::KeysOutput {
                    ::weir_sdk::__private::run_key_selector(input, #name)
                }
            }
            ::weir_sdk::bindings::key::export_key_selector!(__WeirUdf with_types_in ::weir_sdk::bindings::key);
        };
    }
    .into()
}

/// Exports a type implementing `weir_sdk::Aggregate` as an aggregate function.
#[proc_macro_attribute]
pub fn aggregate(_args: TokenStream, item: TokenStream) -> TokenStream {
    export_aggregate(item, "aggregate", |name| quote!(#name))
}

/// Exports a type implementing `weir_sdk::AggregateFunction` as a SQL aggregate function with
/// typed arguments.
#[proc_macro_attribute]
pub fn aggregate_function(_args: TokenStream, item: TokenStream) -> TokenStream {
    export_aggregate(
        item,
        "aggregate_function",
        |name| quote!(::weir_sdk::SqlAggregate<#name>),
    )
}

fn export_aggregate(
    item: TokenStream,
    attribute: &str,
    aggregate: impl Fn(&syn::Ident) -> proc_macro2::TokenStream,
) -> TokenStream {
    let item = parse_macro_input!(item as Item);
    let name = match &item {
        Item::Struct(s) => &s.ident,
        Item::Enum(e) => &e.ident,
        _ => {
            let message = format!(
                "#[weir_sdk::{attribute}] goes on the struct or enum that implements the trait"
            );
            return syn::Error::new_spanned(&item, message)
                .to_compile_error()
                .into();
        }
    };
    let aggregate = aggregate(name);
    quote! {
        #item
        const _: () = {
            struct __WeirUdf;
            impl ::weir_sdk::__private::AggregateGuest for __WeirUdf {
                fn create_accumulator() -> ::std::vec::Vec<u8> {
                    ::weir_sdk::__private::create_accumulator::<#aggregate>()
                }
                fn add(
                    accumulators: ::weir_sdk::__private::AggregateBlobs,
                    groups: ::std::vec::Vec<u32>,
                    input: ::weir_sdk::__private::AggregateBatch,
                ) -> ::weir_sdk::__private::AddOutput {
                    ::weir_sdk::__private::add::<#aggregate>(accumulators, groups, input)
                }
                fn merge(
                    left: ::weir_sdk::__private::AggregateBlobs,
                    right: ::weir_sdk::__private::AggregateBlobs,
                ) -> ::weir_sdk::__private::AggregateBlobs {
                    ::weir_sdk::__private::merge::<#aggregate>(left, right)
                }
                fn get_result(accumulators: ::weir_sdk::__private::AggregateBlobs) -> ::weir_sdk::__private::AggregateBlobs {
                    ::weir_sdk::__private::get_result::<#aggregate>(accumulators)
                }
            }
            ::weir_sdk::bindings::aggregate::export_aggregate!(__WeirUdf with_types_in ::weir_sdk::bindings::aggregate);
        };
    }
    .into()
}

/// Exports a type implementing `weir_sdk::Process` as a keyed process function.
#[proc_macro_attribute]
pub fn process(_args: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as Item);
    let name = match &item {
        Item::Struct(s) => &s.ident,
        Item::Enum(e) => &e.ident,
        _ => {
            return syn::Error::new_spanned(
                &item,
                "#[weir_sdk::process] goes on the struct or enum that implements weir_sdk::Process",
            )
            .to_compile_error()
            .into();
        }
    };
    quote! {
        #item
        const _: () = {
            struct __WeirUdf;
            impl ::weir_sdk::__private::ProcessGuest for __WeirUdf {
                fn process(input: ::weir_sdk::__private::TransformBatch) -> ::weir_sdk::__private::ProcessOutput {
                    ::weir_sdk::__private::run_process::<#name>(input)
                }
                fn on_timer(timers: ::weir_sdk::__private::TransformBatch) -> ::weir_sdk::__private::ProcessOutput {
                    ::weir_sdk::__private::run_on_timer::<#name>(timers)
                }
            }
            ::weir_sdk::bindings::process::export_process!(__WeirUdf with_types_in ::weir_sdk::bindings::process);
        };
    }
    .into()
}
