//! Word splitter (flat_map): a line of text becomes one `{"word": "<w>"}` record per word, where a
//! word is a maximal run of alphanumeric characters, lowercased. Alphanumeric characters never
//! need escaping in JSON, so the output is built directly.

use weir_sdk::Record;

#[weir_sdk::flat_map]
fn split_words(line: Record) -> Result<Vec<String>, String> {
    let text = line.value_str().map_err(|e| format!("line is not UTF-8: {e}"))?;
    Ok(text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| format!("{{\"word\":\"{}\"}}", word.to_lowercase()))
        .collect())
}
