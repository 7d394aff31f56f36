//! Validation: the rules both the app (before saving) and the server (before reporting)
//! apply. An error names the field and a catalogue message; the form keeps what was typed.

use crate::date::{Date, parse_time_of_day};
use crate::i18n::{Lang, Msg, fill};
use serde::{Deserialize, Serialize};

/// Longest free-text note (a visit, a session, a place). Long enough for a careful
/// account, short enough that a pasted document is caught.
pub const MAX_NOTE: usize = 2000;
/// Longest short text (a name, an address, a label).
pub const MAX_SHORT: usize = 200;
/// Largest count of guests or helpers at a session.
pub const MAX_COUNT: u32 = 999;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name in the record (`"note"`, `"date"`, …): forms put the message there.
    pub field: String,
    pub msg: Msg,
    /// Values for the message's placeholders.
    #[serde(default)]
    pub args: Vec<(String, String)>,
}

impl FieldError {
    pub fn new(field: &str, msg: Msg) -> Self {
        FieldError {
            field: field.to_string(),
            msg,
            args: Vec::new(),
        }
    }

    pub fn text(&self, lang: Lang) -> String {
        let args: Vec<(&str, &str)> = self
            .args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fill(self.msg.text(lang), &args)
    }
}

/// Collects field errors for one record.
#[derive(Debug, Default)]
pub struct Check {
    pub errors: Vec<FieldError>,
}

impl Check {
    pub fn required(&mut self, field: &str, value: &str) -> &mut Self {
        if value.trim().is_empty() {
            self.errors.push(FieldError::new(field, Msg::Required));
        }
        self
    }

    pub fn max_len(&mut self, field: &str, value: &str, max: usize) -> &mut Self {
        let len = value.chars().count();
        if len > max {
            self.errors.push(FieldError {
                field: field.to_string(),
                msg: Msg::TooLong,
                args: vec![
                    ("max".into(), max.to_string()),
                    ("len".into(), len.to_string()),
                ],
            });
        }
        self
    }

    /// A record's date: not after `today`, and not before 2000.
    pub fn past_date(&mut self, field: &str, date: Date, today: Date) -> &mut Self {
        if date > today {
            self.errors.push(FieldError::new(field, Msg::FutureDate));
        } else if date.year() < 2000 {
            self.errors.push(FieldError::new(field, Msg::TooOld));
        }
        self
    }

    pub fn time(&mut self, field: &str, value: &str) -> &mut Self {
        if !value.is_empty() && parse_time_of_day(value).is_none() {
            self.errors.push(FieldError::new(field, Msg::BadTime));
        }
        self
    }

    pub fn phone(&mut self, field: &str, value: &str) -> &mut Self {
        let ok = value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | '(' | ')' | '+'))
            && value.chars().count() <= 20;
        if !ok {
            self.errors.push(FieldError::new(field, Msg::BadPhone));
        }
        self
    }

    pub fn count(&mut self, field: &str, value: u32) -> &mut Self {
        if value > MAX_COUNT {
            self.errors.push(FieldError::new(field, Msg::BadCount));
        }
        self
    }

    pub fn push(&mut self, field: &str, msg: Msg) -> &mut Self {
        self.errors.push(FieldError::new(field, msg));
        self
    }

    pub fn finish(&mut self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(std::mem::take(&mut self.errors))
        }
    }
}

/// Parses a date typed into a form, as a field error if it is not one.
pub fn parse_date_field(field: &str, value: &str) -> Result<Date, FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, Msg::Required));
    }
    Date::parse(value).map_err(|_| FieldError::new(field, Msg::BadDate))
}
