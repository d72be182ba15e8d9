//! Parameter values by Postfix name: the table, main.cf reading, `$name`
//! expansion and the syntax of values (lists, grades, protocols, levels).

pub mod grades;
pub mod level;
pub mod loglevel;
pub mod params;
pub mod settings;
