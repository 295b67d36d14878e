use super::*;

#[test]
fn finds_top_level_and_nested_fields_as_raw_json() {
    let value = br#"{"word":"caf\u00e9","n":3,"bid":{"price":12.5,"auction":7}}"#;
    assert_eq!(
        field(value, &FieldPath::parse("word")),
        Ok(r#""caf\u00e9""#)
    );
    assert_eq!(field(value, &FieldPath::parse("bid.auction")), Ok("7"));
    assert_eq!(
        number(value, &FieldPath::parse("bid.price")),
        Ok(Number::Float(12.5))
    );
    assert_eq!(number(value, &FieldPath::parse("n")), Ok(Number::Int(3)));
}

#[test]
fn names_missing_fields_and_bad_json() {
    assert_eq!(
        field(br#"{"a":1}"#, &FieldPath::parse("b")),
        Err(FieldError::Missing("b".into()))
    );
    assert_eq!(
        field(br#"{"a":1}"#, &FieldPath::parse("a.b")),
        Err(FieldError::Missing("a.b".into()))
    );
    assert!(matches!(
        field(b"{not json", &FieldPath::parse("a")),
        Err(FieldError::NotJson(_))
    ));
    assert!(matches!(
        number(br#"{"a":"x"}"#, &FieldPath::parse("a")),
        Err(FieldError::NotNumber { .. })
    ));
    assert_eq!(
        number(br#"{"a":"42"}"#, &FieldPath::parse("a")),
        Ok(Number::Int(42))
    );
}
