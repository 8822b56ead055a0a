//! Arbitrary-precision numbers, as cty has them (big floats written in decimal).
//!
//! A [`Number`] is an exact decimal (sign, digit string, power-of-ten exponent)
//! or ±infinity. It is kept normalised (no leading or trailing zero digits,
//! zero is never negative), so equality, hashing and ordering are by numeric
//! value: `1`, `1.0` and `1e0` are the same number.

use std::cmp::Ordering;
use std::fmt;

/// Largest magnitude of a decimal exponent we accept. Keeps [`Number`]'s
/// `Display` (which never uses exponent notation) to about a megabyte.
const EXP_LIMIT: i64 = 1_000_000;

/// A cty number: arbitrary precision decimal, or ±infinity.
/// Equality compares numeric value (`1`, `1.0` and `1e0` are equal).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number {
    kind: Kind,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Kind {
    /// `(-1)^neg * digits * 10^exp`. `digits` are ASCII decimal digits without
    /// leading or trailing zeros; empty means zero (then `neg` is false and `exp` 0).
    Finite {
        neg: bool,
        digits: Vec<u8>,
        exp: i64,
    },
    PosInf,
    NegInf,
}

impl Number {
    /// Zero.
    pub fn zero() -> Number {
        Number {
            kind: Kind::Finite {
                neg: false,
                digits: Vec::new(),
                exp: 0,
            },
        }
    }

    /// Positive infinity.
    pub fn infinity() -> Number {
        Number { kind: Kind::PosInf }
    }

    /// Negative infinity.
    pub fn neg_infinity() -> Number {
        Number { kind: Kind::NegInf }
    }

    /// The integer `n`, exactly.
    pub fn from_i64(n: i64) -> Number {
        Self::from_i128(i128::from(n))
    }

    /// The integer `n`, exactly.
    pub fn from_u64(n: u64) -> Number {
        Self::from_i128(i128::from(n))
    }

    fn from_i128(n: i128) -> Number {
        let digits = n.unsigned_abs().to_string().into_bytes();
        Self::normalise(n < 0, digits, 0).unwrap_or_else(Number::zero)
    }

    /// `None` for NaN. Finite values become the shortest decimal that reads
    /// back as the same `f64` (`0.1` is `0.1`, not its binary expansion).
    pub fn from_f64(f: f64) -> Option<Number> {
        if f.is_nan() {
            None
        } else if f == f64::INFINITY {
            Some(Number::infinity())
        } else if f == f64::NEG_INFINITY {
            Some(Number::neg_infinity())
        } else {
            Number::parse(&format!("{f:e}"))
        }
    }

