//! The search syntax shared by both search endpoints: `field=op:value` filters (repeatable,
//! AND-ed), `page` and `perPage`. Every failure is a 400 that names the parameter.

use crate::error::{ApiError, ErrorCode};
use chrono::{DateTime, Utc};
use td_store::query::{Filter, FilterValue, Op, PageRequest};

pub const DEFAULT_PER_PAGE: u64 = 20;
pub const MAX_PER_PAGE: u64 = 100;
const MAX_PAGE: u64 = 1_000_000;
const MAX_VALUE_LEN: usize = 256;
const MAX_LIST_LEN: usize = 100;
/// Filters per search, and repeats of one parameter (a range needs two: `gte:` and `lt:`).
pub const MAX_FILTERS: usize = 16;
pub const MAX_REPEATS: usize = 4;

/// The paging an endpoint allows.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub default_per_page: u64,
    pub max_per_page: u64,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            default_per_page: DEFAULT_PER_PAGE,
            max_per_page: MAX_PER_PAGE,
        }
    }
}

/// How a parameter's values are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    Int,
    Uuid,
    Time,
    /// One of a fixed set of upper-case names.
    OneOf(&'static [&'static str]),
}

/// One filter an endpoint accepts.
#[derive(Debug, Clone, Copy)]
pub struct FilterSpec<F> {
    pub name: &'static str,
    pub field: F,
    pub kind: ValueKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest<F> {
    pub filters: Vec<Filter<F>>,
    pub page: PageRequest,
}

fn bad(code: ErrorCode, message: String) -> ApiError {
    ApiError::new(code, message)
}

fn parse_op(raw: &str) -> Option<Op> {
    Some(match raw {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        "in" => Op::In,
        "nin" => Op::Nin,
        _ => return None,
    })
}

/// Splits `op:value`. A prefix of 2 to 4 lower-case letters before the first `:` is an
/// operator (and an unknown one is an error); anything else is a plain `eq` value, so
/// timestamps and ids such as `NSR:StopPlace:1` need no prefix.
fn split_operator(name: &str, raw: &str) -> Result<(Op, String), ApiError> {
    if let Some((prefix, rest)) = raw.split_once(':') {
        if (2..=4).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_lowercase()) {
            return match parse_op(prefix) {
                Some(op) => Ok((op, rest.to_owned())),
                None => Err(bad(
                    ErrorCode::UnknownOperator,
                    format!(
                        "Parameter `{name}`: unknown operator `{prefix}`. Use one of eq, ne, gt, gte, lt, lte, in, nin (e.g. `{name}=gte:value`)."
                    ),
                )),
            };
        }
    }
    Ok((Op::Eq, raw.to_owned()))
}

fn parse_value(name: &str, kind: ValueKind, raw: &str) -> Result<FilterValue, ApiError> {
    let invalid = |what: &str| {
        bad(
            ErrorCode::InvalidParameter,
            format!("Parameter `{name}`: `{}` is not {what}.", truncate(raw)),
        )
    };
    if raw.is_empty() {
        return Err(bad(
            ErrorCode::InvalidParameter,
            format!("Parameter `{name}`: the value is empty."),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(bad(
            ErrorCode::InvalidParameter,
            format!("Parameter `{name}`: the value contains a control character."),
        ));
    }
    if raw.len() > MAX_VALUE_LEN {
        return Err(bad(
            ErrorCode::InvalidParameter,
            format!("Parameter `{name}`: a value may be at most {MAX_VALUE_LEN} bytes."),
        ));
    }
    Ok(match kind {
        ValueKind::Text => FilterValue::Text(raw.to_owned()),
        ValueKind::Int => {
            FilterValue::Int(raw.parse::<i64>().map_err(|_| invalid("a whole number"))?)
        }
        ValueKind::Uuid => {
            FilterValue::Uuid(uuid::Uuid::parse_str(raw).map_err(|_| invalid("a UUID"))?)
        }
        ValueKind::Time => FilterValue::Time(
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| invalid("an RFC 3339 timestamp such as 2027-01-31T12:00:00Z"))?
                .with_timezone(&Utc),
        ),
        ValueKind::OneOf(allowed) => {
            if !allowed.contains(&raw) {
                return Err(bad(
                    ErrorCode::InvalidParameter,
                    format!(
                        "Parameter `{name}`: `{}` is not one of {}.",
                        truncate(raw),
                        allowed.join(", ")
                    ),
                ));
            }
            FilterValue::Text(raw.to_owned())
        }
    })
}

fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn parse_number(name: &str, raw: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            bad(
                ErrorCode::InvalidPaging,
                format!(
                    "Parameter `{name}`: `{}` must be a whole number from {min} to {max}.",
                    truncate(raw)
                ),
            )
        })
}

