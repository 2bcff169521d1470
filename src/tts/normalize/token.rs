//! The tokens the lexer finds and the verbalisers speak.

/// A currency (or its minor unit) attached to an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Currency {
    /// Russian rouble (₽, руб., RUB).
    Rub,
    /// Kopeck (коп.), when written as its own unit.
    Kopeck,
    /// US dollar ($, USD).
    Usd,
    /// Cent, when written as its own unit.
    Cent,
    /// Euro (€, EUR).
    Eur,
    /// Pound sterling (£, GBP).
    Gbp,
}

/// A multiplier word after a number (`5 тыс.`, `$1.5 million`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// ×1 000.
    Thousand,
    /// ×1 000 000.
    Million,
    /// ×1 000 000 000.
    Billion,
}

/// A written number: integer part and optional decimal digits as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    /// Integer part.
    pub int: u64,
    /// Digits after the decimal separator, as written (`"50"` in `1250,50`).
    pub frac: Option<String>,
}

/// A token the verbalisers turn into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumericToken {
    /// `21.11.2026`, `2026-11-21`, `11/21/2026` (English only).
    Date {
        /// Day of month, 1–31.
        day: u32,
        /// Month, 1–12.
        month: u32,
        /// Year.
        year: u32,
    },
    /// A date without a year: `11/28` (English), `28.11` (Russian).
    DayMonth {
        /// Day of month, 1–31.
        day: u32,
        /// Month, 1–12.
        month: u32,
    },
    /// A number written next to a month name (`21 ноября`, `November 21`).
    DayOfMonth(u32),
    /// `14:30`.
    Time {
        /// Hour, 0–24.
        hour: u32,
        /// Minute, 0–59.
        minute: u32,
    },
    /// `+7 (999) 123-45-67`: digit groups, read group by group.
    Phone {
        /// Starts with `+`.
        plus: bool,
        /// The digit groups in order.
        groups: Vec<String>,
    },
    /// A digit run read digit by digit in groups (leading zero, or a bare run of five or more
    /// digits: a code, not a quantity).
    Digits(String),
    /// An amount of money.
    Money {
        /// The amount.
        amount: Amount,
        /// The currency.
        currency: Currency,
        /// `тыс.`/`млн`/`million` between the number and the currency.
        scale: Option<Scale>,
    },
    /// `5%`.
    Percent(Amount),
    /// `21st`, `1-й`, `2-го`: the suffix says form (Russian) or nothing (English).
    Ordinal {
        /// The number.
        n: u64,
        /// The written suffix after the digits (without the hyphen).
        suffix: String,
    },
    /// A year with a marker (`2026 г.`, `2026 года`, `in 1990`).
    Year {
        /// The year.
        n: u64,
        /// The marker word as written (`г.`, `года`…), empty for English.
        marker: String,
    },
    /// A number with a unit of measure (`5 кг`, `10 мин`, `3 km`); `unit` is the written
    /// abbreviation, lower-case, without the dot.
    Measure {
        /// The amount.
        amount: Amount,
        /// The unit as written (`кг`, `мин`, `km`).
        unit: String,
    },
    /// Any other number.
    Number {
        /// The amount.
        amount: Amount,
        /// A multiplier word after it.
        scale: Option<Scale>,
    },
}

/// What the verbaliser knows about the words around a token.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context<'a> {
    /// The word before the token, lower-cased (`"в"`, `"до"`, `"in"`).
    pub prev_word: &'a str,
}
