//! Terminal colours, decided once per run (`--color`, TTY, `NO_COLOR`) and then passed to the
//! terminal renderer, so rendering itself never looks at the environment.

use owo_colors::Style;

use crate::outcome::Outcome;
use crate::report::Decision;

/// The `--color` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// The styles the terminal renderer uses. With colour off every style is plain, which
/// owo-colors prints without any escape sequence.
#[derive(Debug, Clone, Copy, Default)]
pub struct Styles {
    colored: bool,
    pub(crate) heading: Style,
    pub(crate) dim: Style,
    pub(crate) id: Style,
    pub(crate) code: Style,
    pub(crate) pass: Style,
    pub(crate) fail: Style,
    pub(crate) warn: Style,
    pub(crate) waived: Style,
    pub(crate) unverified: Style,
    pub(crate) pending: Style,
    pub(crate) skipped: Style,
}

impl Styles {
    /// Decides colour once. `--color always` wins over `NO_COLOR` (a flag is the user's explicit
    /// wish, as no-color.org allows); `auto` colours only a terminal without `NO_COLOR`.
    pub fn resolve(choice: ColorChoice, is_tty: bool, no_color_env: bool) -> Styles {
        match choice {
            ColorChoice::Always => Styles::colored(),
            ColorChoice::Never => Styles::plain(),
            ColorChoice::Auto if is_tty && !no_color_env => Styles::colored(),
            ColorChoice::Auto => Styles::plain(),
        }
    }

    /// No colour at all: the output is plain text.
    pub fn plain() -> Styles {
        Styles::default()
    }

    pub fn colored() -> Styles {
        Styles {
            colored: true,
            heading: Style::new().bold(),
            dim: Style::new().dimmed(),
            id: Style::new().bold(),
            code: Style::new().cyan(),
            pass: Style::new().green(),
            fail: Style::new().red().bold(),
            warn: Style::new().yellow(),
            waived: Style::new().magenta(),
            unverified: Style::new().yellow().bold(),
            pending: Style::new().blue().bold(),
            skipped: Style::new().dimmed(),
        }
    }

    pub fn is_colored(&self) -> bool {
        self.colored
    }

    pub(crate) fn outcome(&self, outcome: Outcome) -> Style {
        match outcome {
            Outcome::Pass => self.pass,
            Outcome::Fail => self.fail,
            Outcome::Warn => self.warn,
            Outcome::Waived => self.waived,
            Outcome::Unverified => self.unverified,
            Outcome::Pending => self.pending,
            Outcome::Skipped => self.skipped,
        }
    }

    /// The decision banner: reversed video so it stands out even in a long scrollback.
    pub(crate) fn decision(&self, decision: Decision) -> Style {
        if !self.colored {
            return Style::new();
        }
        let base = match decision {
            Decision::Approved => Style::new().green(),
            Decision::ApprovedWithWaivers => Style::new().cyan(),
            Decision::Blocked => Style::new().red(),
            Decision::Incomplete => Style::new().yellow(),
        };
        base.bold().reversed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_honours_flag_tty_and_no_color() {
        assert!(Styles::resolve(ColorChoice::Always, false, true).is_colored());
        assert!(!Styles::resolve(ColorChoice::Never, true, false).is_colored());
        assert!(Styles::resolve(ColorChoice::Auto, true, false).is_colored());
        assert!(!Styles::resolve(ColorChoice::Auto, true, true).is_colored());
        assert!(!Styles::resolve(ColorChoice::Auto, false, false).is_colored());
    }
}
