//! Reading YAML with `${…}` filled in: a serde [`Deserializer`] around serde_yaml's that carries
//! the file's [`Interpolation`] down to every value.
//!
//! The strings that interpolate ([`super::Text`], [`super::Secret`] and the types built on them)
//! ask for themselves as a newtype struct with a private name ([`TEXT`], [`SECRET`]); this
//! wrapper answers those requests with the string filled in, and passes every other request
//! through unchanged. An interpolation error is raised where the type's own error was raised
//! before (after the string is read), so serde_yaml names the same key path, line and column.
//!
//! Every nested deserializer serde_yaml hands out (map values, sequence items, enum variants,
//! options) is wrapped again, so the context reaches the whole document without thread-locals.

use super::interpolate::{InterpolateError, Interpolation};
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use std::fmt;

/// The newtype name [`super::Text`] asks for: a string with `${…}` filled in.
pub(super) const TEXT: &str = "$hl7-harness::Text";
/// The newtype name [`super::Secret`] asks for: a secret from the environment.
pub(super) const SECRET: &str = "$hl7-harness::Secret";

/// Reads a string with `${…}` filled in by the enclosing [`Interpolating`] deserializer
/// (`name`: [`TEXT`] or [`SECRET`]). Outside one (a plain serde_yaml read) the string comes as
/// written.
pub(super) fn filled<'de, D: Deserializer<'de>>(
    d: D,
    name: &'static str,
) -> Result<String, D::Error> {
    d.deserialize_newtype_struct(name, FilledString)
}

struct FilledString;

impl<'de> Visitor<'de> for FilledString {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        String::deserialize(d)
    }
}

/// A deserializer that fills in `${…}` with `ctx`.
pub(super) struct Interpolating<'c, D> {
    pub de: D,
    pub ctx: &'c Interpolation,
}

struct WrapVisitor<'c, V> {
    inner: V,
    ctx: &'c Interpolation,
}
struct WrapSeed<'c, S> {
    inner: S,
    ctx: &'c Interpolation,
}
struct WrapAccess<'c, A> {
    inner: A,
    ctx: &'c Interpolation,
}

macro_rules! forward_deserialize {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.de.$method(WrapVisitor { inner: visitor, ctx: self.ctx })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Interpolating<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_unit_struct(name, WrapVisitor { inner: visitor, ctx: self.ctx })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let fill: fn(&Interpolation, &str) -> Result<String, InterpolateError> = match name {
            TEXT => Interpolation::interpolate,
            SECRET => Interpolation::secret,
            _ => {
                let visitor = WrapVisitor { inner: visitor, ctx: self.ctx };
                return self.de.deserialize_newtype_struct(name, visitor);
            }
        };
        let raw = String::deserialize(self.de)?;
        let value = fill(self.ctx, &raw).map_err(de::Error::custom)?;
        visitor.visit_string(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_tuple(len, WrapVisitor { inner: visitor, ctx: self.ctx })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_tuple_struct(name, len, WrapVisitor { inner: visitor, ctx: self.ctx })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_struct(name, fields, WrapVisitor { inner: visitor, ctx: self.ctx })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_enum(name, variants, WrapVisitor { inner: visitor, ctx: self.ctx })
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident: $ty:ty)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for WrapVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool: bool visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64
        visit_i128: i128 visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64
        visit_u128: u128 visit_f32: f32 visit_f64: f64 visit_char: char visit_str: &str
        visit_borrowed_str: &'de str visit_string: String visit_bytes: &[u8]
        visit_borrowed_bytes: &'de [u8] visit_byte_buf: Vec<u8>
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Interpolating { de: d, ctx: self.ctx })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Interpolating { de: d, ctx: self.ctx })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(WrapAccess { inner: seq, ctx: self.ctx })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(WrapAccess { inner: map, ctx: self.ctx })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(WrapAccess { inner: data, ctx: self.ctx })
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for WrapSeed<'_, S> {
    type Value = S::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Interpolating { de: d, ctx: self.ctx })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for WrapAccess<'_, A> {
    type Error = A::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(WrapSeed { inner: seed, ctx: self.ctx })
    }
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WrapAccess<'_, A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(WrapSeed { inner: seed, ctx: self.ctx })
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(WrapSeed { inner: seed, ctx: self.ctx })
    }
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'c, 'de, A: EnumAccess<'de>> EnumAccess<'de> for WrapAccess<'c, A> {
    type Error = A::Error;
    type Variant = WrapAccess<'c, A::Variant>;
    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let ctx = self.ctx;
        let (value, variant) = self.inner.variant_seed(WrapSeed { inner: seed, ctx })?;
        Ok((value, WrapAccess { inner: variant, ctx }))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for WrapAccess<'_, A> {
    type Error = A::Error;
    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(WrapSeed { inner: seed, ctx: self.ctx })
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(len, WrapVisitor { inner: visitor, ctx: self.ctx })
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner.struct_variant(fields, WrapVisitor { inner: visitor, ctx: self.ctx })
    }
}

