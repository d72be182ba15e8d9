//! Parameter values by Postfix name: the table, main.cf reading, `$name`
//! expansion, the syntax of values (lists, grades, protocols, levels) and
//! the Postfix release whose behaviour and defaults are emulated.

pub mod grades;
pub mod level;
pub mod loglevel;
pub mod params;
pub mod release;
pub mod settings;