/// Parses a raw query string against the filters an endpoint accepts, with the default
/// paging.
pub fn parse<F: Copy>(
    query: Option<&str>,
    specs: &[FilterSpec<F>],
) -> Result<SearchRequest<F>, ApiError> {
    parse_paged(query, specs, Paging::default())
}

/// Parses a raw query string against the filters an endpoint accepts and its paging.
pub fn parse_paged<F: Copy>(
    query: Option<&str>,
    specs: &[FilterSpec<F>],
    paging: Paging,
) -> Result<SearchRequest<F>, ApiError> {
    let mut filters = Vec::new();
    let mut repeats: std::collections::HashMap<&'static str, usize> = Default::default();
    let mut page = 1;
    let mut per_page = paging.default_per_page;
    for (name, raw) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "page" => page = parse_number("page", &raw, 1, MAX_PAGE)?,
            "perPage" => per_page = parse_number("perPage", &raw, 1, paging.max_per_page)?,
            other => {
                let spec = specs.iter().find(|s| s.name == other).ok_or_else(|| {
                    let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                    bad(
                        ErrorCode::UnknownParameter,
                        format!(
                            "Parameter `{}` is not a filter of this search. Filters: {}; paging: page, perPage.",
                            truncate(other),
                            known.join(", ")
                        ),
                    )
                })?;
                if filters.len() >= MAX_FILTERS {
                    return Err(bad(
                        ErrorCode::InvalidParameter,
                        format!(
                            "Parameter `{}`: at most {MAX_FILTERS} filters per search.",
                            spec.name
                        ),
                    ));
                }
                let seen = repeats.entry(spec.name).or_default();
                *seen += 1;
                if *seen > MAX_REPEATS {
                    return Err(bad(
                        ErrorCode::InvalidParameter,
                        format!(
                            "Parameter `{}`: at most {MAX_REPEATS} times per search (a range takes two: gte: and lt:).",
                            spec.name
                        ),
                    ));
                }
                let (op, rest) = split_operator(spec.name, &raw)?;
                let values = if matches!(op, Op::In | Op::Nin) {
                    let items: Vec<&str> = rest.split(',').collect();
                    if items.len() > MAX_LIST_LEN {
                        return Err(bad(
                            ErrorCode::InvalidParameter,
                            format!(
                                "Parameter `{}`: at most {MAX_LIST_LEN} values in a list.",
                                spec.name
                            ),
                        ));
                    }
                    items
                        .into_iter()
                        .map(|v| parse_value(spec.name, spec.kind, v))
                        .collect::<Result<Vec<_>, _>>()?
                } else {
                    vec![parse_value(spec.name, spec.kind, &rest)?]
                };
                filters.push(Filter {
                    field: spec.field,
                    op,
                    values,
                });
            }
        }
    }
    if filters.is_empty() {
        let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
        return Err(bad(
            ErrorCode::MissingFilter,
            format!("Give at least one filter: {}.", known.join(", ")),
        ));
    }
    Ok(SearchRequest {
        filters,
        page: PageRequest { page, per_page },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum F {
        Name,
        Version,
        Id,
        At,
        Status,
    }

    const SPECS: &[FilterSpec<F>] = &[
        FilterSpec {
            name: "name",
            field: F::Name,
            kind: ValueKind::Text,
        },
        FilterSpec {
            name: "version",
            field: F::Version,
            kind: ValueKind::Int,
        },
        FilterSpec {
            name: "id",
            field: F::Id,
            kind: ValueKind::Uuid,
        },
        FilterSpec {
            name: "at",
            field: F::At,
            kind: ValueKind::Time,
        },
        FilterSpec {
            name: "status",
            field: F::Status,
            kind: ValueKind::OneOf(&["A", "B"]),
        },
    ];

    fn err(q: &str) -> ApiError {
        parse(Some(q), SPECS).expect_err(q)
    }

    #[test]
    fn every_operator_parses() {
        for (op, expected) in [
            ("eq", Op::Eq),
            ("ne", Op::Ne),
            ("gt", Op::Gt),
            ("gte", Op::Gte),
            ("lt", Op::Lt),
            ("lte", Op::Lte),
            ("in", Op::In),
            ("nin", Op::Nin),
        ] {
            let r = parse(Some(&format!("version={op}:3")), SPECS).unwrap();
            assert_eq!(r.filters[0].op, expected);
            assert_eq!(r.filters[0].values, vec![FilterValue::Int(3)]);
        }
    }

    #[test]
    fn no_prefix_means_eq_and_colons_in_values_survive() {
        let r = parse(Some("name=NSR:StopPlace:1&at=2027-01-01T10:00:00Z"), SPECS).unwrap();
        assert_eq!(r.filters[0].op, Op::Eq);
        assert_eq!(
            r.filters[0].values,
            vec![FilterValue::Text("NSR:StopPlace:1".into())]
        );
        assert_eq!(r.filters[1].op, Op::Eq);
        let explicit = parse(Some("name=eq:abc:def"), SPECS).unwrap();
        assert_eq!(
            explicit.filters[0].values,
            vec![FilterValue::Text("abc:def".into())]
        );
    }

    #[test]
    fn in_takes_a_list_and_repeats_are_kept() {
        let r = parse(Some("version=in:1,2,3&version=gte:2"), SPECS).unwrap();
        assert_eq!(r.filters.len(), 2);
        assert_eq!(r.filters[0].values.len(), 3);
    }

    #[test]
    fn paging_defaults_and_bounds() {
        let r = parse(Some("name=x"), SPECS).unwrap();
        assert_eq!(
            r.page,
            PageRequest {
                page: 1,
                per_page: 20
            }
        );
        let r = parse(Some("name=x&page=3&perPage=100"), SPECS).unwrap();
        assert_eq!(
            r.page,
            PageRequest {
                page: 3,
                per_page: 100
            }
        );
        assert!(err("name=x&perPage=101").message.contains("perPage"));
        assert!(err("name=x&perPage=0").message.contains("perPage"));
        assert!(err("name=x&page=0").message.contains("page"));
        assert!(err("name=x&page=abc").message.contains("page"));
    }

    #[test]
    fn errors_name_the_parameter() {
        let e = err("");
        assert_eq!(e.code, ErrorCode::MissingFilter);
        let e = err("colour=red");
        assert_eq!(e.code, ErrorCode::UnknownParameter);
        assert!(e.message.contains("colour"));
        let e = err("version=gtee:3");
        assert_eq!(e.code, ErrorCode::UnknownOperator);
        assert!(e.message.contains("version") && e.message.contains("gtee"));
        let e = err("at=2027-13-01");
        assert_eq!(e.code, ErrorCode::InvalidParameter);
        assert!(e.message.contains("`at`"));
        let e = err("id=not-a-uuid");
        assert!(e.message.contains("`id`"));
        let e = err("version=1.5");
        assert!(e.message.contains("`version`"));
        let e = err("status=C");
        assert!(e.message.contains("`status`"));
        let e = err("version=in:1,,2");
        assert!(e.message.contains("`version`"));
    }
}