#[cfg(test)]
mod tests {
    use super::super::interpolate::Interpolation;
    use super::super::load::from_yaml_with;
    use super::super::raw::{ScenarioFile, Template};
    use std::collections::BTreeMap;

    /// Every string that interpolates is filled in wherever it sits (options, maps, sequences,
    /// enum variants), from the file's own context, which records what was read.
    #[test]
    fn text_everywhere_in_the_tree_is_filled_in_from_the_files_context() {
        let site = BTreeMap::from([("host".to_string(), "example.org".to_string())]);
        let context = Interpolation::new(Some(site), false);
        let yaml = "target:\n  url: \"mllp://${profile.host}:${HL7H_SURELY_UNSET_P:-2575}\"\n\
                    messages:\n  m: { file: \"${HL7H_SURELY_UNSET_F:-m.hl7}\" }\n\
                    auth: { basic: { user: u, password: \"${HL7H_SURELY_UNSET_PW:-pw}\" } }\n\
                    cases:\n  - name: x\n    send: m\n    \
                    probe: { http_get: \"{state}/${HL7H_SURELY_UNSET_Q:-q}\" }\n";
        let file: ScenarioFile = from_yaml_with(yaml, &context).expect("reads");
        assert_eq!(file.target.url.expect("url").0, "mllp://example.org:2575");
        assert!(matches!(&file.messages["m"], Template::File(f) if f.written == "m.hl7"));
        assert_eq!(file.auth.expect("auth").basic.password.expose(), "pw");
        let probe = file.cases[0].probe.as_ref().expect("probe");
        assert_eq!(probe.http_get.as_ref().expect("url").source, "{state}/q");
        let (reads, unset) = context.finish();
        let names: Vec<(&str, bool)> =
            reads.iter().map(|r| (r.name.as_str(), r.value.is_some())).collect();
        assert_eq!(
            names,
            [
                ("HL7H_SURELY_UNSET_P", true),
                ("HL7H_SURELY_UNSET_F", true),
                ("HL7H_SURELY_UNSET_PW", false),
                ("HL7H_SURELY_UNSET_Q", true)
            ]
        );
        assert!(unset.is_empty());
    }

    /// An interpolation error names the key path and the line, as serde_yaml does for any
    /// error raised while a value is read.
    #[test]
    fn an_error_names_the_key_path_and_the_line() {
        let yaml = "cases: []\ntarget:\n  url: \"${HL7H_SURELY_UNSET_U}\"\n";
        let err = from_yaml_with::<ScenarioFile>(yaml, &Interpolation::default())
            .expect_err("unset variable");
        assert!(err.to_string().starts_with("target: environment variable"), "{err}");
        assert_eq!(err.location().map(|l| l.line()), Some(3), "{err}");
    }
}
