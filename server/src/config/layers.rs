//! Layering: each setting's value from the environment, else the config file, else its default,
//! remembering where it came from. `settings!` turns the table in `table.rs` into structs of
//! such values, the code that fills them, and [`SETTINGS`], the list that the docs and the check
//! of the file's keys read.

use super::values::Value;
use super::{ConfigError, Origin, Sourced};
use std::fmt;
use std::path::Path;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub use super::table::{Layers, SETTINGS};

/// One setting as documented: README.md lists each in a table row (a test compares them).
pub struct SettingDoc {
    /// Its key in the config file, `section.name`.
    pub key: &'static str,
    pub env: Option<&'static str>,
    pub default: DefaultValue,
    /// The `///` lines written above it.
    pub doc: &'static [&'static str],
}

pub enum DefaultValue {
    /// Nothing works without it.
    Required,
    /// Unset unless given.
    None,
    /// Written as a variable's value would be.
    Value(&'static (dyn fmt::Display + Sync)),
}

impl SettingDoc {
    /// What the setting means, in one line.
    pub fn meaning(&self) -> String {
        let lines: Vec<&str> = self.doc.iter().map(|line| line.trim()).collect();
        lines.join(" ")
    }

    /// Its row in README.md's tables of settings.
    pub fn readme_row(&self) -> String {
        let env = self.env.map_or("—".to_owned(), |name| format!("`{name}`"));
        let default = match self.default {
            DefaultValue::Required => "(required)".to_owned(),
            DefaultValue::None => "—".to_owned(),
            DefaultValue::Value(value) => format!("`{value}`"),
        };
        format!(
            "| {env} | `{}` | {default} | {} |",
            self.key,
            self.meaning()
        )
    }
}

/// The config file, parsed, with its text kept so that a value's place can be told by line.
pub struct File<'a> {
    pub path: &'a Path,
    text: &'a str,
    table: Spanned<DeTable<'a>>,
}

impl<'a> File<'a> {
    pub fn parse(path: &'a Path, text: &'a str) -> Result<Self, ConfigError> {
        let table = DeTable::parse(text).map_err(|error| ConfigError::Malformed {
            path: path.to_path_buf(),
            message: error.to_string().trim_end().to_owned(),
        })?;
        let file = Self { path, text, table };
        file.refuse_unknown_keys(file.table.get_ref(), "")?;
        Ok(file)
    }

    /// The line (from 1) of a byte offset in the file.
    pub fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The value of `section.name`, if the file sets it.
    fn get(&self, key: &str) -> Option<&Spanned<DeValue<'a>>> {
        let mut table = self.table.get_ref();
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            let value = table.get(part)?;
            if parts.peek().is_none() {
                return Some(value);
            }
            match value.get_ref() {
                DeValue::Table(inner) => table = inner,
                _ => return None,
            }
        }
        None
    }

    /// A key that is no setting would otherwise be ignored: a typo would silently leave the
    /// default in force.
    fn refuse_unknown_keys(&self, table: &DeTable<'_>, prefix: &str) -> Result<(), ConfigError> {
        for (key, value) in table.iter() {
            let key = key.get_ref();
            let full = format!("{prefix}{key}");
            if SETTINGS.iter().any(|setting| setting.key == full) {
                continue;
            }
            let section = format!("{full}.");
            let line = self.line(value.span().start);
            if SETTINGS
                .iter()
                .any(|setting| setting.key.starts_with(&section))
            {
                match value.get_ref() {
                    DeValue::Table(inner) => self.refuse_unknown_keys(inner, &section)?,
                    _ => {
                        return Err(self.malformed(format!(
                            "{full} (line {line}) is a table of settings, [{full}], not a value"
                        )))
                    }
                }
                continue;
            }
            let mut expected: Vec<&str> = SETTINGS
                .iter()
                .filter_map(|setting| setting.key.strip_prefix(prefix))
                .map(|rest| rest.split('.').next().unwrap_or(rest))
                .collect();
            expected.dedup();
            let expected: Vec<String> = expected.iter().map(|key| format!("`{key}`")).collect();
            let within = match prefix.strip_suffix('.') {
                Some(section) => format!(" in [{section}]"),
                None => String::new(),
            };
            return Err(self.malformed(format!(
                "unknown field `{key}`{within} at line {line}, expected one of {}",
                expected.join(", ")
            )));
        }
        Ok(())
    }

    fn malformed(&self, message: String) -> ConfigError {
        ConfigError::Malformed {
            path: self.path.to_path_buf(),
            message,
        }
    }
}

/// Where settings come from: the environment (given as a lookup, so that tests and the demo
/// can give their own), then the file.
pub struct Sources<'a> {
    pub file: Option<&'a File<'a>>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Sources<'_> {
    /// Neither a file nor any variable: every setting at its default.
    pub fn defaults_only() -> Sources<'static> {
        fn unset(_: &str) -> Option<String> {
            None
        }
        Sources {
            file: None,
            env: &unset,
        }
    }

    /// The setting's value from the environment, else from the file.
    pub fn read<T: Value>(
        &self,
        key: &'static str,
        env: Option<&'static str>,
    ) -> Result<Option<Sourced<T>>, ConfigError> {
        // An empty variable counts as unset, as shells and service managers often leave them.
        let from_env = env.and_then(|name| Some((name, (self.env)(name)?)));
        if let Some((name, text)) = from_env.filter(|(_, text)| !text.is_empty()) {
            return sourced(T::from_text(&text), Origin::Env(name)).map(Some);
        }
        let Some(file) = self.file else {
            return Ok(None);
        };
        let Some(value) = file.get(key) else {
            return Ok(None);
        };
        let origin = Origin::File {
            key,
            path: file.path.to_path_buf(),
            line: file.line(value.span().start),
        };
        sourced(T::from_toml(value, file), origin).map(Some)
    }
}

