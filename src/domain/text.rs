//! Characters that print as nothing.

/// Control characters and Unicode's format characters (Cf: zero-width space, soft hyphen,
/// bidi controls, BOM...): they print as nothing, so two different strings would look alike.
pub(super) fn is_invisible(c: char) -> bool {
    c.is_control()
        || unicode_general_category::get_general_category(c)
            == unicode_general_category::GeneralCategory::Format
}