    /// Parse a decimal literal (`-12`, `3.25`, `1e400`, `1.5E-7`, `+.5`), or an
    /// infinity (`Infinity`, `-Inf`, `+inf`, case-insensitive).
    pub fn parse(s: &str) -> Option<Number> {
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
            return Some(if neg {
                Number::neg_infinity()
            } else {
                Number::infinity()
            });
        }
        let bytes = body.as_bytes();
        let mut i = 0;
        let mut digits = Vec::new();
        let mut frac_len: i64 = 0;
        let mut any_digit = false;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            digits.push(bytes[i]);
            any_digit = true;
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                digits.push(bytes[i]);
                frac_len += 1;
                any_digit = true;
                i += 1;
            }
        }
        if !any_digit {
            return None;
        }
        let mut exp: i64 = 0;
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            i += 1;
            let exp_neg = match bytes.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                // Saturate: anything this large is rejected below anyway.
                exp = exp
                    .saturating_mul(10)
                    .saturating_add(i64::from(bytes[i] - b'0'));
                i += 1;
            }
            if i == start {
                return None;
            }
            if exp_neg {
                exp = -exp;
            }
        }
        if i != bytes.len() {
            return None;
        }
        Self::normalise(neg, digits, exp.saturating_sub(frac_len))
    }

    /// Build a normalised finite number; `None` when the exponent is out of range.
    fn normalise(neg: bool, mut digits: Vec<u8>, mut exp: i64) -> Option<Number> {
        let lead = digits.iter().take_while(|&&d| d == b'0').count();
        digits.drain(..lead);
        while digits.last() == Some(&b'0') {
            digits.pop();
            exp = exp.saturating_add(1);
        }
        if digits.is_empty() {
            return Some(Number::zero());
        }
        let len = i64::try_from(digits.len()).ok()?;
        if exp < -EXP_LIMIT || exp.saturating_add(len) > EXP_LIMIT {
            return None;
        }
        Some(Number {
            kind: Kind::Finite { neg, digits, exp },
        })
    }

    /// Whether this is zero (there is no negative zero).
    pub fn is_zero(&self) -> bool {
        matches!(&self.kind, Kind::Finite { digits, .. } if digits.is_empty())
    }

    /// Whether this is positive or negative infinity.
    pub fn is_infinite(&self) -> bool {
        matches!(self.kind, Kind::PosInf | Kind::NegInf)
    }

    /// Whether this is below zero (negative infinity included).
    pub fn is_negative(&self) -> bool {
        match &self.kind {
            Kind::Finite { neg, .. } => *neg,
            Kind::NegInf => true,
            Kind::PosInf => false,
        }
    }

    /// Whether this is a finite whole number.
    pub fn is_integer(&self) -> bool {
        match &self.kind {
            Kind::Finite { exp, .. } => *exp >= 0,
            _ => false,
        }
    }

    /// The exact value as an i128, when it is an integer that fits.
    fn as_i128(&self) -> Option<i128> {
        let Kind::Finite { neg, digits, exp } = &self.kind else {
            return None;
        };
        if *exp < 0 || digits.len() as i64 + *exp > 38 {
            return None;
        }
        let mut v: i128 = 0;
        for d in digits {
            v = v.checked_mul(10)?.checked_add(i128::from(d - b'0'))?;
        }
        for _ in 0..*exp {
            v = v.checked_mul(10)?;
        }
        Some(if *neg { -v } else { v })
    }

    /// Exact integer value, when it is one and fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_i128().and_then(|v| i64::try_from(v).ok())
    }

    /// Exact non-negative integer value, when it is one and fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_i128().and_then(|v| u64::try_from(v).ok())
    }

    /// Nearest f64 (correctly rounded; overflow gives an infinity).
    pub fn as_f64(&self) -> f64 {
        match &self.kind {
            Kind::PosInf => f64::INFINITY,
            Kind::NegInf => f64::NEG_INFINITY,
            Kind::Finite { digits, .. } if digits.is_empty() => 0.0,
            Kind::Finite { neg, digits, exp } => {
                let mut s = String::with_capacity(digits.len() + 24);
                if *neg {
                    s.push('-');
                }
                s.extend(digits.iter().map(|&d| char::from(d)));
                s.push('e');
                s.push_str(&exp.to_string());
                s.parse().unwrap_or(f64::NAN)
            }
        }
    }

    /// The `f64` that represents this number exactly, if there is one.
    ///
    /// Exactly means the float's binary value, as go-cty's encoder checks
    /// (`big.Float.Float64()` with `big.Exact`): `0.5` has one, `0.1` and
    /// `1e40` do not (no binary float equals them), so the msgpack encoder
    /// writes those as decimal strings and Terraform reads back the very
    /// number it sent.
    pub fn as_exact_f64(&self) -> Option<f64> {
        let f = self.as_f64();
        if f.is_infinite() {
            return self.is_infinite().then_some(f);
        }
        if !f.is_finite() {
            return None;
        }
        (Number::from_f64_exact(f).as_ref() == Some(self)).then_some(f)
    }

    /// The exact value of a float (`None` for NaN): its binary value written
    /// out in decimal, as go-cty reads a msgpack float (`0.1f64` is
    /// `0.1000000000000000055511151231257827021181583404541015625`). Use
    /// [`Number::from_f64`] for the shortest decimal instead.
    pub fn from_f64_exact(f: f64) -> Option<Number> {
        if f.is_nan() {
            return None;
        }
        if f.is_infinite() {
            return Number::from_f64(f);
        }
        let bits = f.to_bits();
        let neg = bits >> 63 == 1;
        let biased = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
        let frac = bits & ((1u64 << 52) - 1);
        // f = mant * 2^exp2
        let (mant, exp2) = if biased == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), biased - 1075)
        };
        // Little-endian decimal digits of mant, then times 2^exp2, or times
        // 5^-exp2 with a decimal exponent of exp2 (as 2^-k = 5^k * 10^-k).
        let mut digits: Vec<u8> = mant.to_string().bytes().rev().map(|d| d - b'0').collect();
        let (factor, times, exp) = if exp2 >= 0 {
            (2, exp2, 0)
        } else {
            (5, -exp2, exp2)
        };
        for _ in 0..times {
            let mut carry = 0u8;
            for d in &mut digits {
                let v = *d * factor + carry;
                *d = v % 10;
                carry = v / 10;
            }
            if carry > 0 {
                digits.push(carry);
            }
        }
        let digits: Vec<u8> = digits.iter().rev().map(|d| d + b'0').collect();
        Self::normalise(neg, digits, exp)
    }

    /// Magnitude comparison of two finite nonzero values given as (digits, exp).
    fn cmp_magnitude(a: (&[u8], i64), b: (&[u8], i64)) -> Ordering {
        let adj_a = a.0.len() as i64 + a.1;
        let adj_b = b.0.len() as i64 + b.1;
        adj_a.cmp(&adj_b).then_with(|| a.0.cmp(b.0))
    }
}

