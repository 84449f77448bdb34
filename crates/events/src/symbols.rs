//! Enums whose values are Avro enum symbols, written once so that the JSON value, the Avro
//! symbol and the parser cannot disagree.

/// A string that is not a symbol of the enum it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{symbol}` is not a {enum_name} symbol")]
pub struct UnknownSymbol {
    pub enum_name: &'static str,
    pub symbol: String,
}

macro_rules! symbol_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $symbol:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $symbol)] $variant,)+
        }

        impl $name {
            /// Every symbol, in the schema's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The Avro symbol, which is also the JSON value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $symbol,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::symbols::UnknownSymbol;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::symbols::UnknownSymbol {
                        enum_name: stringify!($name),
                        symbol: s.to_owned(),
                    })
            }
        }
    };
}

pub(crate) use symbol_enum;