fn sourced<T>(value: Result<T, String>, origin: Origin) -> Result<Sourced<T>, ConfigError> {
    match value {
        Ok(value) => Ok(Sourced { value, origin }),
        Err(problem) => Err(ConfigError::Invalid {
            setting: origin.to_string(),
            problem,
        }),
    }
}

/// A setting that has a default: as found, or else the default.
pub fn or_default<T: Value>(
    found: Option<Sourced<T>>,
    key: &'static str,
    env: Option<&'static str>,
    default: &dyn fmt::Display,
) -> Result<Sourced<T>, ConfigError> {
    match found {
        Some(found) => Ok(found),
        None => sourced(
            T::from_text(&default.to_string()),
            Origin::Default(env.unwrap_or(key)),
        ),
    }
}

/// A setting without which nothing works.
pub fn required<T>(
    found: Option<Sourced<T>>,
    key: &'static str,
    env: Option<&'static str>,
) -> Result<Sourced<T>, ConfigError> {
    found.ok_or_else(|| {
        let doc = SETTINGS
            .iter()
            .find(|setting| setting.key == key)
            .map(|setting| setting.meaning().replace('`', ""))
            .unwrap_or_default();
        let hint = match env {
            Some(_) => format!("set it (or {key} in the config file) to {doc}"),
            None => format!("set {key} in the config file to {doc}"),
        };
        ConfigError::Missing {
            setting: env.unwrap_or(key),
            hint,
        }
    })
}

/// The table of settings, as in `table.rs`: a struct of the values at the top of the file, then
/// one per `[section]`. Each setting is its doc lines, `name: Kind`, then `= default` (a literal,
/// or `required`; nothing when it may stay unset), then `, env "VARIABLE"` unless only the file
/// can give it.
macro_rules! settings {
    (
        $(#[doc = $doc:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $field_doc:literal])+
                $field:ident: $kind:ty $(= $default:tt)? $(, env $env:literal)?;
            )*
        }
        $(
            $(#[doc = $section_doc:literal])*
            $section:ident: $section_type:ident {
                $(
                    $(#[doc = $sfield_doc:literal])+
                    $sfield:ident: $skind:ty $(= $sdefault:tt)? $(, env $senv:literal)?;
                )*
            }
        )*
    ) => {
        settings!(@struct $(#[doc = $doc])* $name, _, [$($section: $section_type),*],
            $($(#[doc = $field_doc])+ $field: $kind $(= $default)? $(, env $env)?;)*);
        $(
            settings!(@struct $(#[doc = $section_doc])* $section_type, $section, [],
                $($(#[doc = $sfield_doc])+ $sfield: $skind $(= $sdefault)? $(, env $senv)?;)*);
        )*

        /// Every setting, in the table's order.
        pub const SETTINGS: &[$crate::config::layers::SettingDoc] = &[
            $(
                $crate::config::layers::SettingDoc {
                    key: settings!(@key _, $field),
                    env: settings!(@env $($env)?),
                    default: settings!(@default $($default)?),
                    doc: &[$($field_doc),+],
                },
            )*
            $($(
                $crate::config::layers::SettingDoc {
                    key: settings!(@key $section, $sfield),
                    env: settings!(@env $($senv)?),
                    default: settings!(@default $($sdefault)?),
                    doc: &[$($sfield_doc),+],
                },
            )*)*
        ];
    };

    (@struct
        $(#[doc = $doc:literal])* $name:ident, $section:tt, [$($sub:ident: $sub_type:ident),*],
        $(
            $(#[doc = $field_doc:literal])+
            $field:ident: $kind:ty $(= $default:tt)? $(, env $env:literal)?;
        )*
    ) => {
        $(#[doc = $doc])*
        pub struct $name {
            $(
                $(#[doc = $field_doc])+
                pub $field: settings!(@type $kind $(, $default)?),
            )*
            $(pub $sub: $sub_type,)*
        }

        impl $name {
            pub fn read(
                sources: &$crate::config::layers::Sources<'_>,
            ) -> Result<Self, $crate::config::ConfigError> {
                Ok(Self {
                    $(
                        $field: {
                            const KEY: &str = settings!(@key $section, $field);
                            const ENV: Option<&str> = settings!(@env $($env)?);
                            let found = sources.read::<$kind>(KEY, ENV)?;
                            settings!(@finish found, KEY, ENV $(, $default)?)
                        },
                    )*
                    $($sub: $sub_type::read(sources)?,)*
                })
            }
        }
    };

    (@type $kind:ty) => { Option<$crate::config::Sourced<$kind>> };
    (@type $kind:ty, $default:tt) => { $crate::config::Sourced<$kind> };

    (@finish $found:ident, $key:ident, $env:ident) => { $found };
    (@finish $found:ident, $key:ident, $env:ident, required) => {
        $crate::config::layers::required($found, $key, $env)?
    };
    (@finish $found:ident, $key:ident, $env:ident, $default:tt) => {
        $crate::config::layers::or_default($found, $key, $env, &$default)?
    };

    (@default) => { $crate::config::layers::DefaultValue::None };
    (@default required) => { $crate::config::layers::DefaultValue::Required };
    (@default $default:tt) => { $crate::config::layers::DefaultValue::Value(&$default) };

    (@key _, $field:ident) => { stringify!($field) };
    (@key $section:ident, $field:ident) => {
        concat!(stringify!($section), ".", stringify!($field))
    };

    (@env) => { None };
    (@env $env:literal) => { Some($env) };
}

pub(super) use settings;