impl Default for Number {
    fn default() -> Self {
        Number::zero()
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Self {
        Number::from_i64(n)
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Self {
        Number::from_u64(n)
    }
}

impl From<i32> for Number {
    fn from(n: i32) -> Self {
        Number::from_i64(i64::from(n))
    }
}

impl From<u32> for Number {
    fn from(n: u32) -> Self {
        Number::from_u64(u64::from(n))
    }
}

impl std::str::FromStr for Number {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Number::parse(s).ok_or_else(|| crate::Error::Malformed {
            format: "number",
            message: format!("invalid number {s:?}"),
        })
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        use Kind::*;
        match (&self.kind, &other.kind) {
            (NegInf, NegInf) | (PosInf, PosInf) => Ordering::Equal,
            (NegInf, _) | (_, PosInf) => Ordering::Less,
            (_, NegInf) | (PosInf, _) => Ordering::Greater,
            (
                Finite {
                    neg: na,
                    digits: da,
                    exp: ea,
                },
                Finite {
                    neg: nb,
                    digits: db,
                    exp: eb,
                },
            ) => {
                // sign: -1, 0, +1
                let sa = if da.is_empty() {
                    0
                } else if *na {
                    -1
                } else {
                    1
                };
                let sb = if db.is_empty() {
                    0
                } else if *nb {
                    -1
                } else {
                    1
                };
                match sa.cmp(&sb) {
                    Ordering::Equal if sa == 0 => Ordering::Equal,
                    Ordering::Equal => {
                        let m = Number::cmp_magnitude((da, *ea), (db, *eb));
                        if sa < 0 { m.reverse() } else { m }
                    }
                    o => o,
                }
            }
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Canonical decimal text (go's `big.Float.Text('f', -1)`): `12`, `-0.5`,
/// `100000000000000000000`; infinities are `+Inf` and `-Inf`.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (neg, digits, exp) = match &self.kind {
            Kind::PosInf => return f.write_str("+Inf"),
            Kind::NegInf => return f.write_str("-Inf"),
            Kind::Finite { digits, .. } if digits.is_empty() => return f.write_str("0"),
            Kind::Finite { neg, digits, exp } => (*neg, digits, *exp),
        };
        let mut s = String::with_capacity(digits.len() + exp.unsigned_abs() as usize + 3);
        if neg {
            s.push('-');
        }
        let push_digits = |s: &mut String, ds: &[u8]| s.extend(ds.iter().map(|&d| char::from(d)));
        if exp >= 0 {
            push_digits(&mut s, digits);
            s.extend(std::iter::repeat_n('0', exp as usize));
        } else {
            let frac = exp.unsigned_abs() as usize;
            if frac >= digits.len() {
                s.push_str("0.");
                s.extend(std::iter::repeat_n('0', frac - digits.len()));
                push_digits(&mut s, digits);
            } else {
                let int_len = digits.len() - frac;
                push_digits(&mut s, &digits[..int_len]);
                s.push('.');
                push_digits(&mut s, &digits[int_len..]);
            }
        }
        f.write_str(&s)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn display_canonical() {
        assert_eq!(n("1e20").to_string(), "100000000000000000000");
        assert_eq!(n("1e-6").to_string(), "0.000001");
        assert_eq!(n("-2.50").to_string(), "-2.5");
        assert_eq!(n("-0").to_string(), "0");
        assert_eq!(n("0.000").to_string(), "0");
        assert_eq!(n("00012.3400").to_string(), "12.34");
        assert_eq!(n("+.5").to_string(), "0.5");
        assert_eq!(n("5.").to_string(), "5");
        assert_eq!(n("123.456e1").to_string(), "1234.56");
        assert_eq!(n("123.456e-5").to_string(), "0.00123456");
        assert_eq!(n("Infinity").to_string(), "+Inf");
        assert_eq!(n("-inf").to_string(), "-Inf");
        assert_eq!(n("+Inf"), Number::infinity());
    }

    #[test]
    fn parse_rejects() {
        for s in [
            "",
            "-",
            ".",
            "e5",
            "1e",
            "1e+",
            "1.2.3",
            "abc",
            "1 ",
            " 1",
            "0x10",
            "1_0",
            "NaN",
            "--1",
            "1e9999999",
        ] {
            assert!(Number::parse(s).is_none(), "{s:?}");
        }
        // Tiny exponents on zero are fine: it is zero.
        assert_eq!(n("0e99999999999"), Number::zero());
    }

    #[test]
    fn equality_by_value() {
        assert_eq!(n("1"), n("1.0"));
        assert_eq!(n("1"), n("1e0"));
        assert_eq!(n("100"), n("1e2"));
        assert_eq!(Number::from_i64(1), Number::from_f64(1.0).unwrap());
        assert_ne!(n("1"), n("1.0000000000000000000000001"));
        assert!(n("-1") < n("0"));
        assert!(n("0.5") < n("1"));
        assert!(n("-2") < n("-1.5"));
        assert!(n("99") < n("100"));
        assert!(n("1.25") > n("1.2"));
        assert!(Number::neg_infinity() < n("-1e999"));
        assert!(Number::infinity() > n("1e999"));
    }

    #[test]
    fn integer_limits() {
        assert_eq!(
            Number::from_i64(i64::MIN).to_string(),
            "-9223372036854775808"
        );
        assert_eq!(Number::from_i64(i64::MAX).as_i64(), Some(i64::MAX));
        assert_eq!(Number::from_i64(i64::MIN).as_i64(), Some(i64::MIN));
        assert_eq!(n("9223372036854775808").as_i64(), None);
        assert_eq!(n("9223372036854775808").as_u64(), Some(1 << 63));
        assert_eq!(Number::from_u64(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(n("18446744073709551616").as_u64(), None);
        assert_eq!(n("-1").as_u64(), None);
        assert_eq!(n("1.5").as_i64(), None);
        assert_eq!(n("1.0").as_i64(), Some(1));
        assert_eq!(n("1e3").as_i64(), Some(1000));
        assert_eq!(n("1e30").as_i64(), None);
        assert!(n("1e30").is_integer());
        assert!(!n("0.1").is_integer());
        assert!(Number::zero().is_integer());
    }

    #[test]
    fn floats() {
        assert_eq!(Number::from_f64(0.1).unwrap().to_string(), "0.1");
        assert_eq!(Number::from_f64(-0.0).unwrap(), Number::zero());
        assert_eq!(Number::from_f64(f64::NAN), None);
        assert_eq!(Number::from_f64(f64::INFINITY), Some(Number::infinity()));
        assert_eq!(Number::from_f64(f64::MAX).unwrap().as_f64(), f64::MAX);
        assert_eq!(
            Number::from_f64(f64::MIN_POSITIVE).unwrap().as_f64(),
            f64::MIN_POSITIVE
        );
        let tiny = f64::from_bits(1);
        assert_eq!(Number::from_f64(tiny).unwrap().as_f64(), tiny);
        assert_eq!(n("1e400").as_f64(), f64::INFINITY);
        assert_eq!(n("1e-400").as_f64(), 0.0);
        // 0.1 has no exact binary float: encoders must write it as a decimal.
        assert_eq!(n("0.1").as_exact_f64(), None);
        assert_eq!(n("1e40").as_exact_f64(), None);
        assert_eq!(n("0.5").as_exact_f64(), Some(0.5));
        assert_eq!(n("-1.25e-3").as_exact_f64(), None);
        assert_eq!(
            Number::from_f64_exact(0.1).unwrap().to_string(),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert_eq!(
            n("0.1000000000000000055511151231257827021181583404541015625").as_exact_f64(),
            Some(0.1)
        );
        assert_eq!(
            Number::from_f64_exact(1e40).unwrap().to_string(),
            "10000000000000000303786028427003666890752"
        );
        assert_eq!(Number::from_f64_exact(-0.0), Some(Number::zero()));
        let tiny = f64::from_bits(1);
        assert_eq!(
            Number::from_f64_exact(tiny).unwrap().as_exact_f64(),
            Some(tiny)
        );
        assert_eq!(
            Number::from_f64_exact(f64::MAX).unwrap().as_exact_f64(),
            Some(f64::MAX)
        );
        assert_eq!(n("0.1000000000000000000001").as_exact_f64(), None);
        assert_eq!(
            n("18446744073709551616").as_exact_f64(),
            Some(18446744073709551616.0)
        );
        assert_eq!(n("18446744073709551617").as_exact_f64(), None);
    }

    proptest! {
        #[test]
        fn f64_round_trip(f in any::<f64>().prop_filter("nan", |f| !f.is_nan())) {
            let num = Number::from_f64(f).unwrap();
            prop_assert_eq!(num.as_f64(), if f == 0.0 { 0.0 } else { f });
            prop_assert_eq!(Number::parse(&num.to_string()).unwrap(), num);
        }

        #[test]
        fn i64_round_trip(i in any::<i64>()) {
            let num = Number::from_i64(i);
            prop_assert_eq!(num.as_i64(), Some(i));
            prop_assert_eq!(num.to_string(), i.to_string());
            prop_assert_eq!(Number::parse(&i.to_string()).unwrap(), num);
        }

        #[test]
        fn decimal_round_trip(int in "-?[0-9]{1,30}", frac in "[0-9]{0,30}", exp in -50i64..50) {
            let text = format!("{int}.{frac}e{exp}");
            let num = Number::parse(&text).unwrap();
            let shown = num.to_string();
            prop_assert!(!shown.contains('e'));
            prop_assert_eq!(Number::parse(&shown).unwrap(), num);
        }

        #[test]
        fn order_matches_f64(a in -1e6f64..1e6, b in -1e6f64..1e6) {
            let (na, nb) = (Number::from_f64(a).unwrap(), Number::from_f64(b).unwrap());
            prop_assert_eq!(na.cmp(&nb), a.partial_cmp(&b).unwrap());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Number::parse(&s);
        }
    }
}
